import { type Attempt, attempts, type DeliveryStatus, deliveries, endpoints, idFloor, idTime } from "@herald/schema";
import { and, between, desc, eq, gte, isNotNull, isNull, lt, sql } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { getEndpoint } from "./endpoints.ts";
import { getEvent } from "./events.ts";
import { resolveTenant } from "./tenants.ts";

/** One HTTP try with what a log line needs: its event, its endpoint's URL, and whether it was a test send. */
export type AttemptRow = Attempt & { eventId: string; url: string; isTest: boolean };

export interface AttemptListInput {
  limit: number;
  cursor?: string | undefined;
  /** An event id or uid. */
  event?: string | undefined;
  /** An endpoint id or uid. */
  endpoint?: string | undefined;
  /** `succeeded`: the receiver answered 2xx; `failed`: anything else. */
  outcome?: "succeeded" | "failed" | undefined;
  /** Status codes in [from, to]; [0, 99] means no answer at all (a timeout or a connection error). */
  statusCodes?: [number, number] | undefined;
  after?: string | undefined;
  before?: string | undefined;
}

/** A tenant's attempts, newest first, by event, endpoint, outcome, status code and time (`after` inclusive, `before` exclusive). */
export async function listAttempts(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: AttemptListInput,
): Promise<{ rows: AttemptRow[]; nextCursor: string | null }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const eventId = input.event ? (await getEvent(ctx, tenant.id, input.event)).event.id : undefined;
  const endpointId = input.endpoint ? (await getEndpoint(ctx, tenant.id, input.endpoint)).id : undefined;
  const codes = input.statusCodes;
  const rows = await ctx.db
    .select({ attempt: attempts, eventId: deliveries.eventId, isTest: deliveries.isTest, url: endpoints.url })
    .from(attempts)
    .innerJoin(deliveries, eq(deliveries.id, attempts.deliveryId))
    .innerJoin(endpoints, eq(endpoints.id, attempts.endpointId))
    .where(
      and(
        eq(deliveries.tenantId, tenant.id),
        eventId ? eq(deliveries.eventId, eventId) : undefined,
        // An event's deliveries and their attempts are made after it: older days' partitions are skipped.
        eventId ? gte(deliveries.id, idFloor("delivery", idTime(eventId))) : undefined,
        eventId ? gte(attempts.id, idFloor("attempt", idTime(eventId))) : undefined,
        endpointId ? eq(attempts.endpointId, endpointId) : undefined,
        input.outcome === "succeeded" ? isNull(attempts.errorKind) : undefined,
        input.outcome === "failed" ? isNotNull(attempts.errorKind) : undefined,
        codes && codes[0] === 0 ? isNull(attempts.statusCode) : undefined,
        codes && codes[0] > 0 ? between(attempts.statusCode, codes[0], codes[1]) : undefined,
        // Ids start with their creation time, so a time range is an id range.
        input.after ? gte(attempts.id, idFloor("attempt", new Date(input.after))) : undefined,
        input.before ? lt(attempts.id, idFloor("attempt", new Date(input.before))) : undefined,
        input.cursor ? lt(attempts.id, input.cursor) : undefined,
      ),
    )
    .orderBy(desc(attempts.id))
    .limit(input.limit + 1);
  return page(
    rows.map((row) => ({ ...row.attempt, eventId: row.eventId, url: row.url, isTest: row.isTest })),
    input.limit,
  );
}

/** One attempt of one of the tenant's events. */
export async function getAttempt(ctx: ServiceContext, tenantIdOrUid: string, event: string, attemptId: string): Promise<AttemptRow> {
  const { event: found } = await getEvent(ctx, tenantIdOrUid, event);
  const [row] = await ctx.db
    .select({ attempt: attempts, eventId: deliveries.eventId, isTest: deliveries.isTest, url: endpoints.url })
    .from(attempts)
    .innerJoin(deliveries, eq(deliveries.id, attempts.deliveryId))
    .innerJoin(endpoints, eq(endpoints.id, attempts.endpointId))
    .where(and(eq(deliveries.eventId, found.id), eq(attempts.id, attemptId)))
    .limit(1);
  if (!row) throw notFound(`attempt ${attemptId} of event ${event}`);
  return { ...row.attempt, eventId: row.eventId, url: row.url, isTest: row.isTest };
}

/**
 * How many of an endpoint's deliveries are in each status, among those created
 * in [since, until) (no upper bound without until). Counted from the deliveries themselves, so it agrees with
 * the delivery log.
 */
export async function endpointDeliveryCounts(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  endpointIdOrUid: string,
  input: { since: Date; until?: Date | undefined },
): Promise<Record<DeliveryStatus, number>> {
  const endpoint = await getEndpoint(ctx, tenantIdOrUid, endpointIdOrUid);
  const rows = await ctx.db
    .select({ status: deliveries.status, count: sql<number>`count(*)::int` })
    .from(deliveries)
    .where(
      and(
        eq(deliveries.endpointId, endpoint.id),
        eq(deliveries.isTest, false),
        gte(deliveries.id, idFloor("delivery", input.since)),
        input.until ? lt(deliveries.id, idFloor("delivery", input.until)) : undefined,
      ),
    )
    .groupBy(deliveries.status);
  const counts: Record<DeliveryStatus, number> = { pending: 0, succeeded: 0, failed: 0, exhausted: 0, held: 0 };
  for (const row of rows) counts[row.status] = row.count;
  return counts;
}
