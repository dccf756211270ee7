import { describe, expect, it } from "vitest";
import { SlotWaiters, type WaitEnd } from "./slot-waiters.ts";

const LONG = 60_000;

describe("slot waiters", () => {
  it("wakes the longest-waiting job of that endpoint only", async () => {
    const waiters = new SlotWaiters(10);
    const order: string[] = [];
    const a1 = waiters.wait("a", LONG, LONG)?.then((why) => order.push(`a1 ${why}`));
    const a2 = waiters.wait("a", LONG, LONG)?.then((why) => order.push(`a2 ${why}`));
    const b1 = waiters.wait("b", LONG, LONG)?.then((why) => order.push(`b1 ${why}`));
    expect(waiters.size).toBe(3);
    waiters.wake("a");
    await a1;
    expect(order).toEqual(["a1 woken"]);
    expect(waiters.size).toBe(2);
    waiters.wake("b");
    waiters.wake("a");
    await Promise.all([a2, b1]);
    expect(order.sort()).toEqual(["a1 woken", "a2 woken", "b1 woken"]);
    expect(waiters.size).toBe(0);
    // Waking an endpoint nobody waits for does nothing.
    waiters.wake("a");
    expect(waiters.size).toBe(0);
  });

  it("stops waiting after the timeout when nothing wakes it", async () => {
    const waiters = new SlotWaiters(10);
    const waited = waiters.wait("a", LONG, 20);
    expect(waiters.size).toBe(1);
    expect(await waited).toBe("expired");
    expect(waiters.size).toBe(0);
  });

  it("lets only the longest-waiting job of an endpoint recheck, one at a time", async () => {
    const waiters = new SlotWaiters(10);
    const ends: string[] = [];
    const jobs = ["j1", "j2", "j3"].map((name) => waiters.wait("a", 10, LONG)?.then((why: WaitEnd) => ends.push(`${name} ${why}`)));
    // Another endpoint's waiter has its own turn.
    const other = waiters.wait("b", 10, LONG)?.then((why: WaitEnd) => ends.push(`b ${why}`));
    await jobs[0];
    await other;
    // One recheck each: the others of the endpoint still wait, with their order kept.
    expect(ends.sort()).toEqual(["b recheck", "j1 recheck"]);
    expect(waiters.size).toBe(2);
    // Refused again, j1 goes back in front of j2 and j3.
    const again = waiters.wait("a", 10, LONG, true)?.then((why: WaitEnd) => ends.push(`j1 again ${why}`));
    waiters.wake("a");
    await again;
    expect(ends).toContain("j1 again woken");
    await jobs[1];
    await jobs[2];
    expect(ends.filter((end) => end.startsWith("j2") || end.startsWith("j3"))).toEqual(["j2 recheck", "j3 recheck"]);
    expect(waiters.size).toBe(0);
  });

  it("refuses more than `max` waiting jobs across endpoints", () => {
    const waiters = new SlotWaiters(2);
    expect(waiters.wait("a", LONG, LONG)).toBeDefined();
    expect(waiters.wait("b", LONG, LONG)).toBeDefined();
    expect(waiters.wait("c", LONG, LONG)).toBeUndefined();
    waiters.wake("a");
    expect(waiters.size).toBe(1);
    expect(waiters.wait("c", LONG, LONG)).toBeDefined();
    waiters.wake("b");
    waiters.wake("c");
  });
});
