import {
  type DeliveryJob,
  type DeliveryQueues,
  type EndpointGuard,
  type EndpointState,
  endpointsWithParked,
  parkedWindow,
  releaseParkedMany,
} from "@herald/queue";
import type { Sql } from "@herald/schema/client";
import type { Logger } from "pino";
import { createPeriodicPass } from "./periodic-pass.ts";

export interface SchedulerOptions {
  /** How often one worker of all makes a pass. */
  intervalMs: number;
  /** How far ahead a due retry is enqueued, as a delayed job. */
  horizonMs: number;
  /** HERALD_ENDPOINT_CONCURRENCY: a draining endpoint gets twice this many jobs in the queue at once. */
  endpointConcurrency: number;
  /** HERALD_CIRCUIT_COOLDOWN: how long one probe of an open circuit has before the endpoint is looked at again. */
  circuitCooldownMs: number;
  /**
   * HERALD_RECONCILE_GRACE: how long a released delivery that is still parked holds its release, after which it
   * is released again if its job is missing (see releaseParkedMany).
   */
  releaseLeaseMs: number;
  batchSize?: number;
}

export interface SchedulerPass {
  /** Retries that came due within the horizon, enqueued. */
  due: number;
  /** Operator retries that waited for a running job to finish, enqueued or promoted. */
  again: number;
  /** Parked endpoints looked at, and deliveries of theirs released into the queue. */
  endpoints: number;
  released: number;
  /** Endpoints with parked deliveries in PostgreSQL that were missing from the parked set (after a Redis wipe). */
  repaired: number;
}

/** How soon a draining endpoint is looked at again when nothing else wakes it (a refill after each finished job does). */
const RECHECK_MS = 2_000;
/** Parked endpoints looked at per shard and pass. */
const ENDPOINTS_PER_PASS = 200;

interface Cursor {
  due: string;
  id: string;
}

/**
 * Moves work from PostgreSQL into the queue when it can run, so that what
 * cannot run soon costs Redis nothing:
 *
 * - retries due within the horizon, found by walking the due index from where
 *   the last pass stopped (so each delivery is read once, when it comes due,
 *   however many wait);
 * - parked endpoints whose time has come: one probe when the circuit's
 *   cool-down is over, up to the window when it is closed, nothing while a
 *   Retry-After pause lasts; a finished job of a draining endpoint refills it
 *   at once (`refill`), the pass only starts and watches the drain;
 * - an operator's retry that landed while its job was running;
 * - endpoints with parked rows missing from the parked set (Redis lost it).
 *
 * One worker of all makes each pass (a lock in Redis with the interval as TTL).
 */
