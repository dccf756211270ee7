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
  // Only a failed delivery still has a job in Redis (delayed until its next
  // retry); exhausted and held ones finished theirs, so they skip the per-job look.
  const rows = await ctx.sql<(DeliveryJob & { previous: string })[]>`
    update deliveries d set status = 'pending', next_attempt_at = now(), updated_at = now()
    from (
      select id, status from deliveries
      where endpoint_id = ${endpoint.id} and tenant_id = ${endpoint.tenantId}
        and status in ('failed', 'exhausted', 'held') and id >= ${floor}
      for update
    ) as previous
    where d.id = previous.id
    returning d.id as "deliveryId", d.event_id as "eventId", d.endpoint_id as "endpointId", d.tenant_id as "tenantId",
              previous.status as previous`;
  await resetEndpointGuard(ctx, endpoint.id);
  const job = ({ previous: _previous, ...rest }: DeliveryJob & { previous: string }): DeliveryJob => rest;
  await enqueueNow(ctx, rows.filter((row) => row.previous === "failed").map(job), rows.filter((row) => row.previous !== "failed").map(job));
  return { queued: rows.length };
}
