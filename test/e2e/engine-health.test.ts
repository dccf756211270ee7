import { eventually, type Herald, respondWith, startHerald, startReceiver } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpoint, createTenant, type Db, database, publishMany } from "./engine-support.ts";

/**
 * Endpoint health across two worker processes that share Redis: the circuit
 * breaker, the in-flight cap, the rate limit and the auto-disable window.
 */

let herald: Herald;
let sql: Db;
let redis: Redis;
let tenants = 0;
const closers: (() => unknown)[] = [];

const COOLDOWN_MS = 2000;

beforeAll(async () => {
  herald = await startHerald({
    workers: 2,
    env: {
      HERALD_RETRY_SCHEDULE: "0,200ms,200ms,200ms,200ms,200ms,200ms,200ms",
      HERALD_RETRY_JITTER: "0",
      HERALD_CIRCUIT_THRESHOLD: "3",
      HERALD_CIRCUIT_COOLDOWN: `${COOLDOWN_MS}ms`,
      HERALD_ENDPOINT_CONCURRENCY: "1",
      // Far longer than the circuit breaker case fails (about 2.5 s idle, more on a busy machine),
      // which must end in success, not in a disabled endpoint; the auto-disable case waits for it.
      HERALD_DISABLE_AFTER: "10s",
      HERALD_METRICS_PORT: "0",
    },
  });
  sql = database(herald);
  redis = new Redis(herald.env.REDIS_URL as string);
});

afterAll(async () => {
  for (const close of closers) await close();
  redis?.disconnect();
  await sql?.end();
  await herald?.stop();
});

const freshTenant = () => createTenant(herald, `health-${++tenants}`);

async function receiver(responder = respondWith(200)) {
  const started = await startReceiver(responder);
  closers.push(() => started.close());
  return started;
}

/** A counter of every worker's /metrics, summed. */
async function workerCounter(pattern: RegExp): Promise<number> {
  const values = await Promise.all(
    herald.workers.map(async (worker) => {
      const url = worker.output().match(/metrics on (http:\/\/\S+)/)?.[1] as string;
      const text = await (await fetch(url)).text();
      return Number(text.match(pattern)?.[1] ?? 0);
    }),
  );
  return values.reduce((sum, value) => sum + value, 0);
}

async function attemptsRecorded(endpointId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`select coalesce(sum(attempts), 0)::int as n from deliveries where endpoint_id = ${endpointId}`;
  return row?.n ?? 0;
}

function untilAll(endpointId: string, status: string, count: number) {
  return eventually(
    async () => {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from deliveries where endpoint_id = ${endpointId} and status = ${status}`;
      return row?.n === count;
    },
    { timeoutMs: 45_000, what: `${count} deliveries to be ${status}` },
  );
}

describe("circuit breaker", () => {
  it("opens after the threshold, holds deliveries without using attempts, lets a probe through and closes", async () => {
    let failing = true;
    const target = await receiver((request, index, res) => {
      if (failing) {
        res.writeHead(503);
        res.end();
      } else respondWith(200)(request, index, res);
    });
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/breaker`);
    await publishMany(herald, tenantId, 5);

    const circuit = `${herald.queuePrefix}:ep:${endpointId}:circuit`;
    await eventually(async () => Number(await redis.hget(circuit, "openUntil")) > 0, { what: "the circuit to open" });
    // One request in flight at a time (HERALD_ENDPOINT_CONCURRENCY=1): the third failure opened it.
    expect(target.requests).toHaveLength(3);
    const openedAt = target.requests[2]?.receivedAt ?? 0;
    failing = false;

    await untilAll(endpointId, "succeeded", 5);
    const probe = target.requests[3];
    // Nothing was sent during the cool-down.
    expect((probe?.receivedAt ?? 0) - openedAt).toBeGreaterThanOrEqual(COOLDOWN_MS - 50);
    // Held-back jobs burned no attempt: every recorded attempt is a request the receiver saw.
    expect(await attemptsRecorded(endpointId)).toBe(target.requests.length);
    expect(await redis.hget(circuit, "openUntil")).toBeNull();
  });
});

