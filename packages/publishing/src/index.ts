import { DELIVERY_JOB_OPTIONS, type DeliveryJob, JOB_NAMES, matchingSubscriptions, newId } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import type { Queue } from "bullmq";
import type { Logger } from "pino";

export interface PublishDeps {
  sql: Sql;
  queue: Queue;
  logger: Logger;
}

export interface PublishInput {
  tenantId: string;
  eventType: string;
  payload: unknown;
  idempotencyKey?: string | undefined;
}

export interface StoredEvent {
  id: string;
  tenantId: string;
  eventType: string;
  idempotencyKey: string | null;
  createdAt: Date;
}

export interface PublishResult {
  event: StoredEvent;
  /** Deliveries created: queued ones plus those held for disabled endpoints. */
  deliveries: number;
  /** True when an earlier publish with the same idempotency key answered instead. */
  replayed: boolean;
}

const isUniqueViolation = (error: unknown) => (error as { code?: string })?.code === "23505";

async function existingByKey(sql: Sql, tenantId: string, key: string): Promise<PublishResult | undefined> {
  const [row] = await sql<(Omit<StoredEvent, "createdAt"> & { createdAt: string | Date; deliveries: number })[]>`
    select e.id, e.tenant_id as "tenantId", e.event_type as "eventType", e.idempotency_key as "idempotencyKey",
           e.created_at as "createdAt", (select count(*)::int from deliveries d where d.event_id = e.id) as deliveries
    from events e where e.tenant_id = ${tenantId} and e.idempotency_key = ${key}`;
  if (!row) return undefined;
  const { deliveries, ...event } = row;
  return { event: { ...event, createdAt: new Date(event.createdAt) }, deliveries, replayed: true };
}

/**
 * Stores the event and one delivery per subscribed endpoint in one
 * transaction (held, not queued, for disabled endpoints), then enqueues the
 * queued ones with one bulk call. The caller has checked the tenant and the
 * event type. If enqueueing fails the event is still stored, and the
 * worker's reconciler enqueues its deliveries.
 */
export async function publish(deps: PublishDeps, input: PublishInput): Promise<PublishResult> {
  const key = input.idempotencyKey;
  if (key) {
    const existing = await existingByKey(deps.sql, input.tenantId, key);
    if (existing) return existing;
  }
  const eventId = newId("event");
  let stored: { event: StoredEvent; jobs: DeliveryJob[]; total: number };
  try {
    stored = await deps.sql.begin(async (tx) => {
      const [event] = await tx<(Omit<StoredEvent, "createdAt"> & { createdAt: string | Date })[]>`
        insert into events (id, tenant_id, event_type, payload, idempotency_key)
        values (${eventId}, ${input.tenantId}, ${input.eventType}, ${JSON.stringify(input.payload)}::jsonb, ${key ?? null})
        returning id, tenant_id as "tenantId", event_type as "eventType", idempotency_key as "idempotencyKey", created_at as "createdAt"`;
      const targets = await tx<{ id: string; disabled: boolean }[]>`
        select id, disabled from endpoints
        where tenant_id = ${input.tenantId}
          and (cardinality(event_types) = 0 or event_types && ${matchingSubscriptions(input.eventType)}::text[])`;
      const ids = targets.map(() => newId("delivery"));
      if (targets.length > 0) {
        await tx`
          insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at)
          select d.id, ${input.tenantId}, ${eventId}, d.endpoint_id, d.status,
                 case when d.status = 'pending' then now() end
          from unnest(${ids}::text[], ${targets.map((t) => t.id)}::text[], ${targets.map((t) => (t.disabled ? "held" : "pending"))}::text[])
               as d(id, endpoint_id, status)`;
      }
      const jobs = targets.flatMap((target, i) =>
        target.disabled ? [] : [{ deliveryId: ids[i] as string, eventId, endpointId: target.id, tenantId: input.tenantId }],
      );
      const row = event as Omit<StoredEvent, "createdAt"> & { createdAt: string | Date };
      return { event: { ...row, createdAt: new Date(row.createdAt) }, jobs, total: targets.length };
    });
  } catch (error) {
    if (key && isUniqueViolation(error)) {
      const existing = await existingByKey(deps.sql, input.tenantId, key);
      if (existing) return existing;
    }
    throw error;
  }
  await enqueueDeliveries(deps, stored.jobs);
  return { event: stored.event, deliveries: stored.total, replayed: false };
}

/** One bulk call; job id = delivery id, so enqueueing twice is harmless. */
export async function enqueueDeliveries(deps: PublishDeps, jobs: DeliveryJob[]): Promise<void> {
  if (jobs.length === 0) return;
  try {
    await deps.queue.addBulk(
      jobs.map((data) => ({ name: JOB_NAMES.deliver, data, opts: { ...DELIVERY_JOB_OPTIONS, jobId: data.deliveryId } })),
    );
  } catch (error) {
    deps.logger.error({ err: error, count: jobs.length }, "enqueue failed; the reconciler will enqueue these deliveries");
  }
}
