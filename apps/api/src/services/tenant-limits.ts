import { deliveries, endpoints, idFloor, type Tenant, type TenantLimits } from "@herald/schema";
import { and, count, eq, gte } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";

type LimitDefaults = Pick<
  ServiceContext["config"],
  | "HERALD_TENANT_MAX_ENDPOINTS"
  | "HERALD_TENANT_TEST_SENDS_PER_MINUTE"
  | "HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH"
  | "HERALD_TENANT_PUBLISH_RATE"
>;

/** The limits in force for a tenant: the admin's overrides on its row, else the deployment's defaults. */
export function tenantLimits(config: LimitDefaults, tenant: Pick<Tenant, "limits">): TenantLimits {
  return {
    maxEndpoints: tenant.limits.maxEndpoints ?? config.HERALD_TENANT_MAX_ENDPOINTS,
    testSendsPerMinute: tenant.limits.testSendsPerMinute ?? config.HERALD_TENANT_TEST_SENDS_PER_MINUTE,
    maxDeliveriesPerPublish: tenant.limits.maxDeliveriesPerPublish ?? config.HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH,
    publishPerSecond: tenant.limits.publishPerSecond ?? (config.HERALD_TENANT_PUBLISH_RATE || null),
  };
}

/**
 * Holds a tenant to its publish rate, when one is set: `events` more this
 * second, counted in Redis so that every API process shares the count. With
 * Redis away the publish goes ahead (the rate guards receivers and the
 * database against a runaway client; losing events to it would be worse).
 */
export async function checkPublishRate(ctx: ServiceContext, tenant: Tenant, events: number): Promise<void> {
  const { publishPerSecond } = tenantLimits(ctx.config, tenant);
  if (publishPerSecond === null) return;
  if (events > publishPerSecond) {
    throw new ApiError(
      "limit_exceeded",
      `a batch of ${events} events is more than this tenant may publish in a second (${publishPerSecond})`,
      [{ path: "events", message: `at most ${publishPerSecond} events per request at this tenant's publish rate` }],
    );
  }
  let waitMs: number;
  try {
    waitMs = await ctx.queues.takePublishes(tenant.id, events, publishPerSecond);
  } catch (error) {
    ctx.logger.warn({ err: error, tenantId: tenant.id }, "could not count publishes against the tenant's rate; publishing anyway");
    return;
  }
  if (waitMs > 0) {
    const error = new ApiError("rate_limited", `this tenant may publish ${publishPerSecond} events a second; try again in ${waitMs} ms`);
    error.retryAfterSeconds = 1;
    throw error;
  }
}

/**
 * Refuses a new endpoint once the tenant has its maximum. Two creates racing
 * at the limit may both pass; the limit is there to stop a runaway client,
 * not to count exactly.
 */
export async function checkEndpointLimit(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  const { maxEndpoints } = tenantLimits(ctx.config, tenant);
  const [row] = await ctx.db.select({ n: count() }).from(endpoints).where(eq(endpoints.tenantId, tenant.id));
  if ((row?.n ?? 0) >= maxEndpoints) {
    throw new ApiError("limit_exceeded", `this tenant already has ${maxEndpoints} endpoints, its limit; delete one or ask the operator`, [
      { path: "(body)", message: `at most ${maxEndpoints} endpoints` },
    ]);
  }
}

/** Test sends are real requests: at most N per tenant per minute, counted from the test deliveries they leave. */
export async function checkTestSendRate(ctx: ServiceContext, tenant: Tenant): Promise<void> {
  const { testSendsPerMinute } = tenantLimits(ctx.config, tenant);
  // Delivery ids start with their creation time, so the last minute is an id range of the tenant index.
  const since = idFloor("delivery", new Date(Date.now() - 60_000));
  const [row] = await ctx.db
    .select({ n: count() })
    .from(deliveries)
    .where(and(eq(deliveries.tenantId, tenant.id), gte(deliveries.id, since), eq(deliveries.isTest, true)));
  if ((row?.n ?? 0) >= testSendsPerMinute) {
    const error = new ApiError("rate_limited", `at most ${testSendsPerMinute} test sends a minute for this tenant; try again shortly`);
    error.retryAfterSeconds = 60;
    throw error;
  }
}
