import {
  eventually,
  type Herald,
  type PrivateRedis,
  type ReceivedRequest,
  respondWith,
  startHerald,
  startPrivateRedis,
  startReceiver,
} from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpoint, createTenant, type Db, database, EVENT_TYPE } from "./engine-support.ts";

/**
 * A dead endpoint's backlog waits in PostgreSQL, not in Redis: it costs the
 * queue nothing while it waits, comes back oldest first at the endpoint's cap
 * when the endpoint does, survives a Redis wipe, and a hot endpoint's burst is
 * not fetched only to be put back. Herald runs on a private redis-server, so
 * the test can count what is in it and wipe it.
 */

const CAP = 4;
const COOLDOWN_MS = 1000;

let redisServer: PrivateRedis;
let herald: Herald;
let sql: Db;
let redis: Redis;
let tenants = 0;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  redisServer = await startPrivateRedis();
  herald = await startHerald({
    env: {
      REDIS_URL: redisServer.url,
      // The first attempt, then an hour: a failed first attempt waits in PostgreSQL, not as a delayed job.
      HERALD_RETRY_SCHEDULE: "0,1h,1h",
      HERALD_RETRY_JITTER: "0",
      HERALD_CIRCUIT_THRESHOLD: "3",
      HERALD_CIRCUIT_COOLDOWN: `${COOLDOWN_MS}ms`,
      HERALD_ENDPOINT_CONCURRENCY: String(CAP),
      HERALD_ENDPOINT_START_CONCURRENCY: String(CAP),
      HERALD_METRICS_PORT: "0",
    },
  });
  sql = database(herald);
  redis = new Redis(redisServer.url);
});

afterAll(async () => {
  for (const close of closers) await close();
  redis?.disconnect();
  await sql?.end();
  await herald?.stop();
  await redisServer?.stop();
});

async function receiver(responder = respondWith(200)) {
  const started = await startReceiver(responder);
  closers.push(() => started.close());
  return started;
}

async function publishBatch(tenantId: string, from: number, count: number): Promise<void> {
  for (let start = from; start < from + count; start += 100) {
    const events = Array.from({ length: Math.min(100, from + count - start) }, (_, i) => ({
      eventType: EVENT_TYPE,
      payload: { n: start + i },
    }));
    const response = await herald.request("POST", `/v1/tenants/${tenantId}/events/batch`, { events });
    expect(response.status, JSON.stringify(response.body)).toBe(202);
  }
}

/** Delivery jobs in Redis, of every state. */
async function jobsInRedis(): Promise<number> {
  let total = 0;
  for (const queue of ["deliveries", "backlog"]) {
    for (const state of ["wait", "active", "delayed", "prioritized"]) {
      const key = `${herald.queuePrefix}:${queue}:${state}`;
      const type = await redis.type(key);
      if (type === "list") total += await redis.llen(key);
      else if (type === "zset") total += await redis.zcard(key);
    }
  }
  return total;
}

/** `parked`: waiting for a release (a released delivery, in the queue, stays parked until its attempt). */
const counts = async (endpointId: string) => {
  const [row] = await sql<{ parked: number; succeeded: number; failed: number; pending: number }[]>`
    select count(*) filter (where parked and released_at is null)::int as parked, count(*) filter (where status = 'succeeded')::int as succeeded,
           count(*) filter (where status = 'failed')::int as failed, count(*) filter (where status = 'pending')::int as pending
    from deliveries where endpoint_id = ${endpointId}`;
  return row as { parked: number; succeeded: number; failed: number; pending: number };
};

async function workerCounter(pattern: RegExp): Promise<number> {
  const url = herald.workers[0]?.output().match(/metrics on (http:\/\/\S+)/)?.[1] as string;
  const text = await (await fetch(url)).text();
  return [...text.matchAll(pattern)].reduce((sum, match) => sum + Number(match[1]), 0);
}

const order = (requests: ReceivedRequest[]) => requests.map((request) => JSON.parse(request.body).data.n as number);

