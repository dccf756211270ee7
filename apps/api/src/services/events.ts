import { EVENT_UID_CONSTRAINT, FanOutLimitError, type PublishResult, publish, publishBatch } from "@herald/publishing";
import {
  type Delivery,
  deliveries,
  type Event,
  type EventPublish,
  type EventType,
  events,
  eventUids,
  idFloor,
  idTime,
  type Tenant,
} from "@herald/schema";
import { and, asc, desc, eq, gte, inArray, lt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, type FieldError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { validatePayload } from "./event-types.ts";
import { forgetTenant, publishingEventTypes, publishingTenant } from "./publish-lookups.ts";
import { checkPublishRate, tenantLimits } from "./tenant-limits.ts";
import { resolveTenant } from "./tenants.ts";
import { timeFloor } from "./time-bounds.ts";

/**
 * A publish as the route hands it over: the parsed payload for validation, and its JSON text as sent for storing
 * (absent from callers that build the payload themselves, such as the Svix API's: it is then serialised).
 */
export type PublishItem = EventPublish & { payloadText?: string | undefined };

/**
 * What only the API can check before publishing: every event type is in the
 * catalog and not archived, and every payload is within the size limit.
 * `where` names the item in errors (`events.3`) for batches.
 */
async function checkPublishable(ctx: ServiceContext, items: PublishItem[], where: (index: number) => string): Promise<void> {
  const limit = ctx.config.HERALD_MAX_PAYLOAD_BYTES;
  const tooLarge = items.flatMap((item, index) =>
    Buffer.byteLength(item.payloadText ?? JSON.stringify(item.payload) ?? "") > limit
      ? [{ path: `${where(index)}payload`, message: `is larger than ${limit} bytes` }]
      : [],
  );
  if (tooLarge.length > 0) throw new ApiError("payload_too_large", `a payload is larger than ${limit} bytes`, tooLarge);

  const names = [...new Set(items.map((item) => item.eventType))];
  const known = await publishingEventTypes(ctx, names);
  const unknown: FieldError[] = items.flatMap((item, index) => {
    const type = known.get(item.eventType);
    if (type && !type.archived) return [];
    return [{ path: `${where(index)}eventType`, message: `${item.eventType} is ${type ? "archived" : "not in the event catalog"}` }];
  });
  if (unknown.length > 0) {
    throw new ApiError("unknown_event_type", unknown.map((e) => `${e.path}: ${e.message}`).join("; "), unknown);
  }
  for (const [index, item] of items.entries()) {
    validatePayload(ctx, known.get(item.eventType) as EventType, item.payload, `${where(index)}payload`);
  }
}

/**
 * The tenant came from the publish cache; if another process deleted it
 * meanwhile, the event's foreign key refuses the insert: that is a 404.
 */
async function orTenantGone<T>(ctx: ServiceContext, tenant: Tenant, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if ((error as { code?: string })?.code !== "23503") throw error;
    forgetTenant(ctx, tenant);
    throw notFound(`tenant ${tenant.uid ?? tenant.id}`);
  }
}

/**
 * Publishes after checking that the tenant is visible to the caller and the event is publishable.
 * A `uid` (the publisher's own event id) already used in the tenant is a 409.
 */
export async function publishEvent(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: PublishItem & { uid?: string | undefined },
): Promise<PublishResult> {
  const tenant = await publishingTenant(ctx, tenantIdOrUid);
  await checkPublishable(ctx, [input], () => "");
  await checkPublishRate(ctx, tenant, 1);
  try {
    return await orTenantGone(ctx, tenant, () =>
      publish(ctx, {
        tenantId: tenant.id,
        eventType: input.eventType,
        payload: input.payload,
        payloadText: input.payloadText,
        idempotencyKey: input.idempotencyKey,
        uid: input.uid,
      }),
    );
  } catch (error) {
    if ((error as { constraint_name?: string })?.constraint_name === EVENT_UID_CONSTRAINT) {
      throw new ApiError("conflict", `an event with uid ${input.uid} already exists in this tenant`);
    }
    throw error;
  }
}

