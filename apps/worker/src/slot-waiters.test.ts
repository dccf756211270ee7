import { describe, expect, it } from "vitest";
import { SlotWaiters } from "./slot-waiters.ts";

describe("slot waiters", () => {
  it("wakes the longest-waiting job of that endpoint only", async () => {
    const waiters = new SlotWaiters(10);
    const order: string[] = [];
    const a1 = waiters.wait("a", 60_000)?.then(() => order.push("a1"));
    const a2 = waiters.wait("a", 60_000)?.then(() => order.push("a2"));
    const b1 = waiters.wait("b", 60_000)?.then(() => order.push("b1"));
    expect(waiters.size).toBe(3);
    waiters.wake("a");
    await a1;
    expect(order).toEqual(["a1"]);
    expect(waiters.size).toBe(2);
    waiters.wake("b");
    waiters.wake("a");
    await Promise.all([a2, b1]);
    expect(order.sort()).toEqual(["a1", "a2", "b1"]);
    expect(waiters.size).toBe(0);
    // Waking an endpoint nobody waits for does nothing.
    waiters.wake("a");
    expect(waiters.size).toBe(0);
  });

  it("stops waiting after the timeout when nothing wakes it", async () => {
    const waiters = new SlotWaiters(10);
    const waited = waiters.wait("a", 20);
    expect(waiters.size).toBe(1);
    await waited;
    expect(waiters.size).toBe(0);
  });

  it("refuses more than `max` waiting jobs across endpoints", () => {
    const waiters = new SlotWaiters(2);
    expect(waiters.wait("a", 60_000)).toBeDefined();
    expect(waiters.wait("b", 60_000)).toBeDefined();
    expect(waiters.wait("c", 60_000)).toBeUndefined();
    waiters.wake("a");
    expect(waiters.size).toBe(1);
    expect(waiters.wait("c", 60_000)).toBeDefined();
    waiters.wake("b");
    waiters.wake("c");
  });
});
