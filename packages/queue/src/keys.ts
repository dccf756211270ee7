import { shardOf, shardPrefixes } from "./shards.ts";

export type EndpointKeyPart = "slots" | "rate" | "circuit" | "waiting" | "queued";

/**
 * Every Redis key Herald uses besides BullMQ's own, in one place. A key that
 * belongs to an endpoint lives under the endpoint's shard prefix, so a script
 * touching an endpoint and its shard's sets runs in one cluster slot.
 */
export function createKeys(prefix: string, shards: number) {
  const prefixes = shardPrefixes(prefix, shards);
  const shardFor = (endpointId: string) => shardOf(endpointId, shards);
  const prefixOf = (endpointId: string) => prefixes[shardFor(endpointId)] as string;
  return {
    prefixes,
    shardFor,
    prefixOf,
    endpoint: (endpointId: string, part: EndpointKeyPart) => `${prefixOf(endpointId)}:ep:${endpointId}:${part}`,
    /** From admission until the attempt is recorded: the attempt number being sent. */
    sending: (endpointId: string, deliveryId: string) => `${prefixOf(endpointId)}:sending:${deliveryId}`,
    /** Endpoints with a parked backlog, scored by when the scheduler looks at them next. */
    parked: (shard: number) => `${prefixes[shard]}:parked`,
    /** Deliveries an operator asked to send now while their job was running, to enqueue once it is gone. */
    again: (shard: number) => `${prefixes[shard]}:again`,
    /** Events a tenant published in one second (the per-tenant publish rate, when one is set). */
    published: (tenantId: string, second: number) => `${prefixes[shardOf(tenantId, shards)]}:published:${tenantId}:${second}`,
    /** Keys that are not per shard (locks, the scheduler's cursor) live in shard 0. */
    global: (name: string) => `${prefixes[0]}:${name}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