/**
 * Publishes a batch (up to MAX_BATCH_EVENTS of @herald/schema) in one transaction and one bulk
 * enqueue. All or nothing: one invalid item rejects the whole batch, naming
 * its index, and nothing is stored. Results come back in input order.
 */
export async function publishEvents(ctx: ServiceContext, tenantIdOrUid: string, items: PublishItem[]): Promise<PublishResult[]> {
  const tenant = await publishingTenant(ctx, tenantIdOrUid);
  const firstWithKey = new Map<string, number>();
  const duplicates: FieldError[] = [];
  items.forEach((item, index) => {
    if (!item.idempotencyKey) return;
    const first = firstWithKey.get(item.idempotencyKey);
    if (first === undefined) firstWithKey.set(item.idempotencyKey, index);
    else duplicates.push({ path: `events.${index}.idempotencyKey`, message: `repeats the key of events.${first}` });
  });
  if (duplicates.length > 0) {
    throw new ApiError("validation_failed", duplicates.map((e) => `${e.path}: ${e.message}`).join("; "), duplicates);
  }
  await checkPublishable(ctx, items, (index) => `events.${index}.`);
  await checkPublishRate(ctx, tenant, items.length);
  const { maxDeliveriesPerPublish } = tenantLimits(ctx.config, tenant);
  try {
    return await orTenantGone(ctx, tenant, () =>
      publishBatch(ctx, { tenantId: tenant.id, events: items, maxDeliveries: maxDeliveriesPerPublish }),
    );
  } catch (error) {
    if (!(error instanceof FanOutLimitError)) throw error;
    throw new ApiError("limit_exceeded", `${error.message}; send smaller batches`, [{ path: "events", message: error.message }]);
  }
}

export async function getEvent(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  eventId: string,
): Promise<{ event: Event; deliveries: Delivery[] }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  // A uid is looked up in event_uids, then the event by its id: events has no index on uid (it would be one
  // per partition, every one of them searched).
  let id = eventId;
  if (!eventId.startsWith("evt_")) {
    const [named] = await ctx.db
      .select({ eventId: eventUids.eventId })
      .from(eventUids)
      .where(and(eq(eventUids.tenantId, tenant.id), eq(eventUids.uid, eventId)));
    if (named) id = named.eventId;
  }
  const [event] = await ctx.db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenant.id), eq(events.id, id)))
    .limit(1);
  if (!event) throw notFound(`event ${eventId}`);
  // An event's deliveries are made after it, so their ids are not below the event's time: the partitions of
  // older days are skipped.
  const rows = await ctx.db
    .select()
    .from(deliveries)
    .where(and(eq(deliveries.eventId, event.id), gte(deliveries.id, idFloor("delivery", idTime(event.id)))))
    .orderBy(asc(deliveries.id));
  return { event, deliveries: rows };
}

export interface EventListInput {
  limit: number;
  cursor?: string | undefined;
  eventType?: string | undefined;
  /** Any of these types (with `eventType`, both must hold). */
  eventTypes?: string[] | undefined;
  after?: string | undefined;
  before?: string | undefined;
}

/** A tenant's events, newest first, by type and creation time (`after` inclusive, `before` exclusive). */
export async function listEvents(ctx: ServiceContext, tenantIdOrUid: string, input: EventListInput) {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const rows = await ctx.db
    .select()
    .from(events)
    .where(
      and(
        eq(events.tenantId, tenant.id),
        input.cursor ? lt(events.id, input.cursor) : undefined,
        input.eventType ? eq(events.eventType, input.eventType) : undefined,
        input.eventTypes?.length ? inArray(events.eventType, input.eventTypes) : undefined,
        // Ids start with their creation time, so a time range is an id range.
        input.after ? gte(events.id, timeFloor("event", "after", input.after)) : undefined,
        input.before ? lt(events.id, timeFloor("event", "before", input.before)) : undefined,
      ),
    )
    .orderBy(desc(events.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}

/** The tenant's events among these ids (absent ones are left out). */
export async function eventsByIds(ctx: ServiceContext, tenantIdOrUid: string, ids: string[]): Promise<Event[]> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  if (ids.length === 0) return [];
  return ctx.db
    .select()
    .from(events)
    .where(and(eq(events.tenantId, tenant.id), inArray(events.id, ids)));
}
