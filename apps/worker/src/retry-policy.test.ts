import { describe, expect, it } from "vitest";
import { decideRetry } from "./retry-policy.ts";

const policy = { schedule: [0, 5000, 300_000, 1_800_000], jitter: 0.2, retryAfterMaxMs: 3_600_000 };
const noJitter = { ...policy, jitter: 0 };

describe("retry policy", () => {
  it("follows the schedule, then stops", () => {
    expect(decideRetry(noJitter, 1)).toEqual({ retry: true, delayMs: 5000 });
    expect(decideRetry(noJitter, 2)).toEqual({ retry: true, delayMs: 300_000 });
    expect(decideRetry(noJitter, 3)).toEqual({ retry: true, delayMs: 1_800_000 });
    expect(decideRetry(noJitter, 4)).toEqual({ retry: false });
  });

  it("keeps jitter within ±20 %", () => {
    expect(decideRetry(policy, 1, { random: () => 0 })).toEqual({ retry: true, delayMs: 4000 });
    expect(decideRetry(policy, 1, { random: () => 1 })).toEqual({ retry: true, delayMs: 6000 });
  });

  it("honours a per-endpoint attempt count, repeating the last delay", () => {
    expect(decideRetry(noJitter, 2, { maxAttempts: 2 })).toEqual({ retry: false });
    expect(decideRetry(noJitter, 5, { maxAttempts: 8 })).toEqual({ retry: true, delayMs: 1_800_000 });
  });

  it("waits at least what Retry-After asks, up to the bound", () => {
    expect(decideRetry(noJitter, 1, { retryAfterMs: 60_000 })).toEqual({ retry: true, delayMs: 60_000 });
    expect(decideRetry(noJitter, 1, { retryAfterMs: 1000 })).toEqual({ retry: true, delayMs: 5000 });
    expect(decideRetry(noJitter, 1, { retryAfterMs: 86_400_000 })).toEqual({ retry: true, delayMs: 3_600_000 });
  });
});
