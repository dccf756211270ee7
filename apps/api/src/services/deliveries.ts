import {
  type Attempt,
  attempts,
  type Delivery,
  type DeliveryListQuery,
  type DeliveryRetry,
  deliveries,
  endpoints,
  events,
  hasPrefix,
  idFloor,
  idTime,
} from "@herald/schema";
import { and, asc, desc, eq, gte, lt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { getEndpoint } from "./endpoints.ts";
import { getEvent } from "./events.ts";
import { closeCircuit, enqueueNow } from "./requeue.ts";
import { resolveTenant } from "./tenants.ts";
import { timeFloor } from "./time-bounds.ts";

export type DeliveryListInput = DeliveryListQuery & { limit: number; cursor?: string | undefined };

/** A tenant's deliveries, newest first, filtered by status, endpoint, event and creation time. */
export async function listDeliveries(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: DeliveryListInput,
): Promise<{ rows: Delivery[]; nextCursor: string | null }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const rows = await ctx.db
    .select()
    .from(deliveries)
    .where(
      and(
        eq(deliveries.tenantId, tenant.id),
        input.status ? eq(deliveries.status, input.status) : undefined,
        input.endpointId ? eq(deliveries.endpointId, input.endpointId) : undefined,
        input.eventId ? eq(deliveries.eventId, input.eventId) : undefined,
        // An event's deliveries are made after it: the partitions of the days before it are skipped.
        input.eventId && hasPrefix("event", input.eventId) ? gte(deliveries.id, idFloor("delivery", idTime(input.eventId))) : undefined,
        // Ids start with their creation time, so a time range is an id range.
        input.after ? gte(deliveries.id, timeFloor("delivery", "after", input.after)) : undefined,
        input.before ? lt(deliveries.id, timeFloor("delivery", "before", input.before)) : undefined,
        input.cursor ? lt(deliveries.id, input.cursor) : undefined,
      ),
    )
    .orderBy(desc(deliveries.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}

/** One delivery of the tenant with every attempt, oldest first. */
export async function getDelivery(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  deliveryId: string,
): Promise<{ delivery: Delivery; attempts: Attempt[] }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [delivery] = await ctx.db
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.tenantId, tenant.id), eq(deliveries.id, deliveryId)))
    .limit(1);
  if (!delivery) throw notFound(`delivery ${deliveryId}`);
  const rows = await ctx.db
    .select()
    .from(attempts)
    .where(eq(attempts.deliveryId, delivery.id))
    .orderBy(asc(attempts.attemptNumber), asc(attempts.id));
  return { delivery, attempts: rows };
}

/**
 * Sends one delivery again now, whatever its retry schedule said. Failed,
 * exhausted, held and pending deliveries qualify; a succeeded one only with
 * `force`, since the receiver already has it. An exhausted delivery gets one
 * more attempt, not a fresh retry budget. A disabled endpoint is refused:
 * the worker would only hold the delivery again.
 */
export async function retryDelivery(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  deliveryId: string,
  input: DeliveryRetry,
): Promise<Delivery> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [found] = await ctx.db
    .select({ delivery: deliveries, disabled: endpoints.disabled })
    .from(deliveries)
    .innerJoin(endpoints, eq(endpoints.id, deliveries.endpointId))
    .where(and(eq(deliveries.tenantId, tenant.id), eq(deliveries.id, deliveryId)))
    .limit(1);
  if (!found) throw notFound(`delivery ${deliveryId}`);
  if (found.disabled) {
    throw new ApiError("conflict", `endpoint ${found.delivery.endpointId} is disabled; enable it first, then retry`);
  }
  if (found.delivery.status === "succeeded" && !input.force) {
    throw new ApiError("conflict", `delivery ${deliveryId} already succeeded; send {"force": true} to send it again`);
  }
  // Its event may be past the retention already (an event published just before midnight has its deliveries in
  // the next day's partition, kept a day longer): there is nothing left to send.
  const [event] = await ctx.db.select({ id: events.id }).from(events).where(eq(events.id, found.delivery.eventId)).limit(1);
  if (!event) throw new ApiError("conflict", `the event of delivery ${deliveryId} is past the retention; it cannot be sent again`);
  const [updated] = await ctx.db
    .update(deliveries)
    .set({ status: "pending", parked: false, releasedAt: null, nextAttemptAt: new Date(), updatedAt: new Date() })
    .where(eq(deliveries.id, deliveryId))
    .returning();
  const delivery = updated ?? found.delivery;
  await closeCircuit(ctx, delivery.endpointId);
  await enqueueNow(ctx, [
    { deliveryId: delivery.id, eventId: delivery.eventId, endpointId: delivery.endpointId, tenantId: delivery.tenantId },
  ]);
  return delivery;
}

/**
 * Sends an event to one endpoint again now, whatever became of it before
 * (a succeeded delivery too: the caller asked for this one by name). Both
 * accept an id or a uid. An event that never went to that endpoint (it was
 * not subscribed, or did not exist yet) has no delivery to send again: 404.
 */
export async function resendEvent(ctx: ServiceContext, tenantIdOrUid: string, event: string, endpoint: string): Promise<Delivery> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [found, target] = await Promise.all([getEvent(ctx, tenant.id, event), getEndpoint(ctx, tenant.id, endpoint)]);
  const delivery = found.deliveries.find((row) => row.endpointId === target.id);
  if (!delivery) throw notFound(`a delivery of event ${event} to endpoint ${endpoint}`);
  return retryDelivery(ctx, tenant.id, delivery.id, { force: true });
}
