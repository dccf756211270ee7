import { type DeliveryJob, idFloor, type RecoverResult } from "@herald/schema";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { getEndpoint } from "./endpoints.ts";
import { enqueueNow, resetEndpointGuard } from "./requeue.ts";

/**
 * Re-sends an endpoint's failed, exhausted and held deliveries created at or
 * after `since`, typically after the receiver was down for a while. One
 * UPDATE … RETURNING resets them to pending and one bulk add enqueues them;
 * succeeded and pending ones are left alone. Each exhausted delivery gets one
 * more attempt, not a new retry budget. A disabled endpoint is refused (409): the worker would only hold
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
  // A failed delivery still has a job in Redis (delayed until its next retry).
  // An exhausted or held one may too, for a moment: the worker records the row
  // first and completes the job after, and a plain add with that job id would be
  // a no-op. So every row gets the per-job look.
  const rows = await ctx.sql<DeliveryJob[]>`
    update deliveries d set status = 'pending', next_attempt_at = now(), updated_at = now()
    from (
      select id from deliveries
      where endpoint_id = ${endpoint.id} and tenant_id = ${endpoint.tenantId}
        and status in ('failed', 'exhausted', 'held') and id >= ${floor}
      for update
    ) as previous
    where d.id = previous.id
    returning d.id as "deliveryId", d.event_id as "eventId", d.endpoint_id as "endpointId", d.tenant_id as "tenantId"`;
  await resetEndpointGuard(ctx, endpoint.id);
  await enqueueNow(ctx, [...rows]);
  return { queued: rows.length };
}
