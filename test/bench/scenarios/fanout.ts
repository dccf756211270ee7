import { type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { log, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";

export interface FanoutResult {
  scenario: "fanout";
  endpoints: number;
  acceptMs: number;
  lastReceiveMs: number;
  recordedMs: number | null;
  received: number;
}

/** One event to many endpoints: how long the publish takes to answer, and until the last endpoint has it. */
export async function fanout(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<FanoutResult[]> {
  const bench = await startBenchHerald(options);
  try {
    const results: FanoutResult[] = [];
    for (const size of sizes.fanout) {
      const tenantId = await bench.createTenant(`fanout-${size}`);
      await bench.addEndpoints(
        tenantId,
        Array.from({ length: size }, (_, i) => `${receiver.url}/f/${i}`),
      );
      await receiver.reset();
      const before = await bench.sql<{ n: number }[]>`select count(*)::int as n from deliveries where status = 'succeeded'`;
      log(`fan-out: one event to ${size} endpoints`);
      const published = await bench.publish(tenantId);
      const { counters } = await waitForReceived(receiver, size, { label: `fan-out ${size}`, timeoutMs: sizes.timeoutMs });
      const recordedAt = await bench.recorded((before[0]?.n ?? 0) + size, 30_000);
      results.push({
        scenario: "fanout",
        endpoints: size,
        acceptMs: round(published.acceptedAt - published.sentAt, 1),
        lastReceiveMs: round(counters.last - published.sentAt, 1),
        recordedMs: recordedAt === undefined ? null : round(recordedAt - published.sentAt, 1),
        received: counters.count,
      });
    }
    return results;
  } finally {
    await bench.stop();
  }
}
