import type { DeliveryJob, DeliveryQueues } from "@herald/queue";
import { matchingSubscriptions, newId } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import { ATTR, inSpan, type Span, SpanKind, sqlSpan, traceparentOf } from "@herald/telemetry";
import type { Logger } from "pino";

export interface PublishDeps {
  sql: Sql;
  queues: DeliveryQueues;
  logger: Logger;
}

export interface PublishInput {
  tenantId: string;
  eventType: string;
  payload: unknown;
  /**
   * The payload's JSON text exactly as the publisher sent it; stored and delivered byte for byte. Callers that
   * build the payload themselves (test sends, operational events) leave it out and the payload is serialised.
   */
  payloadText?: string | undefined;
  idempotencyKey?: string | undefined;
  /** The publisher's own id for the event, unique within the tenant (a repeat fails the insert: EVENT_UID_CONSTRAINT). */
  uid?: string | undefined;
}

export interface BatchInput {
  tenantId: string;
  events: Omit<PublishInput, "tenantId">[];
  /** The most deliveries this publish may create; past it, FanOutLimitError and nothing is stored. */
  maxDeliveries?: number;
}

/** A batch would create more deliveries than its tenant may in one publish. */
export class FanOutLimitError extends Error {
  constructor(
    readonly deliveries: number,
    readonly limit: number,
  ) {
    super(`the batch would create ${deliveries} deliveries; this tenant may create at most ${limit} in one publish`);
    this.name = "FanOutLimitError";
  }
}

/** An event on its way to storage, with the traceparent of the publish span its deliveries join. */
type TracedEvent = Omit<PublishInput, "tenantId"> & { traceContext?: string | null };

export interface StoredEvent {
  id: string;
  tenantId: string;
  eventType: string;
  idempotencyKey: string | null;
  uid: string | null;
  createdAt: Date;
}

export interface PublishResult {
  event: StoredEvent;
  /** Deliveries created: queued ones plus those held for disabled endpoints. */
  deliveries: number;
  /** True when an earlier publish with the same idempotency key answered instead. */
  replayed: boolean;
}

/** How long an idempotency key answers with the first result; after that it may be used again. */
export const IDEMPOTENCY_WINDOW_HOURS = 24;

/** The constraint a repeated event uid violates (event_uids' primary key: see @herald/schema's eventUids). */
export const EVENT_UID_CONSTRAINT = "event_uids_pkey";

/** Another publish took the same idempotency key first (a repeated event uid is the caller's conflict, not a race). */
const isKeyRace = (error: unknown) =>
  (error as { code?: string })?.code === "23505" && (error as { constraint_name?: string }).constraint_name !== EVENT_UID_CONSTRAINT;

/** Events published with these keys inside the window, by key. */
async function recentByKeys(sql: Sql, tenantId: string, keys: string[]): Promise<Map<string, PublishResult>> {
  if (keys.length === 0) return new Map();
  const rows = await sql<(StoredEvent & { deliveries: number })[]>`
    select e.id, e.tenant_id as "tenantId", e.event_type as "eventType", k.key as "idempotencyKey",
           e.uid, e.created_at as "createdAt", (select count(*)::int from deliveries d where d.event_id = e.id) as deliveries
    from idempotency_keys k join events e on e.id = k.event_id
    where k.tenant_id = ${tenantId} and k.key = any(${keys}::text[])
      and k.created_at > now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})`;
  return new Map(rows.map(({ deliveries, ...event }) => [event.idempotencyKey as string, { event, deliveries, replayed: true }]));
}

/**
 * Stores the events and one delivery per subscribed endpoint in one
 * statement (held, not queued, for disabled endpoints), then enqueues the
 * queued ones with one bulk call (in chunks after answering, for fan-outs
 * above INLINE_ENQUEUE_LIMIT). All or nothing: if any event fails to store,
 * none is. The caller has checked the tenant and the event types.
 *
 * An event whose idempotency key was used within the last 24 hours is not
 * stored again; its result is the original one, marked `replayed`. The keys
 * live in idempotency_keys, whose primary key (tenant, key) settles a race
 * between two publishes; a key past its window is deleted on reuse (and by
 * the workers' maintenance pass), and its event keeps showing the key.
 *
 * If enqueueing fails the events are still stored, and the worker's
 * reconciler enqueues their deliveries.
 */
