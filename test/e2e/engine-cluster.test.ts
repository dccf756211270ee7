import { shardOf } from "@herald/queue";
import { eventually, type Herald, type RedisCluster, respondWith, startHerald, startReceiver, startRedisCluster } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpoint, createTenant, type Db, database, publishMany } from "./engine-support.ts";

/**
 * The delivery engine on a real three-master Redis Cluster with the queue in
 * three shards: every Redis client of the API and the workers is a Cluster
 * client, each shard's queue and guard keys live on their own master, and the
 * guarantees hold across two workers, a SIGKILL and a master that loses its data.
 */

const SHARDS = 3;
let cluster: RedisCluster;
let herald: Herald;
let sql: Db;
let tenants = 0;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  herald = await startHerald({
    workers: 2,
    env: {
      REDIS_URL: cluster.seedList,
      HERALD_REDIS_CLUSTER: "true",
      HERALD_QUEUE_SHARDS: String(SHARDS),
      HERALD_RETRY_SCHEDULE: "0,300ms,300ms,300ms,300ms",
      HERALD_RETRY_JITTER: "0",
      HERALD_CIRCUIT_THRESHOLD: "3",
      HERALD_CIRCUIT_COOLDOWN: "1s",
      HERALD_ENDPOINT_CONCURRENCY: "2",
      HERALD_ENDPOINT_START_CONCURRENCY: "2",
      HERALD_RECONCILE_INTERVAL: "1s",
      HERALD_RECONCILE_GRACE: "2s",
      HERALD_DELIVERY_TIMEOUT: "5s",
    },
  });
  sql = database(herald);
}, 120_000);

afterAll(async () => {
  for (const close of closers) await close();
  await sql?.end();
  await herald?.stop();
  await cluster?.stop();
});

async function receiver(responder = respondWith(200)) {
  const started = await startReceiver(responder);
  closers.push(() => started.close());
  return started;
}

/** A receiver that answers after 20 ms, so that a run is still going when the test breaks something. */
const slowReceiver = () =>
  receiver(async (_request, _index, res) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    res.writeHead(200);
    res.end();
  });

/** Endpoints of a fresh tenant until every shard has at least one; answers them by shard. */
async function endpointsOnEveryShard(url: string): Promise<{ tenantId: string; byShard: string[][] }> {
  const tenantId = await createTenant(herald, `cluster-${++tenants}`);
  const byShard: string[][] = Array.from({ length: SHARDS }, () => []);
  while (byShard.some((ids) => ids.length === 0)) {
    const id = await createEndpoint(herald, tenantId, `${url}/${tenantId}/${byShard.flat().length}`);
    byShard[shardOf(id, SHARDS)]?.push(id);
  }
  return { tenantId, byShard };
}