export function createScheduler(
  deps: { sql: Sql; queues: DeliveryQueues; guard: EndpointGuard; logger: Logger },
  options: SchedulerOptions,
) {
  const { sql, queues, guard, logger } = deps;
  const parking = { sql, queues, guard, leaseMs: options.releaseLeaseMs };
  const batchSize = options.batchSize ?? 5000;
  const window = parkedWindow(options.endpointConcurrency);
  const refilling = new Set<string>();

  async function enqueueDue(now: number): Promise<number> {
    const saved = await queues.cursor();
    // No cursor (the first pass, or Redis lost it): start now; what came due before is the reconciler's.
    let cursor: Cursor = saved ? (JSON.parse(saved) as Cursor) : { due: new Date(now).toISOString(), id: "~" };
    // Bound as text, then cast: a timestamptz parameter goes through a JavaScript Date and loses its microseconds.
    const until = new Date(now + options.horizonMs).toISOString();
    let enqueued = 0;
    for (;;) {
      const rows = await sql<(DeliveryJob & { due: string; dueMs: number })[]>`
        select id as "deliveryId", event_id as "eventId", endpoint_id as "endpointId", tenant_id as "tenantId",
               next_attempt_at::text as due, (extract(epoch from next_attempt_at) * 1000)::float8 as "dueMs"
        from deliveries
        where status in ('pending', 'failed') and not parked
          and next_attempt_at >= ${cursor.due}::text::timestamptz
          and (next_attempt_at, id) > (${cursor.due}::text::timestamptz, ${cursor.id}::text)
          and next_attempt_at <= ${until}::text::timestamptz
        order by next_attempt_at, id
        limit ${batchSize}`;
      if (rows.length > 0) {
        const due = new Map(rows.map((row) => [row.deliveryId, row.dueMs]));
        await queues.enqueue(
          rows.map(({ due: _due, dueMs: _dueMs, ...job }) => job),
          { delayMs: (job) => Math.max(0, (due.get(job.deliveryId) ?? 0) - Date.now()) },
        );
        enqueued += rows.length;
      }
      if (rows.length < batchSize) {
        // "~" sorts after every id, so the next pass starts strictly after `until`.
        cursor = { due: until, id: "~" };
        break;
      }
      const last = rows[rows.length - 1] as DeliveryJob & { due: string };
      cursor = { due: last.due, id: last.deliveryId };
    }
    await queues.setCursor(JSON.stringify(cursor));
    return enqueued;
  }

  /** When to look at a parked endpoint again, or how many of its deliveries to release now. */
  function decide(state: EndpointState, now: number): { release: number; wakeAt: number } {
    if (state.pausedUntil > now) return { release: 0, wakeAt: state.pausedUntil };
    if (state.openUntil > now) return { release: 0, wakeAt: state.openUntil };
    if (state.openUntil > 0) {
      // The cool-down is over: one probe, unless one is out already.
      if (state.probeUntil > now) return { release: 0, wakeAt: Math.min(state.probeUntil, now + options.circuitCooldownMs) };
      return { release: 1, wakeAt: now + options.circuitCooldownMs };
    }
    return { release: Math.max(0, window - state.queued), wakeAt: now + RECHECK_MS };
  }

  async function releaseDueParked(now: number): Promise<{ endpoints: number; released: number }> {
    let endpoints = 0;
    let released = 0;
    for (let shard = 0; shard < queues.shards; shard++) {
      const ids = await queues.dueParked(shard, now, ENDPOINTS_PER_PASS);
      if (ids.length === 0) continue;
      const states = await guard.states(ids);
      const requests: { endpointId: string; n: number }[] = [];
      for (const id of ids) {
        const state = states.get(id) ?? { openUntil: 0, probeUntil: 0, pausedUntil: 0, queued: 0 };
        const { release, wakeAt } = decide(state, now);
        // Rescheduled first: an endpoint whose backlog runs out leaves the set inside releaseParkedMany.
        await queues.reschedule(id, wakeAt);
        if (release > 0) requests.push({ endpointId: id, n: release });
        endpoints++;
      }
      // The shard's due endpoints in one statement, as the worker's refills are.
      for (const n of (await releaseParkedMany(parking, requests)).values()) released += n;
    }
    return { endpoints, released };
  }

  async function repairParked(now: number): Promise<number> {
    const endpoints = await endpointsWithParked(sql, options.releaseLeaseMs);
    if (endpoints.length === 0) return 0;
    const known = await queues.parkedEndpoints();
    const missing = endpoints.filter((id) => !known.has(id));
    if (missing.length > 0) await queues.markParked(missing, now, "NX");
    return missing.length;
  }

  async function passOnce(now = Date.now()): Promise<SchedulerPass> {
    const due = await enqueueDue(now);
    let again = 0;
    for (let shard = 0; shard < queues.shards; shard++) again += await queues.flushAgain(shard);
    const repaired = await repairParked(now);
    const { endpoints, released } = await releaseDueParked(now);
    const pass = { due, again, endpoints, released, repaired };
    if (repaired > 0) logger.warn(pass, "parked endpoints were missing from Redis; they are scheduled again");
    else logger.debug(pass, "scheduler pass");
    return pass;
  }

  /**
   * Refills asked in one turn of the event loop (releases of many endpoints settle together) go to PostgreSQL
   * as one statement.
   */
  const refills = new Map<string, number>();
  function releaseRefills(): void {
    const requests = [...refills].map(([endpointId, n]) => ({ endpointId, n }));
    refills.clear();
    releaseParkedMany(parking, requests)
      .catch((error) =>
        logger.warn(
          { err: error, endpoints: requests.map((request) => request.endpointId) },
          "could not release parked deliveries; the scheduler will",
        ),
      )
      .finally(() => {
        for (const request of requests) refilling.delete(request.endpointId);
      });
  }

  const periodic = createPeriodicPass({ queues, logger }, { name: "scheduler", intervalMs: options.intervalMs, pass: () => passOnce() });

  return {
    passOnce,
    passIfDue: periodic.runIfDue,
    /**
     * A draining endpoint's jobs in the queue ran low: release `n` more of its
     * backlog now rather than at the next pass. One refill per endpoint at a
     * time in this process; another worker's refill at the same moment takes
     * other rows (skip locked).
     */
    refill(endpointId: string, n: number): void {
      if (refilling.has(endpointId)) return;
      refilling.add(endpointId);
      refills.set(endpointId, n);
      if (refills.size === 1) setImmediate(releaseRefills);
    },
    start: periodic.start,
    stop: periodic.stop,
  };
}

export type Scheduler = ReturnType<typeof createScheduler>;