export function publishBatch(deps: PublishDeps, input: BatchInput): Promise<PublishResult[]> {
  const attributes = { [ATTR.tenantId]: input.tenantId, "herald.events": input.events.length };
  return inSpan("herald.publish_batch", attributes, SpanKind.PRODUCER, async (span) => {
    const traceContext = traceparentOf(span);
    const results = await storeBatch(deps, {
      tenantId: input.tenantId,
      events: input.events.map((event) => ({ ...event, traceContext })),
      maxDeliveries: input.maxDeliveries,
    });
    span.setAttribute(
      ATTR.deliveries,
      results.reduce((sum, result) => sum + result.deliveries, 0),
    );
    return results;
  });
}

async function storeBatch(
  deps: PublishDeps,
  input: { tenantId: string; events: TracedEvent[]; maxDeliveries?: number | undefined },
): Promise<PublishResult[]> {
  const keys = input.events.flatMap((event) => (event.idempotencyKey ? [event.idempotencyKey] : []));
  // A concurrent publish with the same key wins the unique index; the next round then replays it.
  for (let round = 1; ; round++) {
    const recent = await recentByKeys(deps.sql, input.tenantId, keys);
    const fresh = input.events.flatMap((event, index) =>
      event.idempotencyKey && recent.has(event.idempotencyKey) ? [] : [{ ...event, index, id: newId("event") }],
    );
    if (fresh.length === 0) return input.events.map((event) => recent.get(event.idempotencyKey as string) as PublishResult);
    try {
      const written = await storeEvents(deps, input.tenantId, fresh, input.maxDeliveries);
      await enqueueStored(deps, written.jobs);
      const results = new Map(fresh.map((event, i) => [event.index, written.results[i] as PublishResult]));
      return input.events.map((event, index) => results.get(index) ?? (recent.get(event.idempotencyKey as string) as PublishResult));
    } catch (error) {
      if (!(keys.length > 0 && isKeyRace(error) && round < 3)) throw error;
    }
  }
}

/** Publishes one event; see publishBatch. Concurrent publishes without an idempotency key are written together. */
export function publish(deps: PublishDeps, input: PublishInput): Promise<PublishResult> {
  const attributes = { [ATTR.tenantId]: input.tenantId, [ATTR.eventType]: input.eventType };
  return inSpan("herald.publish", attributes, SpanKind.PRODUCER, async (span) => {
    const result = await publishOne(deps, input, traceparentOf(span));
    recordPublish(span, result);
    return result;
  });
}

function recordPublish(span: Span, result: PublishResult): void {
  span.setAttributes({ [ATTR.eventId]: result.event.id, [ATTR.deliveries]: result.deliveries, "herald.replayed": result.replayed });
}

async function publishOne(deps: PublishDeps, input: PublishInput, traceContext: string | null): Promise<PublishResult> {
  const { tenantId, ...rest } = input;
  const event = { ...rest, traceContext };
  if (event.idempotencyKey) {
    const [result] = await storeBatch(deps, { tenantId, events: [event] });
    return result as PublishResult;
  }
  return new Promise((resolve, reject) => coalesce(deps, { tenantId, event, resolve, reject }));
}

interface Waiting {
  tenantId: string;
  event: TracedEvent;
  resolve: (result: PublishResult) => void;
  reject: (error: unknown) => void;
}

/** The most single publishes written together; more wait for the next write. */
const COALESCE_MAX = 500;
const waitingBySql = new WeakMap<Sql, { deps: PublishDeps; items: Waiting[] }>();

/**
 * Group commit for single publishes: those that arrive in the same turn of
 * the event loop are stored with one statement and enqueued with one bulk
 * call per tenant, which is what lets one API process take thousands of
 * publishes a second. Each caller still gets its own result only after its
 * event is stored. If a group fails, its events are published one by one, so
 * one bad event fails alone, as it would have without grouping.
 */
function coalesce(deps: PublishDeps, item: Waiting): void {
  const waiting = waitingBySql.get(deps.sql);
  if (waiting) {
    waiting.items.push(item);
    if (waiting.items.length >= COALESCE_MAX) flushCoalesced(deps.sql);
    return;
  }
  waitingBySql.set(deps.sql, { deps, items: [item] });
  setImmediate(() => flushCoalesced(deps.sql));
}

