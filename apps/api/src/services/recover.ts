import { type DeliveryJob, idFloor, type RecoverResult } from "@herald/schema";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { getEndpoint } from "./endpoints.ts";
import { enqueueNow } from "./requeue.ts";

/**
 * Re-sends an endpoint's failed, exhausted and held deliveries created at or
 * after `since`, typically after the receiver was down for a while. One
 * UPDATE … RETURNING resets them to pending; succeeded and pending ones are
 * left alone. Each exhausted delivery gets one more attempt, not a new retry
 * budget. A disabled endpoint is refused (409): the worker would only hold
 * the deliveries again, so the caller enables it first.
 */
export async function recoverEndpoint(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  endpointId: string,
  input: { since: string },
): Promise<RecoverResult> {
  const endpoint = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  if (endpoint.disabled) {
    throw new ApiError("conflict", `endpoint ${endpoint.id} is disabled; enable it first, then recover`);
  }
  const floor = idFloor("delivery", new Date(input.since));
  const jobs = await ctx.sql<DeliveryJob[]>`
    update deliveries set status = 'pending', next_attempt_at = now(), updated_at = now()
    where endpoint_id = ${endpoint.id} and tenant_id = ${endpoint.tenantId}
      and status in ('failed', 'exhausted', 'held') and id >= ${floor}
    returning id as "deliveryId", event_id as "eventId", endpoint_id as "endpointId", tenant_id as "tenantId"`;
  await enqueueNow(ctx, jobs);
  return { queued: jobs.length };
}
