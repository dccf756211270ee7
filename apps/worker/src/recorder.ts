import { type AttemptFields, attemptFields, type Outcome, storableText } from "@herald/delivery";
import { idBounds, newId } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import type { Logger } from "pino";
import type { DisabledEndpoint } from "./operational-events.ts";

export type FinalStatus = "succeeded" | "failed" | "exhausted" | "held";

export interface AttemptRecord {
  deliveryId: string;
  endpointId: string;
  attemptNumber: number;
  startedAt: Date;
  outcome: Outcome;
  requestHeaders: Record<string, string>;
  status: FinalStatus;
  nextAttemptAt: Date | null;
}

type Item =
  | { kind: "attempt"; record: AttemptRecord; done: Waiter }
  | { kind: "hold"; deliveryId: string; endpointId: string; done: Waiter }
  | { kind: "park"; deliveryId: string; done: Waiter }
  | { kind: "disable"; endpointId: string; reason: string; done: Waiter }
  /** Nothing of its own: writes the endpoint counters that wait (see EndpointCounters). */
  | { kind: "counters"; done: Waiter };

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface RecorderOptions {
  /** Rows that make a flush start at once rather than on the next tick. */
  maxBatch?: number;
  /** Pause between tries of a batch that failed to write. */
  retryDelayMs?: number;
  /** An endpoint failing continuously for this long is disabled; 0 never disables. */
  disableAfterMs?: number;
  /** Told after commit about every endpoint this recorder disabled (410 or the failure window). */
  onDisabled?: (endpoint: DisabledEndpoint) => Promise<void>;
  /** How long an endpoint's counters of routine successes may wait to be written (see EndpointCounters); 0 writes them with every batch. */
  countersFlushMs?: number;
}

/** An endpoint's share of a batch of attempts: what its counters and failing state gain. */
interface EndpointStats {
  sent: number;
  ok: number;
  failed: number;
  lastOk: Date | null;
  lastFail: Date | null;
  firstFail: Date | null;
}

const later = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a > b ? a : b);
const earlier = (a: Date | null, b: Date | null) => (!a ? b : !b ? a : a < b ? a : b);

function mergeStats(into: EndpointStats | undefined, add: EndpointStats): EndpointStats {
  if (!into) return { ...add };
  return {
    sent: into.sent + add.sent,
    ok: into.ok + add.ok,
    failed: into.failed + add.failed,
    lastOk: later(into.lastOk, add.lastOk),
    lastFail: later(into.lastFail, add.lastFail),
    firstFail: earlier(into.firstFail, add.firstFail),
  };
}

function statsOf(records: AttemptRecord[]): Map<string, EndpointStats> {
  const perEndpoint = new Map<string, EndpointStats>();
  for (const record of records) {
    const at = record.startedAt;
    perEndpoint.set(
      record.endpointId,
      mergeStats(
        perEndpoint.get(record.endpointId),
        record.outcome.ok
          ? { sent: 1, ok: 1, failed: 0, lastOk: at, lastFail: null, firstFail: null }
          : { sent: 1, ok: 0, failed: 1, lastOk: null, lastFail: at, firstFail: at },
      ),
    );
  }
  return perEndpoint;
}

/** Whether writing these stats leaves the endpoint not failing (its last attempt here succeeded). */
const endsHealthy = (stats: EndpointStats) => stats.lastOk !== null && (stats.lastFail === null || stats.lastOk >= stats.lastFail);

/**
 * The endpoints' counters (sent, succeeded, failed, last success and failure, failing since). Updating an
 * endpoint's row with every batch of attempts was a third of the recording statement's time (at 20 endpoints,
 * 1.6 against 2.7 ms a batch: pg_stat_statements over the durable bench). What changes an endpoint's state — a
 * failure, or a success after one — is still written with its batch, because the failure window that disables
 * endpoints reads it. Only routine successes, of an endpoint this recorder saw healthy moments ago, are summed
 * here and written once a second (and on shutdown): the counters then lag by at most that, and a worker killed
 * outright loses at most that second of counts, never an attempt or a delivery's status.
 */