function flushCoalesced(sql: Sql): void {
  const waiting = waitingBySql.get(sql);
  if (!waiting) return;
  waitingBySql.delete(sql);
  const byTenant = new Map<string, Waiting[]>();
  for (const item of waiting.items) byTenant.set(item.tenantId, [...(byTenant.get(item.tenantId) ?? []), item]);
  for (const [tenantId, items] of byTenant) {
    storeBatch(waiting.deps, { tenantId, events: items.map((item) => item.event) }).then(
      (results) => {
        for (const [i, item] of items.entries()) item.resolve(results[i] as PublishResult);
      },
      (error) => {
        if (items.length === 1) return items[0]?.reject(error);
        for (const item of items) {
          storeBatch(waiting.deps, { tenantId, events: [item.event] }).then(
            ([result]) => item.resolve(result as PublishResult),
            item.reject,
          );
        }
      },
    );
  }
}

/**
 * How many of each endpoint's new deliveries may go into the queue now; the
 * rest are parked (see DeliveryQueues.admit). Null when Redis cannot say: it
 * is away, so the deliveries are stored unparked and due, and the worker's
 * reconciler enqueues them once it is back; the publish does not wait for
 * Redis a second time.
 */
async function admitted(deps: PublishDeps, counts: Map<string, number>): Promise<Map<string, number> | null> {
  if (counts.size === 0) return counts;
  try {
    return await deps.queues.admit(counts);
  } catch (error) {
    deps.logger.warn({ err: error }, "Redis is unavailable; the reconciler will enqueue these deliveries");
    return null;
  }
}

/**
 * Two round trips whatever the batch size: the subscribed endpoints, then one
 * statement that inserts the events and their deliveries together (a single
 * statement is atomic, so no explicit transaction and its extra round trips).
 */