describe("a dead endpoint's backlog", () => {
  it("waits in PostgreSQL with no job in Redis, probes once per cool-down, and drains oldest first at the cap when the endpoint is back", async () => {
    const tenantId = await createTenant(herald, `backlog-${++tenants}`);
    let down = true;
    let inFlight = 0;
    let mostInFlight = 0;
    const dead = await receiver(async (_request, _index, res) => {
      if (down) {
        res.writeHead(503);
        res.end("down");
        return;
      }
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      // Long enough that the cap, not the receiver, sets the pace.
      await new Promise((resolve) => setTimeout(resolve, 20));
      inFlight--;
      res.writeHead(200);
      res.end("ok");
    });
    const healthy = await receiver();
    const deadId = await createEndpoint(herald, tenantId, `${dead.url}/dead`);
    const healthyId = await createEndpoint(herald, tenantId, `${healthy.url}/ok`);
    const total = 400;
    await publishBatch(tenantId, 0, total);

    // The healthy endpoint gets everything while the dead one's circuit opens and its deliveries park.
    await eventually(async () => (await counts(healthyId)).succeeded === total, { what: "the healthy endpoint's deliveries" });
    const parked = await eventually(
      async () => {
        const c = await counts(deadId);
        return c.parked + c.failed === total && (await jobsInRedis()) === 0 ? c : undefined;
      },
      { what: "every delivery to the dead endpoint parked or failed, and no job left in Redis" },
    );
    expect(parked.parked).toBeGreaterThan(total - 4 * CAP);

    // One probe per cool-down, not the backlog: the next two requests are single probes a cool-down apart.
    const before = dead.requests.length;
    await dead.waitForRequests(before + 2, 20_000);
    const [first, second] = dead.requests.slice(before, before + 2) as [ReceivedRequest, ReceivedRequest];
    expect(second.receivedAt - first.receivedAt).toBeGreaterThanOrEqual(COOLDOWN_MS * 0.9);
    expect(await jobsInRedis()).toBeLessThanOrEqual(1);

    // Back: the next probe succeeds, and the backlog drains at the cap, oldest first.
    const waiting = (await counts(deadId)).parked;
    const drainedFrom = dead.requests.length;
    down = false;
    await eventually(async () => (await counts(deadId)).parked === 0 && (await counts(deadId)).pending === 0, {
      timeoutMs: 60_000,
      what: "the backlog to drain",
    });
    const drained = order(dead.requests.slice(drainedFrom));
    expect(drained.length).toBeGreaterThanOrEqual(waiting);
    expect(mostInFlight).toBeLessThanOrEqual(CAP);
    // Oldest first: no delivery arrives more than two windows (4 × CAP each) away from its place in publish order.
    const sorted = [...drained].sort((a, b) => a - b);
    const displacement = Math.max(...drained.map((n, i) => Math.abs(sorted.indexOf(n) - i)));
    expect(displacement).toBeLessThanOrEqual(8 * CAP);
    // Every delivery either succeeded or is a failed attempt made while the endpoint was down (its retry an hour away).
    const final = await counts(deadId);
    expect(final.succeeded + final.failed).toBe(total);
    expect(final.failed).toBeLessThanOrEqual(drainedFrom);
  });

  it("is found again from PostgreSQL after Redis loses everything, and delivered when the endpoint answers", async () => {
    const tenantId = await createTenant(herald, `backlog-${++tenants}`);
    let down = true;
    const target = await receiver((_request, _index, res) => {
      res.writeHead(down ? 500 : 200);
      res.end();
    });
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/wiped`);
    await publishBatch(tenantId, 0, 100);
    const parked = await eventually(
      async () => {
        const c = await counts(endpointId);
        return c.parked + c.failed === 100 && c.parked > 0 ? c : undefined;
      },
      { what: "the backlog to park" },
    );
    await redis.flushall();
    down = false;
    await eventually(async () => (await counts(endpointId)).succeeded === parked.parked, {
      timeoutMs: 60_000,
      what: "the parked deliveries to be delivered after the wipe",
    });
    // The ones whose first attempt failed keep their hour-long retry; nothing is left parked or pending.
    expect(await counts(endpointId)).toMatchObject({ parked: 0, pending: 0, failed: 100 - parked.parked });
  });
});

describe("a hot endpoint", () => {
  it("gets a burst of 2,000 deliveries with at most 0.05 hold-backs per delivery", async () => {
    const tenantId = await createTenant(herald, `hot-${++tenants}`);
    const target = await receiver();
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/hot`);
    const heldBefore = await workerCounter(/herald_deliveries_delayed_total\{reason="[a-z_]+"\} (\d+)/g);
    await publishBatch(tenantId, 0, 2000);
    await eventually(async () => (await counts(endpointId)).succeeded === 2000, { timeoutMs: 60_000, what: "the burst" });
    const heldBack = (await workerCounter(/herald_deliveries_delayed_total\{reason="[a-z_]+"\} (\d+)/g)) - heldBefore;
    expect(heldBack / 2000).toBeLessThanOrEqual(0.05);
  });
});
