import { describe, expect, it } from "vitest";
import { hasPrefix, idFloor, newId } from "./ids.ts";
import { matchingSubscriptions } from "./subscriptions.ts";

describe("ids", () => {
  it("are prefixed and sort in creation order, even within one millisecond", () => {
    const ids = Array.from({ length: 1000 }, () => newId("event", 1_800_000_000_000));
    expect(ids.every((id) => hasPrefix("event", id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    const later = newId("event", 1_800_000_000_001);
    expect(later > (ids.at(-1) as string)).toBe(true);
  });

  it("have a floor for time-range filters", () => {
    const at = new Date(1_900_000_000_000);
    const floor = idFloor("delivery", at);
    expect(newId("delivery", at.getTime() - 1) < floor).toBe(true);
    expect(newId("delivery", at.getTime()) > floor).toBe(true);
  });
});

describe("subscription matching", () => {
  it("lists the type, every prefix wildcard and *", () => {
    expect(matchingSubscriptions("payment.card.captured").sort()).toEqual(
      ["*", "payment.*", "payment.card.*", "payment.card.captured"].sort(),
    );
  });
});
