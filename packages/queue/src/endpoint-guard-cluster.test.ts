import { freshQueuePrefix, type RedisCluster, startRedisCluster } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpointGuard } from "./endpoint-guard.ts";
import { createKeys } from "./keys.ts";
import { createRedisClient, duplicateRedis, type RedisClient } from "./redis.ts";

let cluster: RedisCluster;
let redis: RedisClient;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  redis = createRedisClient(cluster.urls.join(","), { cluster: true, redisOptions: { maxRetriesPerRequest: null } });
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await cluster?.stop();
});

describe("endpoint guard on a Redis Cluster", () => {
  it("settles a turn's admissions and releases of endpoints on every shard, one call per shard, and leaves no mark behind", async () => {
    const prefix = freshQueuePrefix();
    // As the worker has it: auto-pipelining, with the guard's other commands (a park, a leave) in the same turn.
    const pipelined = duplicateRedis(redis, { enableAutoPipelining: true });
    const guard = createEndpointGuard(pipelined, {
      prefix,
      shards: 3,
      concurrency: 4,
      circuitThreshold: 3,
      circuitCooldownMs: 1000,
      leaseMs: 10_000,
    });
    const keys = createKeys(prefix, 3);
    const endpoints = Array.from({ length: 12 }, (_, i) => `ep_cluster_${i}`);
    expect(new Set(endpoints.map(keys.shardFor)).size).toBe(3);
    const deliveries = endpoints.flatMap((endpointId) => [0, 1, 2].map((i) => ({ endpointId, deliveryId: `dlv_${endpointId}_${i}` })));
    const others = endpoints.map((endpointId) => `${endpointId}_other`);
    const [admitted] = await Promise.all([
      Promise.all(deliveries.map((delivery) => guard.acquire(delivery, `lease-${delivery.deliveryId}`, null))),
      Promise.all(others.map((endpointId) => guard.park(endpointId, Date.now() + 60_000))),
      Promise.all(others.map((endpointId) => guard.leave(endpointId))),
    ]);
    expect(admitted.every((answer) => answer.admitted)).toBe(true);
    const released = await Promise.all(deliveries.map((delivery) => guard.release(delivery, `lease-${delivery.deliveryId}`, true)));
    expect(released.every((answer) => answer.opened === false)).toBe(true);
    for (const endpointId of endpoints) {
      expect(await redis.zcard(keys.endpoint(endpointId, "slots"))).toBe(0);
    }
    for (const delivery of deliveries) {
      expect(await redis.exists(keys.sending(delivery.endpointId, delivery.deliveryId))).toBe(0);
    }
    pipelined.disconnect();
  });
});
