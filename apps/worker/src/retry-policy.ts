export interface RetryPolicy {
  /** Delay before each attempt; index 0 is the first attempt (normally 0). */
  schedule: readonly number[];
  /** ±fraction applied to each delay, so retries of a burst do not arrive together. */
  jitter: number;
  /** Upper bound on a receiver's Retry-After. */
  retryAfterMaxMs: number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false };

/**
 * What to do after failed attempt number `attempt` (1-based): wait the next
 * delay of the schedule (with jitter), or at least what Retry-After asked for,
 * or stop because the budget is spent.
 */
export function decideRetry(
  policy: RetryPolicy,
  attempt: number,
  options: { maxAttempts?: number | null; retryAfterMs?: number | null; random?: () => number } = {},
): RetryDecision {
  const maxAttempts = options.maxAttempts ?? policy.schedule.length;
  if (attempt >= maxAttempts) return { retry: false };
  // An endpoint may allow more attempts than the schedule lists; the last delay repeats.
  const base = policy.schedule[Math.min(attempt, policy.schedule.length - 1)] ?? 0;
  const random = options.random ?? Math.random;
  const jittered = Math.round(base * (1 + policy.jitter * (random() * 2 - 1)));
  const asked = options.retryAfterMs == null ? 0 : Math.min(options.retryAfterMs, policy.retryAfterMaxMs);
  return { retry: true, delayMs: Math.max(jittered, asked) };
}