async function storeEvents(
  deps: PublishDeps,
  tenantId: string,
  events: (TracedEvent & { id: string })[],
  maxDeliveries?: number,
): Promise<{ results: PublishResult[]; jobs: DeliveryJob[] }> {
  const { sql } = deps;
  const keys = events.flatMap((event) => (event.idempotencyKey ? [event.idempotencyKey] : []));
  if (keys.length > 0) {
    // Keys past the window are free to be used again. Deleting them is harmless even if the insert below fails.
    await sql`
      delete from idempotency_keys
      where tenant_id = ${tenantId} and key = any(${keys}::text[])
        and created_at <= now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})`;
  }

  // Batches usually carry few distinct types: one endpoint lookup per type.
  const targetsByType = new Map<string, { id: string; disabled: boolean }[]>();
  for (const type of new Set(events.map((e) => e.eventType))) {
    targetsByType.set(
      type,
      await sql<{ id: string; disabled: boolean }[]>`
        select id, disabled from endpoints
        where tenant_id = ${tenantId}
          and (cardinality(event_types) = 0 or event_types && ${matchingSubscriptions(type)}::text[])
        order by id`,
    );
  }

  if (maxDeliveries !== undefined) {
    const fanOut = events.reduce((sum, event) => sum + (targetsByType.get(event.eventType)?.length ?? 0), 0);
    if (fanOut > maxDeliveries) throw new FanOutLimitError(fanOut, maxDeliveries);
  }
  const perEndpoint = new Map<string, number>();
  for (const event of events) {
    for (const target of targetsByType.get(event.eventType) ?? []) {
      if (!target.disabled) perEndpoint.set(target.id, (perEndpoint.get(target.id) ?? 0) + 1);
    }
  }
  const room = await admitted(deps, perEndpoint);
  const deliveryIds: string[] = [];
  const eventIds: string[] = [];
  const endpointIds: string[] = [];
  const statuses: string[] = [];
  const parkedFlags: boolean[] = [];
  const traceContexts: (string | null)[] = [];
  const jobs: DeliveryJob[] = [];
  const counts = events.map((event) => {
    const targets = targetsByType.get(event.eventType) ?? [];
    for (const target of targets) {
      const deliveryId = newId("delivery");
      deliveryIds.push(deliveryId);
      eventIds.push(event.id);
      endpointIds.push(target.id);
      statuses.push(target.disabled ? "held" : "pending");
      // The oldest deliveries of the batch take the room the endpoint has in the queue; the rest wait parked.
      const left = room?.get(target.id) ?? 0;
      const park = room !== null && !target.disabled && left <= 0;
      if (!target.disabled && !park) room?.set(target.id, left - 1);
      parkedFlags.push(park);
      traceContexts.push(event.traceContext ?? null);
      if (room !== null && !target.disabled && !park) jobs.push({ deliveryId, eventId: event.id, endpointId: target.id, tenantId });
    }
    return targets.length;
  });

  // One JSON document rather than text arrays: no escaping of every payload inside an array literal. It is bound
  // as text (then cast), because clients differ in how they serialise a jsonb parameter. Each payload travels in
  // it as a JSON string and comes out of jsonb_to_recordset as that exact text.
  const rowsJson = JSON.stringify(
    events.map((e) => ({
      id: e.id,
      event_type: e.eventType,
      payload: e.payloadText ?? JSON.stringify(e.payload),
      idempotency_key: e.idempotencyKey ?? null,
      uid: e.uid ?? null,
    })),
  );
  // An endpoint deleted since the lookup fails the foreign key and with it the whole statement: nothing half-stored.
  const rows = await sqlSpan(
    "insert",
    "events",
    () => sql<StoredEvent[]>`
    with stored as (
      insert into events (id, tenant_id, event_type, payload, idempotency_key, uid)
      select v.id, ${tenantId}, v.event_type, v.payload, v.idempotency_key, v.uid
      from jsonb_to_recordset(${rowsJson}::text::jsonb) as v(id text, event_type text, payload text, idempotency_key text, uid text)
      returning id, tenant_id, event_type, idempotency_key, uid, created_at
    ), keyed as (
      insert into idempotency_keys (tenant_id, key, event_id, created_at)
      select tenant_id, idempotency_key, id, created_at from stored where idempotency_key is not null
    ), named as (
      insert into event_uids (tenant_id, uid, event_id, created_at)
      select tenant_id, uid, id, created_at from stored where uid is not null
    ), queued as (
      insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at, parked, trace_context)
      select d.id, ${tenantId}, d.event_id, d.endpoint_id, d.status, case when d.status = 'pending' then now() end, d.parked, d.trace_context
      from unnest(${deliveryIds}::text[], ${eventIds}::text[], ${endpointIds}::text[], ${statuses}::text[],
                  ${parkedFlags.map(String)}::text[]::boolean[], ${traceContexts}::text[])
           as d(id, event_id, endpoint_id, status, parked, trace_context)
    )
    select id, tenant_id as "tenantId", event_type as "eventType", idempotency_key as "idempotencyKey", uid, created_at as "createdAt"
    from stored`,
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  const results = events.map((event, i) => ({ event: byId.get(event.id) as StoredEvent, deliveries: counts[i] ?? 0, replayed: false }));
  return { results, jobs };
}

/** Fan-outs up to this many jobs are in Redis before publish answers; larger ones are enqueued after it. */
export const INLINE_ENQUEUE_LIMIT = 2000;
/**
 * A publish is accepted once PostgreSQL has it. Enqueueing 10,000 jobs takes
 * longer than storing them, so a large fan-out answers at once and enqueues in
 * chunks behind the answer (workers start on the first chunk while the rest
 * follow). Whatever this process fails to enqueue, for example because it
 * stops, the reconciler enqueues from PostgreSQL.
 */
function enqueueStored(deps: PublishDeps, jobs: DeliveryJob[]): Promise<void> {
  if (jobs.length <= INLINE_ENQUEUE_LIMIT) return enqueueDeliveries(deps, jobs);
  void enqueueDeliveries(deps, jobs);
  return Promise.resolve();
}

/**
 * Job id = delivery id, so enqueueing twice is harmless. Never throws:
 * failures are logged and the reconciler enqueues what is missing.
 */
export async function enqueueDeliveries(deps: PublishDeps, jobs: DeliveryJob[]): Promise<void> {
  try {
    await deps.queues.enqueue(jobs);
  } catch (error) {
    deps.logger.error({ err: error, count: jobs.length }, "enqueue failed; the reconciler will enqueue these deliveries");
  }
}