describe("in-flight cap", () => {
  it("keeps at most HERALD_ENDPOINT_CONCURRENCY requests in flight per endpoint across both workers", async () => {
    let inFlight = 0;
    let peak = 0;
    const slow = await receiver((_request, _index, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight--;
        res.writeHead(200);
        res.end();
      }, 50);
    });
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${slow.url}/slow`);
    await publishMany(herald, tenantId, 12);
    await untilAll(endpointId, "succeeded", 12);
    expect(peak).toBe(1);
    expect(await attemptsRecorded(endpointId)).toBe(12);
  });

  it("has the jobs of a full endpoint that answers quickly wait for a slot in the worker, not in Redis's delayed set", async () => {
    const quick = await receiver((_request, _index, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end();
      }, 20);
    });
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${quick.url}/quick`);
    // It has answered once: an endpoint that never has may never free a slot, and its jobs are not kept waiting.
    await publishMany(herald, tenantId, 1);
    await untilAll(endpointId, "succeeded", 1);
    const heldBack = /herald_deliveries_delayed_total\{reason="concurrency"\} (\d+)/;
    const before = await workerCounter(heldBack);
    await publishMany(herald, tenantId, 10);
    await untilAll(endpointId, "succeeded", 11);
    // One slot, ten jobs at once: nine waited their turn in the workers, none went back to Redis.
    expect(quick.requests).toHaveLength(11);
    expect(await workerCounter(heldBack)).toBe(before);
  });
});

describe("rate limit", () => {
  it("holds across two worker processes", async () => {
    const rate = 10;
    const count = 40;
    const target = await receiver();
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/limited`, { rateLimit: rate });
    await publishMany(herald, tenantId, count);
    await untilAll(endpointId, "succeeded", count);

    const times = target.requests.map((r) => r.receivedAt).sort((a, b) => a - b);
    expect(times).toHaveLength(count);
    // No one-second window holds more than the limit (one more for arrival jitter at the window's edge).
    let busiest = 0;
    for (let i = 0; i < times.length; i++) {
      const start = times[i] as number;
      busiest = Math.max(busiest, times.filter((t) => t >= start && t < start + 1000).length);
    }
    expect(busiest).toBeLessThanOrEqual(rate + 1);
    const measured = ((count - 1) * 1000) / ((times.at(-1) as number) - (times[0] as number));
    expect(measured).toBeLessThanOrEqual(rate * 1.1);
    // Loose below: this proves the limit delays rather than stalls; speed belongs to benchmarks. With one request
    // in flight (HERALD_ENDPOINT_CONCURRENCY=1) a busy machine's slower requests lower it (1.9/s measured under load).
    expect(measured).toBeGreaterThanOrEqual(rate * 0.1);

    // Both processes delivered to it: the limit is shared, not per process; jobs over it were delayed.
    const perWorker = await Promise.all(
      herald.workers.map(async (worker) => {
        const url = worker.output().match(/metrics on (http:\/\/\S+)/)?.[1] as string;
        const text = await (await fetch(url)).text();
        const read = (pattern: RegExp) => Number(text.match(pattern)?.[1] ?? 0);
        return {
          succeeded: read(/herald_deliveries_total\{outcome="succeeded"\} (\d+)/),
          delayed: read(/herald_deliveries_delayed_total\{reason="rate_limit"\} (\d+)/),
        };
      }),
    );
    expect(perWorker.every((w) => w.succeeded > 0)).toBe(true);
    expect(perWorker.reduce((sum, w) => sum + w.delayed, 0)).toBeGreaterThan(0);
  });
});

describe("auto-disable", () => {
  it("disables an endpoint failing for longer than HERALD_DISABLE_AFTER, holds the rest and emits endpoint.disabled", async () => {
    const target = await receiver(respondWith(500, "still broken"));
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${target.url}/dead`);
    await publishMany(herald, tenantId, 3);

    const endpoint = await eventually(
      async () => {
        const view = await herald.request("GET", `/v1/tenants/${tenantId}/endpoints/${endpointId}`);
        return view.body.disabled ? view.body : undefined;
      },
      { timeoutMs: 40_000, what: "the endpoint to be disabled" },
    );
    expect(endpoint.disabledReason).toMatch(/^no successful delivery since \d{4}-\d\d-\d\dT/);
    await untilAll(endpointId, "held", 3);

    const event = await eventually(
      async () => {
        const listed = await herald.request("GET", "/v1/tenants/herald-operator/events");
        return listed.body?.data?.find((e: { eventType: string }) => e.eventType === "endpoint.disabled");
      },
      { what: "the endpoint.disabled event in the operator tenant" },
    );
    const shown = await herald.request("GET", `/v1/tenants/herald-operator/events/${event.id}`);
    expect(shown.body.payload).toMatchObject({ endpointId, tenantId, reason: endpoint.disabledReason });
  });
});
