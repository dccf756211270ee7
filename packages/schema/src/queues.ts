import { z } from "zod";

/**
 * The braces make every key of a queue hash to one Redis Cluster slot, which
 * BullMQ's Lua scripts require.
 */
export const DEFAULT_QUEUE_PREFIX = "{herald}";

export const QUEUES = {
  deliveries: "deliveries",
} as const;

/**
 * A delivery job carries ids only: the payload and the secrets stay in
 * PostgreSQL. The event and endpoint ids let the worker batch and cache the
 * lookups that deliveries of one fan-out share.
 */
export const deliveryJobSchema = z.object({
  deliveryId: z.string(),
  eventId: z.string(),
  endpointId: z.string(),
  tenantId: z.string(),
});
export type DeliveryJob = z.infer<typeof deliveryJobSchema>;

export const JOB_NAMES = {
  deliver: "deliver",
} as const;

/** The backoff type whose delays the worker's retry policy computes. */
export const BACKOFF_TYPE = "herald";

/**
 * Options of every delivery job. The worker decides when a delivery is
 * exhausted from the attempt count in PostgreSQL, so BullMQ's own attempt
 * limit is only a ceiling. Finished jobs leave Redis at once: PostgreSQL keeps
 * the history, and a removed job lets the reconciler enqueue the id again.
 */
export const DELIVERY_JOB_OPTIONS = {
  attempts: 1000,
  backoff: { type: BACKOFF_TYPE },
  removeOnComplete: true,
  removeOnFail: true,
} as const;

/** A delivery's entry for `Queue.addBulk`: job id = delivery id, so adding it twice adds nothing. */
export function deliveryJobEntry(data: DeliveryJob) {
  return { name: JOB_NAMES.deliver, data, opts: { ...DELIVERY_JOB_OPTIONS, jobId: data.deliveryId } };
}

/** Subscriptions that match an event type: itself, `*`, and each prefix wildcard. */
export function matchingSubscriptions(eventType: string): string[] {
  const parts = eventType.split(".");
  const patterns = [eventType, "*"];
  for (let i = 1; i < parts.length; i++) patterns.push(`${parts.slice(0, i).join(".")}.*`);
  return patterns;
}

export type EndpointGuardPart = "slots" | "rate" | "circuit" | "waiting";

/**
 * Redis keys of an endpoint's admission state, kept by the worker's endpoint
 * guard. The API clears `circuit` when an operator retries, recovers or
 * re-enables, because that says the endpoint is worth trying again now.
 */
export function endpointGuardKey(prefix: string, endpointId: string, part: EndpointGuardPart): string {
  return `${prefix}:ep:${endpointId}:${part}`;
}