async function evalCalls(url: string): Promise<number> {
  const node = new Redis(url);
  try {
    const stats = await node.info("commandstats");
    return Number(/^cmdstat_evalsha:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
  } finally {
    node.disconnect();
  }
}

const succeededFor = async (tenantId: string) =>
  (await sql<{ n: number }[]>`select count(*)::int as n from deliveries where tenant_id = ${tenantId} and status = 'succeeded'`)[0]?.n ?? 0;

describe("sharded queues on a Redis Cluster", () => {
  it("delivers to endpoints on every shard, each shard's scripts running on its own master", async () => {
    const target = await receiver();
    const { tenantId, byShard } = await endpointsOnEveryShard(target.url);
    const endpoints = byShard.flat().length;
    const before = await Promise.all(cluster.urls.map(evalCalls));
    await publishMany(herald, tenantId, 20);
    await eventually(async () => (await succeededFor(tenantId)) === 20 * endpoints, { timeoutMs: 60_000, what: "every delivery" });
    const after = await Promise.all(cluster.urls.map(evalCalls));
    // Every master ran delivery scripts: the shards are spread, not piled on one node.
    after.forEach((calls, i) => {
      expect(calls - (before[i] ?? 0), `master ${i}`).toBeGreaterThan(0);
    });
  });

  it("retries a receiver that fails twice, on any shard", async () => {
    const failures = new Map<string, number>();
    const target = await receiver((request, _index, res) => {
      const seen = failures.get(request.path) ?? 0;
      failures.set(request.path, seen + 1);
      res.writeHead(seen < 2 ? 500 : 200);
      res.end();
    });
    const { tenantId, byShard } = await endpointsOnEveryShard(target.url);
    await publishMany(herald, tenantId, 1);
    const endpoints = byShard.flat().length;
    await eventually(async () => (await succeededFor(tenantId)) === endpoints, { timeoutMs: 60_000, what: "the retried deliveries" });
    const [row] = await sql<{ attempts: number }[]>`
      select count(*)::int as attempts from attempts a join deliveries d on d.id = a.delivery_id where d.tenant_id = ${tenantId}`;
    expect(row?.attempts).toBe(3 * endpoints);
  });

  it("opens one circuit for both workers: a failing endpoint's deliveries park instead of being tried", async () => {
    const target = await receiver(respondWith(500));
    const tenantId = await createTenant(herald, `cluster-${++tenants}`);
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/failing`);
    await publishMany(herald, tenantId, 40);
    await eventually(
      async () => {
        const [row] = await sql<
          { parked: number }[]
        >`select count(*)::int as parked from deliveries where endpoint_id = ${endpointId} and parked`;
        return (row?.parked ?? 0) >= 30;
      },
      { timeoutMs: 30_000, what: "the failing endpoint's deliveries to park" },
    );
    // Far fewer requests than deliveries × attempts: the open circuit held both workers back.
    expect(target.requests.length).toBeLessThan(40);
  });

  it("holds one rate limit across both workers", async () => {
    const rate = 5;
    const target = await receiver();
    const tenantId = await createTenant(herald, `cluster-${++tenants}`);
    await createEndpoint(herald, tenantId, `${target.url}/limited`, { rateLimit: rate });
    await publishMany(herald, tenantId, 15);
    await eventually(async () => (await succeededFor(tenantId)) === 15, { timeoutMs: 60_000, what: "the rate-limited deliveries" });
    const times = target.requests.map((request) => request.receivedAt).sort((a, b) => a - b);
    // No one-second window holds more than the limit (one more for arrival jitter at the window's edge).
    const busiest = Math.max(...times.map((start) => times.filter((t) => t >= start && t < start + 1000).length));
    expect(busiest).toBeLessThanOrEqual(rate + 1);
  });

  // A dead worker's jobs come back after up to two stalled checks (the lock lasts the 5 s delivery timeout + 10 s)
  // and its leases lapse with them: the wait for every delivery is 90 s, and the test's own limit is above it.
  it("loses nothing when a worker is SIGKILLed mid-run", { timeout: 120_000 }, async () => {
    const target = await slowReceiver();
    const { tenantId, byShard } = await endpointsOnEveryShard(target.url);
    const expected = 60 * byShard.flat().length;
    await publishMany(herald, tenantId, 60);
    await target.waitForRequests(20, 30_000);
    const victim = herald.workers[0];
    victim?.child.kill("SIGKILL");
    await victim?.exited;
    await herald.addWorker();
    await eventually(async () => (await succeededFor(tenantId)) === expected, { timeoutMs: 90_000, what: "every delivery after the kill" });
  });

  it("restores from PostgreSQL the deliveries of a master that lost its data", { timeout: 120_000 }, async () => {
    const target = await slowReceiver();
    const { tenantId, byShard } = await endpointsOnEveryShard(target.url);
    const expected = 60 * byShard.flat().length;
    await publishMany(herald, tenantId, 60);
    await target.waitForRequests(10, 30_000);
    await cluster.flushNode(1);
    await eventually(async () => (await succeededFor(tenantId)) === expected, {
      timeoutMs: 90_000,
      what: "every delivery after one master was flushed",
    });
  });
});
