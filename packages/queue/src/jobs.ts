import { z } from "zod";

/**
 * The braces make every key of a queue hash to one Redis Cluster slot, which
 * BullMQ's Lua scripts require; each shard puts its number inside them.
 */
export const DEFAULT_QUEUE_PREFIX = "{herald}";

/** The BullMQ queue name of delivery jobs, under each shard's prefix. */
export const DELIVERY_QUEUE = "deliveries";
/**
 * The queue of deliveries released from a parked backlog, beside each shard's
 * delivery queue. Workers take it with slots of its own, as many as for the
 * delivery queue, so a recovering endpoint drains at its cap without taking the
 * slots new deliveries need: ten endpoints at a cap of 10 that answer in a
 * quarter of a second would otherwise hold all 100 slots of a worker.
 */
export const BACKLOG_QUEUE = "backlog";

export const JOB_NAMES = {
  deliver: "deliver",
} as const;

/** The backoff type whose delays the worker's retry policy computes. */
export const BACKOFF_TYPE = "herald";

/**
 * A delivery job carries ids only: the payload and the secrets stay in
 * PostgreSQL. The event and endpoint ids let the worker batch and cache the
 * lookups that deliveries of one fan-out share; the endpoint id also picks the shard.
 */
export const deliveryJobSchema = z.object({
  deliveryId: z.string().min(1),
  eventId: z.string().min(1),
  endpointId: z.string().min(1),
  tenantId: z.string().min(1),
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

/**
 * Options of every delivery job. The worker decides when a delivery is
 * exhausted from the attempt count in PostgreSQL, so BullMQ's own attempt
 * limit is only a ceiling. Finished jobs leave Redis at once: PostgreSQL keeps
 * the history, and a removed job lets the same id be enqueued again.
 */
export const DELIVERY_JOB_OPTIONS = {
  attempts: 1000,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

/** A delivery's entry for `Queue.addBulk`: job id = delivery id, so adding it twice adds nothing. */
export function deliveryJobEntry(data: DeliveryJob, delayMs = 0) {
  return {
    name: JOB_NAMES.deliver,
    data,
    opts: {
      ...DELIVERY_JOB_OPTIONS,
      jobId: data.deliveryId,
      ...(delayMs > 0 ? { delay: Math.round(delayMs) } : {}),
    },
  };
}
