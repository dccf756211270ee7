import { attemptFields, buildEnvelope, buildHeaders } from "@herald/delivery";
import {
  attempts,
  deliveries,
  type Endpoint,
  type EndpointTest,
  type EndpointTestResult,
  type EventType,
  events,
  eventTypes,
  newId,
} from "@herald/schema";
import { and, asc, eq, inArray } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { getEndpoint, signingSecrets } from "./endpoints.ts";
import { checkTestSendRate } from "./tenant-limits.ts";
import { resolveTenant } from "./tenants.ts";

function unknownType(detail: string): ApiError {
  return new ApiError("unknown_event_type", detail, [{ path: "eventType", message: detail }]);
}

/**
 * The type a test sends: the one asked for; else the first exact type the
 * endpoint subscribes to; else the first catalog type a wildcard matches;
 * else the first type of the catalog.
 */
async function pickEventType(ctx: ServiceContext, endpoint: Endpoint, asked: string | undefined): Promise<EventType> {
  const live = eq(eventTypes.archived, false);
  if (asked !== undefined) {
    const [row] = await ctx.db
      .select()
      .from(eventTypes)
      .where(and(eq(eventTypes.name, asked), live))
      .limit(1);
    if (!row) throw unknownType(`${asked} is not in the event catalog`);
    return row;
  }
  const exact = endpoint.eventTypes.filter((name) => !name.endsWith("*"));
  if (exact.length > 0) {
    const rows = await ctx.db
      .select()
      .from(eventTypes)
      .where(and(inArray(eventTypes.name, exact), live));
    const first = exact.map((name) => rows.find((row) => row.name === name)).find((row) => row !== undefined);
    if (first) return first;
  }
  const catalog = await ctx.db.select().from(eventTypes).where(live).orderBy(asc(eventTypes.name)).limit(1000);
  const prefixes = endpoint.eventTypes.filter((name) => name.endsWith("*")).map((name) => name.slice(0, -1));
  const matching = prefixes.length > 0 ? catalog.find((row) => prefixes.some((prefix) => row.name.startsWith(prefix))) : undefined;
  const chosen = matching ?? catalog[0];
  if (!chosen) throw unknownType("the event catalog is empty; add an event type to send a test event");
  return chosen;
}

/**
 * Sends one signed request to the endpoint now, with the chosen type's example
 * payload, and records it in the delivery log as a test (an event, a delivery
 * with isTest, one attempt). Test deliveries are never retried and do not move
 * the endpoint's counters or failure streak. A failed request is an answer,
 * not an error: the caller wants to see why the receiver did not take it.
 */
export async function sendTestEvent(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  endpointId: string,
  input: EndpointTest,
): Promise<EndpointTestResult> {
  const endpoint = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  await checkTestSendRate(ctx, await resolveTenant(ctx, endpoint.tenantId));
  const type = await pickEventType(ctx, endpoint, input.eventType);
  const payload = JSON.stringify(type.example ?? {});
  const eventId = newId("event");
  const deliveryId = newId("delivery");
  const createdAt = new Date();
  const body = buildEnvelope(type.name, createdAt, payload);
  const startedAt = new Date();
  const headers = buildHeaders(
    eventId,
    body,
    signingSecrets(endpoint, startedAt),
    endpoint.headers,
    Math.floor(startedAt.getTime() / 1000),
  );
  const outcome = await ctx.deliveryClient.send({ url: endpoint.url, headers, body });
  const fields = attemptFields(outcome, headers);

  await ctx.db.transaction(async (tx) => {
    await tx.insert(events).values({ id: eventId, tenantId: endpoint.tenantId, eventType: type.name, payload, createdAt });
    await tx.insert(deliveries).values({
      id: deliveryId,
      tenantId: endpoint.tenantId,
      eventId,
      endpointId: endpoint.id,
      status: outcome.ok ? "succeeded" : "exhausted",
      attempts: 1,
      lastStatusCode: outcome.statusCode,
      lastError: fields.errorMessage,
      nextAttemptAt: null,
      isTest: true,
    });
    await tx.insert(attempts).values({
      id: newId("attempt"),
      deliveryId,
      endpointId: endpoint.id,
      attemptNumber: 1,
      startedAt,
      ...fields,
    });
  });

  return {
    deliveryId,
    eventId,
    eventType: type.name,
    ok: outcome.ok,
    statusCode: outcome.statusCode,
    durationMs: outcome.durationMs,
    responseBody: fields.responseBody,
    errorKind: outcome.errorKind,
    errorMessage: fields.errorMessage,
  };
}
