import type { DeliveryJob } from "@herald/queue";
import type { ServiceContext } from "../deps.ts";

/**
 * Makes deliveries run now (an operator's retry). The queue decides what that
 * means for each job's state; if Redis fails here, the rows are already
 * pending and the reconciler enqueues them.
 */
export async function enqueueNow(ctx: ServiceContext, jobs: DeliveryJob[]): Promise<void> {
  try {
    await ctx.queues.enqueueNow(jobs);
  } catch (error) {
    ctx.logger.error({ err: error, count: jobs.length }, "enqueue failed; the reconciler will enqueue these deliveries");
  }
}

/**
 * An operator who retries, recovers or re-enables is saying the endpoint is
 * worth trying now: its circuit closes and a Retry-After pause ends (the slots
 * it earned by answering stay). Without this the re-sent deliveries would sit
 * out the cool-down, or an hour-long Retry-After, first.
 */
export async function closeCircuit(ctx: ServiceContext, endpointId: string): Promise<void> {
  await ctx.queues.closeCircuit(endpointId);
}
