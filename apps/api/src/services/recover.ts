import type { RecoverResult } from "@herald/schema";
import type { ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { getEndpoint } from "./endpoints.ts";
import { closeCircuit } from "./requeue.ts";
import { timeFloor } from "./time-bounds.ts";

/**
 * Re-sends an endpoint's failed, exhausted and held deliveries created at or
 * after `since` (and before `until`, if given), typically after the receiver was down for a while. One
 * UPDATE resets them to pending and parks them, and the endpoint joins the
 * parked set: the worker's scheduler then releases them oldest first at the
 * endpoint's pace (its cap and rate limit), so recovering a million
 * deliveries puts a window of them in Redis at a time, not a million jobs.
 * Succeeded and pending ones are left alone. Each exhausted delivery gets one
 * more attempt, not a new retry budget. A disabled endpoint is refused (409):
 * the worker would only hold the deliveries again, so the caller enables it first.
 */
export async function recoverEndpoint(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  endpointId: string,
  input: { since: string; until?: string | undefined },
): Promise<RecoverResult> {
  const endpoint = await getEndpoint(ctx, tenantIdOrUid, endpointId);
  if (endpoint.disabled) {
    throw new ApiError("conflict", `endpoint ${endpoint.id} is disabled; enable it first, then recover`);
  }
  const floor = timeFloor("delivery", "since", input.since);
  // Ids start with their creation time, so "created before until" is an id bound.
  const beforeUntil = input.until ? ctx.sql`and id < ${timeFloor("delivery", "until", input.until)}` : ctx.sql``;
  // A failed delivery's short retry may still have a job in Redis; the worker skips a parked delivery's job. One
  // already parked and released keeps its release: its job is in the queue.
  const [result] = await ctx.sql<{ count: number }[]>`
    with recovered as (
      update deliveries set status = 'pending', parked = true, released_at = case when parked then released_at end,
                            next_attempt_at = now(), updated_at = now()
      where endpoint_id = ${endpoint.id} and tenant_id = ${endpoint.tenantId}
        and status in ('failed', 'exhausted', 'held') and id >= ${floor} ${beforeUntil}
        -- Not one whose event is past the retention (made just before the midnight of an expired day): nothing to send.
        and exists (select 1 from events e where e.id = deliveries.event_id)
      returning 1
    )
    select count(*)::int as count from recovered`;
  const queued = result?.count ?? 0;
  await closeCircuit(ctx, endpoint.id);
  if (queued > 0) await ctx.queues.markParked([endpoint.id], Date.now());
  return { queued };
}
