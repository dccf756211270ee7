import type { FastReceiver, ReceiverCounters } from "./receiver.ts";

/** Progress goes to stderr so stdout carries only the JSON lines of the results. */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export const now = () => performance.timeOrigin + performance.now();

/**
 * Waits until the receiver has answered `count` requests, printing progress
 * every second. Gives up after `timeoutMs` and returns what arrived, so a
 * stalled scenario still reports a (bad) number instead of hanging the suite.
 */
export async function waitForReceived(
  receiver: FastReceiver,
  count: number,
  { label, timeoutMs }: { label: string; timeoutMs: number },
): Promise<{ counters: ReceiverCounters; complete: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  const ticker = setInterval(async () => {
    const stats = await receiver.stats();
    log(`${label}: ${stats.count}/${count} received`);
  }, 1000);
  try {
    const done = receiver.waitFor(count).then((counters) => ({ counters, complete: true }));
    const late = new Promise<{ counters: ReceiverCounters; complete: boolean }>((resolve) => {
      timer = setTimeout(async () => resolve({ counters: await receiver.stats(), complete: false }), timeoutMs);
    });
    return await Promise.race([done, late]);
  } finally {
    clearInterval(ticker);
    clearTimeout(timer);
  }
}

/** Re-checks `check` every `intervalMs` until it is true or `timeoutMs` passes; answers when it became true. */
export async function pollUntil(check: () => Promise<boolean>, { intervalMs = 20, timeoutMs = 60_000 } = {}): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return now();
    if (Date.now() > deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export const round = (value: number, digits = 0) => {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
};
