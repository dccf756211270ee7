import { deletePrefix, freshQueuePrefix, TEST_REDIS_URL } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpointGuard, type EndpointGuard } from "./endpoint-guard.ts";

let redis: Redis;
let prefix: string;
let guard: EndpointGuard;
let endpoints = 0;
const fresh = () => `ep_test_${++endpoints}`;

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
  prefix = freshQueuePrefix();
  guard = createEndpointGuard(redis, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: 300, leaseMs: 1000 });
});

afterAll(async () => {
  await deletePrefix(prefix);
  redis.disconnect();
});

describe("endpoint guard", () => {
  it("admits up to the in-flight cap, then asks to wait; a release frees a slot", async () => {
    const id = fresh();
    expect(await guard.acquire(id, "a", null)).toEqual({ admitted: true, reason: "admitted" });
    expect(await guard.acquire(id, "b", null)).toEqual({ admitted: true, reason: "admitted" });
    const third = await guard.acquire(id, "c", null);
    expect(third).toMatchObject({ admitted: false, reason: "concurrency" });
    await guard.release(id, "a", true);
    expect(await guard.acquire(id, "c", null)).toMatchObject({ admitted: true });
  });

  it("lets the lease of a worker that never released expire", async () => {
    const id = fresh();
    const short = createEndpointGuard(redis, { prefix, concurrency: 1, circuitThreshold: 3, circuitCooldownMs: 300, leaseMs: 100 });
    expect(await short.acquire(id, "dead-worker", null)).toMatchObject({ admitted: true });
    expect(await short.acquire(id, "next", null)).toMatchObject({ admitted: false, reason: "concurrency" });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await short.acquire(id, "next", null)).toMatchObject({ admitted: true });
    expect(await redis.pttl(`${prefix}:ep:${id}:slots`)).toBeGreaterThan(0);
  });

  it("spaces admissions by the rate limit and says how long to wait", async () => {
    const id = fresh();
    expect(await guard.acquire(id, "a", 5)).toMatchObject({ admitted: true });
    await guard.release(id, "a", true);
    const next = await guard.acquire(id, "b", 5);
    expect(next).toMatchObject({ admitted: false, reason: "rate_limit" });
    expect(next.admitted === false && next.delayMs).toBeGreaterThan(100);
    expect(next.admitted === false && next.delayMs).toBeLessThanOrEqual(400);
  });

  it("opens after consecutive failures, lets one probe through after the cool-down, closes on success", async () => {
    const id = fresh();
    for (const lease of ["1", "2"]) {
      await guard.acquire(id, lease, null);
      expect(await guard.release(id, lease, false)).toBe(false);
    }
    await guard.acquire(id, "3", null);
    expect(await guard.release(id, "3", false)).toBe(true);
    const blocked = await guard.acquire(id, "4", null);
    expect(blocked).toMatchObject({ admitted: false, reason: "circuit_open" });
    expect(blocked.admitted === false && blocked.delayMs).toBeLessThanOrEqual(300);

    await new Promise((resolve) => setTimeout(resolve, 320));
    expect(await guard.acquire(id, "probe", null)).toEqual({ admitted: true, reason: "probe" });
    expect(await guard.acquire(id, "other", null)).toMatchObject({ admitted: false, reason: "circuit_probe" });
    await guard.release(id, "probe", true);
    expect(await guard.acquire(id, "other", null)).toEqual({ admitted: true, reason: "admitted" });
  });

  it("re-opens at once when the probe fails", async () => {
    const id = fresh();
    for (const lease of ["1", "2", "3"]) {
      await guard.acquire(id, lease, null);
      await guard.release(id, lease, false);
    }
    await new Promise((resolve) => setTimeout(resolve, 320));
    expect(await guard.acquire(id, "probe", null)).toMatchObject({ reason: "probe" });
    await guard.release(id, "probe", false);
    expect(await guard.acquire(id, "next", null)).toMatchObject({ admitted: false, reason: "circuit_open" });
  });

  it("pauses the endpoint for what Retry-After asked, even past a later success", async () => {
    const id = fresh();
    await guard.acquire(id, "a", null);
    await guard.acquire(id, "b", null);
    await guard.release(id, "a", false, 500);
    await guard.release(id, "b", true);
    const paused = await guard.acquire(id, "c", null);
    expect(paused).toMatchObject({ admitted: false, reason: "paused" });
    expect(paused.admitted === false && paused.delayMs).toBeGreaterThan(300);
  });
});