class EndpointCounters {
  private pending = new Map<string, EndpointStats>();
  /** When this recorder last wrote a batch that left the endpoint healthy, with no failure written since. */
  private healthyAt = new Map<string, number>();
  private flushedAt = Date.now();
  private prunedAt = 0;

  constructor(
    private readonly flushMs: number,
    /** How recent `healthyAt` must be for a success to wait: well inside the shortest failure window. */
    private readonly trustMs: number,
  ) {}

  /**
   * Splits a batch's stats: what is written with it (an endpoint failing or recovering, plus whatever of it was
   * waiting; everything once a second) and what waits.
   */
  take(batch: Map<string, EndpointStats>, flushAll: boolean): Map<string, EndpointStats> {
    const now = Date.now();
    const written = new Map<string, EndpointStats>();
    for (const [endpointId, stats] of batch) {
      const healthy = this.healthyAt.get(endpointId);
      if (this.flushMs > 0 && stats.failed === 0 && healthy !== undefined && now - healthy < this.trustMs) {
        this.pending.set(endpointId, mergeStats(this.pending.get(endpointId), stats));
      } else {
        written.set(endpointId, mergeStats(this.pending.get(endpointId), stats));
        this.pending.delete(endpointId);
      }
    }
    if (flushAll || now - this.flushedAt >= this.flushMs) {
      for (const [endpointId, stats] of this.pending) written.set(endpointId, mergeStats(written.get(endpointId), stats));
      this.pending.clear();
      this.flushedAt = now;
    }
    return written;
  }

  /** After the stats `take` gave out were committed. */
  written(stats: Map<string, EndpointStats>): void {
    const now = Date.now();
    for (const [endpointId, s] of stats) {
      if (endsHealthy(s)) this.healthyAt.set(endpointId, now);
      else this.healthyAt.delete(endpointId);
    }
    // Endpoints not heard of for a while are forgotten, so the map stays as small as the endpoints in use: looked
    // over at most once per trustMs, not with every batch once many endpoints are in use.
    if (this.healthyAt.size > 10_000 && now - this.prunedAt >= this.trustMs) {
      this.prunedAt = now;
      for (const [id, at] of this.healthyAt) if (now - at >= this.trustMs) this.healthyAt.delete(id);
    }
  }

  waiting(): boolean {
    return this.pending.size > 0;
  }
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sorted = (ids: string[]) => [...ids].sort(compare);

/**
 * Group commit for what the worker learns. Every caller waits until its row is
 * durably written, so a job never completes before its attempt is recorded, yet
 * concurrent jobs share one transaction of a few multi-row statements. A batch
 * that fails is retried until it is written; nothing is dropped.
 */
export function createRecorder(sql: Sql, logger: Logger, options: RecorderOptions = {}) {
  const maxBatch = options.maxBatch ?? 500;
  const retryDelayMs = options.retryDelayMs ?? 500;
  let queue: Item[] = [];
  let writing: Promise<void> | undefined;
  let scheduled = false;
  let closed = false;
  const disableAfterMs = options.disableAfterMs ?? 0;
  const countersFlushMs = options.countersFlushMs ?? 1_000;
  // A success waits only while the endpoint was seen healthy well within the failure window that disables it.
  const counters = new EndpointCounters(countersFlushMs, disableAfterMs > 0 ? Math.min(10_000, disableAfterMs / 4) : 10_000);
  // Writes what waits once it is due when no attempt comes to carry it; no timer keeps the process alive.
  const countersTimer =
    countersFlushMs > 0
      ? setInterval(() => {
          if (counters.waiting() && queue.length === 0 && !writing) enqueue((done) => ({ kind: "counters", done })).catch(() => {});
        }, countersFlushMs)
      : undefined;
  countersTimer?.unref();
  /** Notifications after commit; shutdown waits for them. */
  const notifying = new Set<Promise<void>>();

  function notifyDisabled(endpoints: DisabledEndpoint[]): void {
    if (!options.onDisabled) return;
    for (const endpoint of endpoints) {
      const pending = options.onDisabled(endpoint).catch((error) => logger.error({ err: error }, "disable notification failed"));
      notifying.add(pending);
      pending.finally(() => notifying.delete(pending));
    }
  }

  function enqueue(make: (done: Waiter) => Item): Promise<void> {
    return new Promise((resolve, reject) => {
      queue.push(make({ resolve, reject }));
      schedule();
    });
  }

  function schedule(): void {
    if (writing || scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (!writing && queue.length > 0) startDrain();
    });
  }

