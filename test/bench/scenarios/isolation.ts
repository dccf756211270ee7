import { type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { log, now, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";

export interface IsolationResult {
  scenario: "isolation";
  healthyDeliveries: number;
  received: number;
  hungRequests: number;
  seconds: number;
  healthyPerSecond: number;
  /** Healthy deliveries/s over the clean throughput run's deliveries/s. */
  ratio: number;
}

/**
 * The throughput scenario again, with one more endpoint subscribed to every
 * event that never answers (it holds the connection until Herald's delivery
 * timeout, the default 15 s, which is longer than the run). Healthy
 * deliveries must not wait behind it.
 */
export async function isolation(
  options: BenchOptions,
  receiver: FastReceiver,
  sizes: Sizes,
  cleanPerSecond: number,
): Promise<IsolationResult> {
  const bench = await startBenchHerald(options);
  try {
    const tenantId = await bench.createTenant("isolation");
    await bench.addEndpoints(tenantId, [
      ...Array.from({ length: sizes.endpoints }, (_, i) => `${receiver.url}/e/${i}`),
      `${receiver.hangUrl}/hang/0`,
    ]);
    const healthy = sizes.events * sizes.endpoints;
    await receiver.reset();
    log(`isolation: ${sizes.events} events × ${sizes.endpoints} healthy endpoints + 1 that never answers`);
    const started = now();
    const publishing = bench.publishMany(tenantId, sizes.events);
    const { counters, complete } = await waitForReceived(receiver, healthy, { label: "isolation", timeoutMs: sizes.timeoutMs });
    await publishing;
    // Every healthy delivery recorded as succeeded; the hanging ones are still in flight.
    const recordedAt = complete ? await bench.recorded(healthy, 30_000) : undefined;
    const ended = recordedAt ?? now();
    const seconds = (ended - started) / 1000;
    const healthyPerSecond = (recordedAt === undefined ? counters.count : healthy) / seconds;
    const hung = (await receiver.stats()).hung;
    // Let the held connections fail now, so the worker shuts down without waiting for its timeout.
    await receiver.releaseHung();
    return {
      scenario: "isolation",
      healthyDeliveries: healthy,
      received: counters.count,
      hungRequests: hung,
      seconds: round(seconds, 3),
      healthyPerSecond: round(healthyPerSecond),
      ratio: round(healthyPerSecond / cleanPerSecond, 3),
    };
  } finally {
    await bench.stop();
  }
}
