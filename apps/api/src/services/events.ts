import { type PublishResult, publish } from "@herald/publishing";
import { type Delivery, deliveries, type Event, type EventPublish, events, eventTypes } from "@herald/schema";
import { and, asc, desc, eq, lt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { resolveTenant } from "./tenants.ts";

/**
 * Publishes after checking what only the API knows: that the tenant is
 * visible to the caller and the event type is in the catalog.
 */
export async function publishEvent(ctx: ServiceContext, tenantIdOrUid: string, input: EventPublish): Promise<PublishResult> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [type] = await ctx.db.select().from(eventTypes).where(eq(eventTypes.name, input.eventType)).limit(1);
  if (!type || type.archived) {
    throw new ApiError("unknown_event_type", `${input.eventType} is not in the event catalog${type ? " (archived)" : ""}`, [
      { path: "eventType", message: "is not in the event catalog" },
    ]);
  }
  return publish(ctx, { tenantId: tenant.id, eventType: input.eventType, payload: input.payload, idempotencyKey: input.idempotencyKey });
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