  function startDrain(): void {
    writing = drain().finally(() => {
      writing = undefined;
      // A caller woken by the last batch may have queued a row while `writing`
      // was still set, so its schedule() did nothing: pick it up here.
      if (queue.length > 0) schedule();
    });
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      // Taken once, before the tries: a batch that fails to write keeps its share of the counters for the next try.
      const endpointStats = counters.take(
        statsOf(batch.flatMap((item) => (item.kind === "attempt" ? [item.record] : []))),
        closed || batch.some((item) => item.kind === "counters"),
      );
      for (let tries = 1; ; tries++) {
        try {
          const disabled = await write(batch, endpointStats);
          counters.written(endpointStats);
          for (const item of batch) item.done.resolve();
          notifyDisabled(disabled);
          break;
        } catch (error) {
          logger.error({ err: error, rows: batch.length, tries }, "recording failed; retrying the batch");
          if (closed && tries >= 5) {
            for (const item of batch) item.done.reject(error);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, retryDelayMs * Math.min(tries, 10)));
        }
      }
    }
  }

  async function write(batch: Item[], endpointStats: Map<string, EndpointStats>): Promise<DisabledEndpoint[]> {
    const attempts = batch.flatMap((item) => (item.kind === "attempt" ? [item.record] : []));
    const holds = batch.flatMap((item) => (item.kind === "hold" ? [item] : []));
    const parks = sorted(batch.flatMap((item) => (item.kind === "park" ? [item.deliveryId] : [])));
    const disables = batch.flatMap((item) => (item.kind === "disable" ? [item] : []));
    const mayDisable = disableAfterMs > 0 && attempts.some((record) => !record.outcome.ok);
    if (holds.length === 0 && disables.length === 0 && !mayDisable && (attempts.length === 0 || parks.length === 0)) {
      // A single statement is its own transaction: no BEGIN/COMMIT round trips.
      if (attempts.length > 0) await writeAttempts(sql, attempts, endpointStats);
      else if (endpointStats.size > 0) await sql`with ${updateEndpoints(sql, endpointStats)}`;
      if (parks.length > 0) await writeParks(sql, parks);
      return [];
    }
    return sql.begin(async (tx) => {
      const disabled: DisabledEndpoint[] = [];
      if (attempts.length > 0) {
        await writeAttempts(tx as unknown as Sql, attempts, endpointStats);
        disabled.push(...(await disableFailing(tx as unknown as Sql, attempts)));
      } else if (endpointStats.size > 0) await tx`with ${updateEndpoints(tx as unknown as Sql, endpointStats)}`;
      if (disables.length > 0) {
        disabled.push(
          ...(await tx<DisabledEndpoint[]>`
          update endpoints e set disabled = true, disabled_reason = v.reason, disabled_at = now(), updated_at = now()
          from unnest(${disables.map((d) => d.endpointId)}::text[], ${disables.map((d) => d.reason)}::text[]) as v(id, reason)
          where e.id = v.id and not e.disabled
          returning ${disabledColumns(tx as unknown as Sql)}`),
        );
      }
      if (parks.length > 0) await writeParks(tx as unknown as Sql, parks);
      if (holds.length > 0) {
        // The delivery, and the endpoint's whole parked backlog with it: all of it waits for the endpoint to be
        // enabled and recovered, and none of it is released only to be held one window at a time.
        await tx`
          update deliveries set status = 'held', parked = false, released_at = null, next_attempt_at = null, updated_at = now()
          where (id = any(${sorted(holds.map((h) => h.deliveryId))}::text[])
                 or (endpoint_id = any(${sorted([...new Set(holds.map((h) => h.endpointId))])}::text[]) and parked))
            and status in ('pending', 'failed')`;
      }
      return disabled;
    });
  }

  const disabledColumns = (tx: Sql) => tx`
    e.id as "endpointId", e.tenant_id as "tenantId", e.url, e.disabled_reason as "reason",
    to_char(e.failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "failingSince",
    to_char(e.disabled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as "disabledAt"`;

  /**
   * The health rule, checked where failures are recorded: an endpoint of this
   * batch that has had no success for the whole window is disabled. The
   * window restarts when the endpoint is edited (re-enabled, URL fixed), so
   * failures from before the fix do not disable it again at once. The
   * `not disabled` guard makes exactly one worker see each disable.
   */
  async function disableFailing(tx: Sql, records: AttemptRecord[]): Promise<DisabledEndpoint[]> {
    if (disableAfterMs <= 0) return [];
    const failed = [...new Set(records.filter((r) => !r.outcome.ok).map((r) => r.endpointId))];
    if (failed.length === 0) return [];
    return tx<DisabledEndpoint[]>`
      update endpoints e set disabled = true, disabled_at = now(), updated_at = now(),
        disabled_reason = 'no successful delivery since ' || to_char(e.failing_since at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
      where e.id = any(${failed}::text[]) and not e.disabled
        and greatest(e.failing_since, e.updated_at) < now() - make_interval(secs => ${disableAfterMs / 1000})
      returning ${disabledColumns(tx)}`;
  }

  /** Deliveries whose endpoint could not take them now wait in PostgreSQL, no longer in Redis. */
  async function writeParks(tx: Sql, ids: string[]): Promise<void> {
    const [lo, hi] = idBounds(ids);
    await tx`
      update deliveries set parked = true, released_at = null, updated_at = now()
      where id = any(${ids}::text[]) and id between ${lo} and ${hi} and status in ('pending', 'failed')`;
  }

  /**
   * Adds a batch's stats to its endpoints' counters: a statement's last part, or the whole of one. Rows are
   * locked in id order, deliveries and endpoints alike, so that two workers' batches touching the same endpoints
   * cannot each hold a lock the other waits for (a deadlock fails and retries a whole batch). An endpoint stops
   * failing only with a success later than every failure recorded for it, by any worker: counters written a
   * second late must not clear a failure another worker recorded meanwhile.
   */
  function updateEndpoints(tx: Sql, perEndpoint: Map<string, EndpointStats>) {
    const ids = sorted([...perEndpoint.keys()]);
    const stats = ids.map((id) => perEndpoint.get(id) as EndpointStats);
    const iso = (date: Date | null) => date?.toISOString() ?? null;
    return tx`
      locked as materialized (
        select id from endpoints where id = any(${ids}::text[]) order by id for update
      )
      update endpoints e set
        sent_count = e.sent_count + v.sent,
        succeeded_count = e.succeeded_count + v.ok,
        failed_count = e.failed_count + v.failed,
        last_success_at = greatest(e.last_success_at, v.last_ok),
        last_failure_at = greatest(e.last_failure_at, v.last_fail),
        failing_since = case
          when v.last_ok is not null and v.last_ok >= coalesce(greatest(v.last_fail, e.last_failure_at), v.last_ok) then null
          else coalesce(e.failing_since, v.first_fail) end
      from unnest(${ids}::text[], ${stats.map((s) => s.sent)}::int[], ${stats.map((s) => s.ok)}::int[], ${stats.map((s) => s.failed)}::int[],
                  ${stats.map((s) => iso(s.lastOk))}::timestamptz[], ${stats.map((s) => iso(s.lastFail))}::timestamptz[],
                  ${stats.map((s) => iso(s.firstFail))}::timestamptz[])
           as v(id, sent, ok, failed, last_ok, last_fail, first_fail), locked
      where e.id = v.id and locked.id = v.id`;
  }

  /**
   * One statement for a batch of attempts: the attempt rows, each delivery's
   * new status and, when any are due, the endpoints' counters, as data-modifying
   * CTEs. One round trip and one commit instead of five; the batch is the unit either way.
   */
  async function writeAttempts(tx: Sql, unordered: AttemptRecord[], endpointStats: Map<string, EndpointStats>): Promise<void> {
    // Deliveries are locked in id order (see updateEndpoints).
    const records = [...unordered].sort((a, b) => compare(a.deliveryId, b.deliveryId));
    const col = <T>(pick: (r: AttemptRecord) => T) => records.map(pick);
    // The row's text and headers, as the API's test send stores them too.
    const fields = records.map((r) => attemptFields(r.outcome, r.requestHeaders));
    const field = <T>(pick: (f: AttemptFields) => T) => fields.map(pick);
    const deliveryBounds = idBounds(records.map((r) => r.deliveryId));
    const recorded = tx`
      recorded as (
        insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms, status_code,
                              error_kind, error_message, request_headers, response_headers, response_body)
        select * from unnest(
          ${col(() => newId("attempt"))}::text[], ${col((r) => r.deliveryId)}::text[], ${col((r) => r.endpointId)}::text[],
          ${col((r) => r.attemptNumber)}::int[], ${col((r) => r.startedAt.toISOString())}::timestamptz[],
          ${col((r) => r.outcome.durationMs)}::int[], ${col((r) => r.outcome.statusCode)}::int[],
          ${col((r) => r.outcome.errorKind)}::text[], ${field((f) => f.errorMessage)}::text[],
          ${field((f) => JSON.stringify(f.requestHeaders))}::jsonb[], ${field((f) => JSON.stringify(f.responseHeaders))}::jsonb[],
          ${field((f) => f.responseBody)}::text[])
      )`;
    // A late failure of a duplicate run must not undo a success already recorded.
    const delivered = tx`
      update deliveries d set
        status = case when d.status = 'succeeded' then d.status else v.status end,
        attempts = d.attempts + 1,
        last_status_code = v.code,
        last_error = v.error,
        next_attempt_at = case when d.status = 'succeeded' then null else v.next end,
        -- A released delivery stays parked until this write (parking.ts).
        parked = false,
        released_at = null,
        updated_at = now()
      from unnest(${col((r) => r.deliveryId)}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.outcome.statusCode)}::int[],
                  ${col((r) => storableText(r.outcome.errorMessage))}::text[], ${col((r) => r.nextAttemptAt?.toISOString() ?? null)}::timestamptz[])
           as v(id, status, code, error, next)
      -- The bounds let PostgreSQL reach only the days these deliveries were made in (see idBounds).
      where d.id = v.id and d.id between ${deliveryBounds[0]} and ${deliveryBounds[1]}`;
    if (endpointStats.size === 0) await tx`with ${recorded} ${delivered}`;
    else await tx`with ${recorded}, delivered as (${delivered}), ${updateEndpoints(tx, endpointStats)}`;
  }

  return {
    /** Resolves once the attempt and the delivery's new status are committed. */
    attempt: (record: AttemptRecord) => enqueue((done) => ({ kind: "attempt", record, done })),
    /** Holds a delivery whose endpoint is disabled, and the endpoint's parked backlog, so they can be recovered later. */
    hold: (deliveryId: string, endpointId: string) => enqueue((done) => ({ kind: "hold", deliveryId, endpointId, done })),
    /** Parks a delivery its endpoint cannot take now: it waits in PostgreSQL until the scheduler releases it. */
    park: (deliveryId: string) => enqueue((done) => ({ kind: "park", deliveryId, done })),
    disableEndpoint: (endpointId: string, reason: string) => enqueue((done) => ({ kind: "disable", endpointId, reason, done })),
    /** Records waiting for the next group commit: the batch writer's backlog. */
    pending: () => queue.length,
    /** Writes everything queued so far; used by shutdown. */
    async flush(): Promise<void> {
      closed = true;
      clearInterval(countersTimer);
      for (;;) {
        while (writing || queue.length > 0) {
          if (!writing) startDrain();
          await writing;
        }
        // Closed, the next batch writes every counter still waiting.
        if (!counters.waiting()) break;
        void enqueue((done) => ({ kind: "counters", done })).catch(() => {});
      }
      await Promise.all([...notifying]);
    },
  };
}

export type Recorder = ReturnType<typeof createRecorder>;
