import { deletePrefix, freshQueuePrefix, TEST_REDIS_URL } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createEndpointGuard, type EndpointGuard } from "./endpoint-guard.ts";

let redis: Redis;
let prefix: string;
let guard: EndpointGuard;
let endpoints = 0;
const COOLDOWN_MS = 1000;
/** Waits out a window measured by Redis's clock; there is no event to await for time passing. */
const waitOut = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms + 50));
const fresh = () => `ep_test_${++endpoints}`;
/** Each lease in these tests is a delivery of its own. */
const d = (endpointId: string, lease: string) => ({ endpointId, deliveryId: `dlv_${endpointId}_${lease}` });

beforeAll(() => {
  redis = new Redis(TEST_REDIS_URL);
  prefix = freshQueuePrefix();
  // Windows (lease, cool-down, rate interval, pause) far longer than a pause between two calls on a busy machine,
  // so a "not yet" answer cannot turn into "already" before the next line runs.
  guard = createEndpointGuard(redis, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: COOLDOWN_MS, leaseMs: 10_000 });
});

afterAll(async () => {
  await deletePrefix(prefix);
  redis.disconnect();
});

describe("endpoint guard", () => {
  it("admits up to the in-flight cap, then asks to wait; a release frees a slot", async () => {
    const id = fresh();
    expect(await guard.acquire(d(id, "a"), "a", null)).toEqual({ admitted: true, reason: "admitted", interruptedAttempt: 0 });
    expect(await guard.acquire(d(id, "b"), "b", null)).toEqual({ admitted: true, reason: "admitted", interruptedAttempt: 0 });
    const third = await guard.acquire(d(id, "c"), "c", null);
    expect(third).toMatchObject({ admitted: false, reason: "concurrency" });
    await guard.release(d(id, "a"), "a", true);
    expect(await guard.acquire(d(id, "c"), "c", null)).toMatchObject({ admitted: true });
  });

  it("says how long the oldest request has run when full, and counts a job asking again from a wait only once", async () => {
    const id = fresh();
    await guard.acquire(d(id, "a"), "a", null);
    await guard.acquire(d(id, "b"), "b", null);
    const waitingKey = `${prefix}:ep:${id}:waiting`;
    const first = await guard.acquire(d(id, "c"), "c", null);
    // It has not answered yet: the worker should not keep the job waiting for it.
    expect(first).toMatchObject({ admitted: false, reason: "concurrency", answering: false });
    expect(first.admitted === false && first.oldestMs).toBeGreaterThanOrEqual(0);
    expect(first.admitted === false && first.oldestMs).toBeLessThan(10_000);
    expect(await redis.get(waitingKey)).toBe("1");
    // The same job asking again from its wait in the worker is not a second job in the endpoint's backlog.
    expect(await guard.acquire(d(id, "c"), "c", null, 1, true)).toMatchObject({ admitted: false, reason: "concurrency" });
    expect(await redis.get(waitingKey)).toBe("1");
    await guard.acquire(d(id, "e"), "e", null);
    expect(await redis.get(waitingKey)).toBe("2");
    // Once a request succeeded, the endpoint is answering.
    await guard.release(d(id, "a"), "a", true);
    await guard.acquire(d(id, "f"), "f", null);
    expect(await guard.acquire(d(id, "g"), "g", null)).toMatchObject({ admitted: false, reason: "concurrency", answering: true });
  });

  it("slow start: an endpoint earns slots by answering and gives half back on a failure", async () => {
    const id = fresh();
    const slow = createEndpointGuard(redis, {
      prefix,
      concurrency: 4,
      startConcurrency: 1,
      circuitThreshold: 100,
      circuitCooldownMs: 300,
      leaseMs: 10_000,
    });
    const inFlight = async (count: number, tag: string) => {
      const leases: string[] = [];
      for (let i = 0; ; i++) {
        const lease = `${tag}${i}`;
        if (!(await slow.acquire(d(id, lease), lease, null)).admitted) break;
        leases.push(lease);
        if (i > 10) break;
      }
      expect(leases).toHaveLength(count);
      return leases;
    };
    // A new endpoint (or one that hangs) holds one slot; three answers earn three more, up to the cap of four.
    const [first] = await inFlight(1, "a");
    await slow.release(d(id, first as string), first as string, true);
    for (const lease of await inFlight(2, "b")) await slow.release(d(id, lease), lease, true);
    for (const lease of await inFlight(4, "c")) await slow.release(d(id, lease), lease, true);
    // Each failure halves what was earned: after four, only the starting slot is left.
    const [failing, ...rest] = await inFlight(4, "d");
    await slow.release(d(id, failing as string), failing as string, false);
    for (const lease of rest) await slow.release(d(id, lease), lease, false);
    await inFlight(1, "e");
  });

  it("lets the lease of a worker that never released expire", async () => {
    const id = fresh();
    const short = createEndpointGuard(redis, { prefix, concurrency: 1, circuitThreshold: 3, circuitCooldownMs: 300, leaseMs: 1000 });
    expect(await short.acquire(d(id, "dead-worker"), "dead-worker", null)).toMatchObject({ admitted: true });
    expect(await short.acquire(d(id, "next"), "next", null)).toMatchObject({ admitted: false, reason: "concurrency" });
    await waitOut(1000);
    expect(await short.acquire(d(id, "next"), "next", null)).toMatchObject({ admitted: true });
    expect(await redis.pttl(`${prefix}:ep:${id}:slots`)).toBeGreaterThan(0);
  });

  it("spaces admissions by the rate limit and says how long to wait", async () => {
    const id = fresh();
    expect(await guard.acquire(d(id, "a"), "a", 1)).toMatchObject({ admitted: true });
    await guard.release(d(id, "a"), "a", true);
    const next = await guard.acquire(d(id, "b"), "b", 1);
    expect(next).toMatchObject({ admitted: false, reason: "rate_limit" });
    expect(next.admitted === false && next.delayMs).toBeGreaterThan(500);
    expect(next.admitted === false && next.delayMs).toBeLessThanOrEqual(2000);
  });

  it("opens after consecutive failures, lets one probe through after the cool-down, closes on success", async () => {
    const id = fresh();
    for (const lease of ["1", "2"]) {
      await guard.acquire(d(id, lease), lease, null);
      expect(await guard.release(d(id, lease), lease, false)).toEqual({ opened: false, refill: 0 });
    }
    await guard.acquire(d(id, "3"), "3", null);
    expect(await guard.release(d(id, "3"), "3", false)).toEqual({ opened: true, refill: 0 });
    const blocked = await guard.acquire(d(id, "4"), "4", null);
    expect(blocked).toMatchObject({ admitted: false, reason: "circuit_open" });
    expect(blocked.admitted === false && blocked.delayMs).toBeLessThanOrEqual(COOLDOWN_MS);

    await waitOut(COOLDOWN_MS);
    expect(await guard.acquire(d(id, "probe"), "probe", null)).toMatchObject({ admitted: true, reason: "probe" });
    expect(await guard.acquire(d(id, "other"), "other", null)).toMatchObject({ admitted: false, reason: "circuit_probe" });
    await guard.release(d(id, "probe"), "probe", true);
    expect(await guard.acquire(d(id, "other"), "other", null)).toMatchObject({ admitted: true, reason: "admitted" });
  });

  it("re-opens at once when the probe fails", async () => {
    const id = fresh();
    for (const lease of ["1", "2", "3"]) {
      await guard.acquire(d(id, lease), lease, null);
      await guard.release(d(id, lease), lease, false);
    }
    await waitOut(COOLDOWN_MS);
    expect(await guard.acquire(d(id, "probe"), "probe", null)).toMatchObject({ reason: "probe" });
    await guard.release(d(id, "probe"), "probe", false);
    expect(await guard.acquire(d(id, "next"), "next", null)).toMatchObject({ admitted: false, reason: "circuit_open" });
  });

  it("pauses the endpoint for what Retry-After asked, even past a later success", async () => {
    const id = fresh();
    await guard.acquire(d(id, "a"), "a", null);
    await guard.acquire(d(id, "b"), "b", null);
    await guard.release(d(id, "a"), "a", false, 5000);
    await guard.release(d(id, "b"), "b", true);
    const paused = await guard.acquire(d(id, "c"), "c", null);
    expect(paused).toMatchObject({ admitted: false, reason: "paused" });
    expect(paused.admitted === false && paused.delayMs).toBeGreaterThan(3000);
  });

  it("reports an attempt whose worker stopped between sending and recording", async () => {
    const delivery = { endpointId: fresh(), deliveryId: "dlv_interrupted" };
    expect(await guard.acquire(delivery, "run-1", null, 1)).toMatchObject({ admitted: true, interruptedAttempt: 0 });
    // run-1 dies without releasing; the job runs again.
    expect(await guard.acquire(delivery, "run-2", null, 1)).toMatchObject({ admitted: true, interruptedAttempt: 1 });
    await guard.release(delivery, "run-2", true);
    expect(await guard.acquire(delivery, "run-3", null, 3)).toMatchObject({ admitted: true, interruptedAttempt: 0 });
  });

  it("parks an endpoint at the earliest time asked, and counts down the jobs released from its backlog", async () => {
    const id = fresh();
    const parked = `${prefix}:parked`;
    await guard.park(id, 5_000);
    await guard.park(id, 9_000);
    expect(await redis.zscore(parked, id)).toBe("5000");
    await guard.park(id, 1_000);
    expect(await redis.zscore(parked, id)).toBe("1000");
    await guard.addQueued(id, 4);
    expect((await guard.states([id])).get(id)).toMatchObject({ openUntil: 0, pausedUntil: 0, queued: 4 });
    // A refused job leaves the queue too.
    await guard.park(id, 1_000);
    expect((await guard.states([id])).get(id)?.queued).toBe(3);
  });

  it("asks for a refill once two caps' worth of a draining endpoint's window have finished, not before", async () => {
    // Cap 2: the window is 8 jobs, refilled when 4 or fewer are left.
    const id = fresh();
    await guard.park(id, Date.now() + 60_000);
    await guard.addQueued(id, 8);
    const run = async (lease: string, ok = true) => {
      expect(await guard.acquire(d(id, lease), lease, null)).toMatchObject({ admitted: true });
      return guard.release(d(id, lease), lease, ok);
    };
    for (const lease of ["a", "b", "c"]) expect(await run(lease)).toEqual({ opened: false, refill: 0 });
    expect(await run("d")).toEqual({ opened: false, refill: 4 });
    // An endpoint that is not parked never asks.
    await redis.zrem(`${prefix}:parked`, id);
    expect(await run("e")).toEqual({ opened: false, refill: 0 });
  });

  it("keeps draining through failures below the threshold, and stops when one opens the circuit until the cool-down ends", async () => {
    const id = fresh();
    await guard.park(id, Date.now());
    for (const lease of ["1", "2"]) {
      await guard.acquire(d(id, lease), lease, null);
      expect(await guard.release(d(id, lease), lease, false)).toEqual({ opened: false, refill: 8 });
    }
    await guard.acquire(d(id, "3"), "3", null);
    expect(await guard.release(d(id, "3"), "3", false)).toEqual({ opened: true, refill: 0 });
    const { openUntil } = (await guard.states([id])).get(id) ?? { openUntil: 0 };
    expect(openUntil).toBeGreaterThan(Date.now());
    expect(Number(await redis.zscore(`${prefix}:parked`, id))).toBe(openUntil);
  });

  it("settles what is asked in one turn with one script call per shard: releases first, then admissions in order", async () => {
    const id = fresh();
    const other = fresh();
    const calls = vi.spyOn(redis as unknown as { heraldGuard: (...args: unknown[]) => Promise<unknown> }, "heraldGuard");
    try {
      // Cap 2: the third admission of one endpoint waits; another endpoint in the same call is counted apart.
      const first = await Promise.all([
        guard.acquire(d(id, "a"), "a", null),
        guard.acquire(d(id, "b"), "b", null),
        guard.acquire(d(id, "c"), "c", null),
        guard.acquire(d(other, "x"), "x", null),
      ]);
      expect(first.map((answer) => answer.admitted)).toEqual([true, true, false, true]);
      expect(first[2]).toMatchObject({ reason: "concurrency", answering: false });
      expect(calls).toHaveBeenCalledTimes(1);
      expect(await redis.zcard(`${prefix}:ep:${id}:slots`)).toBe(2);
      expect(await redis.get(`${prefix}:ep:${id}:waiting`)).toBe("1");

      // A release asked in the same turn as an admission frees its slot first, whatever the order of the calls.
      const [again, released] = await Promise.all([guard.acquire(d(id, "c"), "c", null, 1, true), guard.release(d(id, "a"), "a", true)]);
      expect(again).toMatchObject({ admitted: true, reason: "admitted" });
      expect(released).toEqual({ opened: false, refill: 0 });
      expect(calls).toHaveBeenCalledTimes(2);
      expect((await redis.zrange(`${prefix}:ep:${id}:slots`, 0, -1)).sort()).toEqual(["b", "c"]);
      expect(await redis.exists(`${prefix}:sending:${d(id, "a").deliveryId}`)).toBe(0);
      expect(await redis.get(`${prefix}:sending:${d(id, "c").deliveryId}`)).toBe("1");

      // Three failures in one call: the third opens the circuit, and an admission after them in the same call is refused.
      const third = fresh();
      for (const lease of ["1", "2", "3"]) await guard.acquire(d(third, lease), lease, null);
      calls.mockClear();
      const settled = await Promise.all([
        guard.release(d(third, "1"), "1", false),
        guard.release(d(third, "2"), "2", false),
        guard.release(d(third, "3"), "3", false),
        guard.acquire(d(third, "4"), "4", null),
      ]);
      expect(settled.slice(0, 3)).toEqual([
        { opened: false, refill: 0 },
        { opened: false, refill: 0 },
        { opened: true, refill: 0 },
      ]);
      expect(settled[3]).toMatchObject({ admitted: false, reason: "circuit_open" });
      expect(calls).toHaveBeenCalledTimes(1);
      expect(await redis.hget(`${prefix}:ep:${third}:circuit`, "failures")).toBe("3");
    } finally {
      calls.mockRestore();
    }
  });

  it("asks a draining endpoint's refill once per call, from its last release, with what is left in the queue", async () => {
    const id = fresh();
    await guard.park(id, Date.now() + 60_000);
    await guard.addQueued(id, 8);
    const finish = async (leases: string[]) => {
      for (const lease of leases) await guard.acquire(d(id, lease), lease, null);
      return Promise.all(leases.map((lease) => guard.release(d(id, lease), lease, true)));
    };
    // Cap 2: window 8, refilled at 4 or fewer. Two finished leave 6: no refill yet.
    expect(await finish(["a", "b"])).toEqual([
      { opened: false, refill: 0 },
      { opened: false, refill: 0 },
    ]);
    // Two more leave 4, so the last release of the call asks for 4.
    expect(await finish(["c", "d"])).toEqual([
      { opened: false, refill: 0 },
      { opened: false, refill: 4 },
    ]);
    expect((await guard.states([id])).get(id)?.queued).toBe(4);
  });
});
