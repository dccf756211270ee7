import type { DeliveryQueues } from "@herald/queue";
import type { Logger } from "pino";

/**
 * A pass that one worker of all makes each interval: every worker ticks, the
 * one that takes the lock (its TTL a little shorter than the interval, so the
 * next tick of the worker that made the pass finds it free) runs it, and a
 * tick while this worker's pass still runs does nothing.
 */
export function createPeriodicPass<T>(
  deps: { queues: DeliveryQueues; logger: Logger },
  options: { name: string; intervalMs: number; pass: () => Promise<T> },
) {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<T | null> | undefined;

  /** A pass if no worker made one this interval; null when another did. */
  async function runIfDue(): Promise<T | null> {
    if (!(await deps.queues.tryLock(options.name, options.intervalMs * 0.9))) return null;
    return options.pass();
  }

  function tick(): void {
    if (running) return;
    running = runIfDue()
      .catch((error) => {
        deps.logger.error({ err: error }, `${options.name} pass failed; will try again`);
        return null;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    runIfDue,
    start(): void {
      timer = setInterval(tick, options.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
