import { deliveries, endpoints, idFloor, type Tenant, type TenantLimits } from "@herald/schema";
import { and, count, eq, gte } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";

type LimitDefaults = Pick<
  ServiceContext["config"],
  "HERALD_TENANT_MAX_ENDPOINTS" | "HERALD_TENANT_TEST_SENDS_PER_MINUTE" | "HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH"
>;

/** The limits in force for a tenant: the admin's overrides on its row, else the deployment's defaults. */
export function tenantLimits(config: LimitDefaults, tenant: Pick<Tenant, "limits">): TenantLimits {
  return {
    maxEndpoints: tenant.limits.maxEndpoints ?? config.HERALD_TENANT_MAX_ENDPOINTS,
    testSendsPerMinute: tenant.limits.testSendsPerMinute ?? config.HERALD_TENANT_TEST_SENDS_PER_MINUTE,
    maxDeliveriesPerPublish: tenant.limits.maxDeliveriesPerPublish ?? config.HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH,
  };
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
