import { enqueueDeliveries, type PublishDeps } from "@herald/publishing";
import type { DeliveryJob } from "@herald/schema";

const CHUNK = 500;

/**
 * Makes deliveries run now. A job whose id (= delivery id) still exists would
 * make a plain add a no-op, so a delayed one (a failed delivery waiting for its
 * next retry) is promoted, a finished one is removed and added again, and a
 * waiting or active one is left alone because it runs soon anyway. The rest
 * go in with one bulk add. The caller has already set the rows to pending, so
 * if Redis fails here the reconciler enqueues them later.
 */
export async function enqueueNow(deps: PublishDeps, jobs: DeliveryJob[]): Promise<void> {
  const fresh: DeliveryJob[] = [];
  for (let start = 0; start < jobs.length; start += CHUNK) {
    await Promise.all(
      jobs.slice(start, start + CHUNK).map(async (data) => {
        const job = await deps.queue.getJob(data.deliveryId);
        if (!job) {
          fresh.push(data);
          return;
        }
        const state = await job.getState();
        try {
          if (state === "delayed") await job.promote();
          else if (state === "completed" || state === "failed" || state === "unknown") {
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
