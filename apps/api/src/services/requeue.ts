import { enqueueDeliveries, type PublishDeps } from "@herald/publishing";
import { type DeliveryJob, endpointGuardKey } from "@herald/schema";
import type { Job } from "bullmq";
import type { Redis } from "ioredis";

const CHUNK = 500;
/** How long to wait for an in-flight attempt to finish before leaving its job be (most take milliseconds). */
const ACTIVE_WAIT_MS = 2000;

/**
 * The state a job settles in after an attempt that is in flight right now.
 * A failed attempt is recorded in PostgreSQL before BullMQ moves its job to
 * the delayed set, so a retry can arrive while the job is still active; acting
 * then would leave the job delayed for its whole backoff.
 */
async function settledState(job: Job): Promise<string> {
  const deadline = Date.now() + ACTIVE_WAIT_MS;
  for (;;) {
    const state = await job.getState();
    if (state !== "active" || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Makes deliveries run now. A job whose id (= delivery id) still exists would
 * make a plain add a no-op, so a delayed one (a failed delivery waiting for its
 * next retry) is promoted, a finished one is removed and added again, and a
 * waiting one is left alone because it runs soon anyway. An active one is
 * given a moment to finish its attempt first. The rest, and `withoutJob`
 * (deliveries whose job has certainly left Redis, such as exhausted ones),
 * go in with one bulk add. The caller has already set the rows to pending, so
 * if Redis fails here the reconciler enqueues them later.
 */
export async function enqueueNow(deps: PublishDeps, jobs: DeliveryJob[], withoutJob: DeliveryJob[] = []): Promise<void> {
  const fresh: DeliveryJob[] = [...withoutJob];
  for (let start = 0; start < jobs.length; start += CHUNK) {
    await Promise.all(
      jobs.slice(start, start + CHUNK).map(async (data) => {
        const job = await deps.queue.getJob(data.deliveryId);
        if (!job) {
          fresh.push(data);
          return;
        }
        const state = await settledState(job);
        try {
          if (state === "delayed") await job.promote();
          else if (state === "unknown") fresh.push(data);
          else if (state === "completed" || state === "failed") {
            // Finished while we waited: a fresh job carries the retry.
            await job.remove();
            fresh.push(data);
          }
        } catch (error) {
          // The job moved on between the look and the change (a worker took it); it runs anyway.
          deps.logger.debug({ err: error, deliveryId: data.deliveryId, state }, "job changed state while re-queueing");
        }
      }),
    );
  }
  await enqueueDeliveries(deps, fresh);
}

/**
 * Forgets an open circuit breaker and any Retry-After pause of an endpoint.
 * An operator who retries, recovers or re-enables is saying the endpoint is
 * worth trying now; without this the re-sent deliveries would sit out the
 * cool-down (or an hour-long Retry-After) first.
 */
export async function resetEndpointGuard(
  deps: { redis: Redis; config: { HERALD_QUEUE_PREFIX: string } },
  endpointId: string,
): Promise<void> {
  await deps.redis.del(endpointGuardKey(deps.config.HERALD_QUEUE_PREFIX, endpointId, "circuit"));
}
