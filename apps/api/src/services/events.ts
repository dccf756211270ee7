import {
  DELIVERY_JOB_OPTIONS,
  type Delivery,
  type DeliveryJob,
  deliveries,
  type Event,
  type EventPublish,
  events,
  eventTypes,
  JOB_NAMES,
  matchingSubscriptions,
  newId,
} from "@herald/schema";
import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { isUniqueViolation, resolveTenant } from "./tenants.ts";

export interface Published {
  event: Event;
  deliveries: number;
  /** True when an earlier publish with the same idempotency key answered. */
  replayed: boolean;
}

async function existingByKey(ctx: ServiceContext, tenantId: string, key: string): Promise<Published | undefined> {
  const [row] = await ctx.db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenantId), eq(events.idempotencyKey, key)))
    .limit(1);
  if (!row) return undefined;
  const [count] = await ctx.sql<{ n: number }[]>`select count(*)::int as n from deliveries where event_id = ${row.id}`;
  return { event: row, deliveries: count?.n ?? 0, replayed: true };
}

/**
 * Stores the event and one delivery per subscribed endpoint in one
 * transaction, then enqueues the deliveries in one bulk call. If enqueueing
 * fails the event is still stored and the worker's reconciler enqueues it.
 */
export async function publishEvent(ctx: ServiceContext, tenantIdOrUid: string, input: EventPublish): Promise<Published> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [type] = await ctx.db.select().from(eventTypes).where(eq(eventTypes.name, input.eventType)).limit(1);
  if (!type || type.archived) {
    throw new ApiError("unknown_event_type", `${input.eventType} is not in the event catalog${type ? " (archived)" : ""}`, [
      { path: "eventType", message: "is not in the event catalog" },
    ]);
  }
  const key = input.idempotencyKey;
  if (key) {
    const existing = await existingByKey(ctx, tenant.id, key);
    if (existing) return existing;
  }

  const eventId = newId("event");
  let stored: { event: Event; pending: { id: string; endpointId: string }[]; total: number };
  try {
    stored = await ctx.sql.begin(async (tx) => {
      const [event] = await tx<Event[]>`
        insert into events (id, tenant_id, event_type, payload, idempotency_key)
        values (${eventId}, ${tenant.id}, ${input.eventType}, ${JSON.stringify(input.payload)}::jsonb, ${key ?? null})
        returning id, tenant_id as "tenantId", event_type as "eventType", payload,
                  idempotency_key as "idempotencyKey", created_at as "createdAt"`;
      const targets = await tx<{ id: string; disabled: boolean }[]>`
        select id, disabled from endpoints
        where tenant_id = ${tenant.id}
          and (cardinality(event_types) = 0 or event_types && ${matchingSubscriptions(input.eventType)}::text[])`;
      const ids = targets.map(() => newId("delivery"));
      if (targets.length > 0) {
        await tx`
          insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at)
          select d.id, ${tenant.id}, ${eventId}, d.endpoint_id, d.status,
                 case when d.status = 'pending' then now() end
          from unnest(${ids}::text[], ${targets.map((t) => t.id)}::text[], ${targets.map((t) => (t.disabled ? "held" : "pending"))}::text[])
               as d(id, endpoint_id, status)`;
      }
      const pending = targets.flatMap((target, i) => (target.disabled ? [] : [{ id: ids[i] as string, endpointId: target.id }]));
      return { event: { ...(event as Event), createdAt: new Date((event as Event).createdAt) }, pending, total: targets.length };
    });
  } catch (error) {
    if (key && isUniqueViolation(error)) {
      const existing = await existingByKey(ctx, tenant.id, key);
      if (existing) return existing;
    }
    throw error;
  }

  await enqueueDeliveries(
    ctx,
    stored.pending.map((d) => ({ deliveryId: d.id, eventId, endpointId: d.endpointId, tenantId: tenant.id })),
  );
  return { event: stored.event, deliveries: stored.total, replayed: false };
}

export async function enqueueDeliveries(ctx: ServiceContext, jobs: DeliveryJob[]): Promise<void> {
  if (jobs.length === 0) return;
  try {
    await ctx.queue.addBulk(
      jobs.map((data) => ({ name: JOB_NAMES.deliver, data, opts: { ...DELIVERY_JOB_OPTIONS, jobId: data.deliveryId } })),
    );
  } catch (error) {
    ctx.logger.error({ err: error, count: jobs.length }, "enqueue failed; the reconciler will enqueue these deliveries");
  }
}

export async function getEvent(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  eventId: string,
): Promise<{ event: Event; deliveries: Delivery[] }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [event] = await ctx.db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenant.id), eq(events.id, eventId)))
    .limit(1);
  if (!event) throw notFound(`event ${eventId}`);
  const rows = await ctx.db.select().from(deliveries).where(eq(deliveries.eventId, event.id)).orderBy(asc(deliveries.id));
  return { event, deliveries: rows };
}

export async function listEvents(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: { limit: number; cursor?: string | undefined; eventType?: string | undefined },
) {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const rows = await ctx.db
    .select()
    .from(events)
    .where(
      and(
        eq(events.tenantId, tenant.id),
        input.cursor ? lt(events.id, input.cursor) : undefined,
        input.eventType ? eq(events.eventType, input.eventType) : undefined,
      ),
    )
    .orderBy(desc(events.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}
