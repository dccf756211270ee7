import type { BenchHerald } from "../herald-bench.ts";
import { log, now, percentile, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";

export interface LatencyResult {
  scenario: "latency";
  targetDeliveriesPerSecond: number;
  eventsPerSecond: number;
  seconds: number;
  deliveries: number;
  received: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  acceptP99Ms: number;
}

/**
 * An open-loop publisher at a steady rate (it never waits for an answer
 * before sending the next event), then publish-to-receive time of every
 * delivery: from just before the publish request was sent to the moment
 * the receiver had the whole webhook.
 */
export async function latency(
  bench: BenchHerald,
  tenantId: string,
  receiver: FastReceiver,
  sizes: Sizes,
  deliveriesPerSecond: number,
): Promise<LatencyResult> {
  const eventsPerSecond = Math.max(1, deliveriesPerSecond / sizes.endpoints);
  const events = Math.max(1, Math.round(eventsPerSecond * sizes.latencySeconds));
  log(`latency: ${round(eventsPerSecond)} events/s (${round(deliveriesPerSecond)} deliveries/s) for ${sizes.latencySeconds} s`);
  await receiver.reset(true);
  const sentAt = new Map<string, number>();
  const accept: number[] = [];
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  let failed = 0;
  const started = now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(events, Math.floor(((now() - started) / 1000) * eventsPerSecond) + 1);
      for (; sent < due; sent++) {
        inFlight.push(
          bench.publish(tenantId).then(
            (published) => {
              sentAt.set(published.id, published.sentAt);
              accept.push(published.acceptedAt - published.sentAt);
            },
            () => {
              failed++;
            },
          ),
        );
      }
      if (sent >= events) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  await Promise.all(inFlight);
  const expected = (events - failed) * sizes.endpoints;
  const { counters } = await waitForReceived(receiver, expected, { label: "latency", timeoutMs: sizes.timeoutMs });
  const receipts = await receiver.receipts();
  const latencies: number[] = [];
  for (const [id, times] of receipts) {
    const start = sentAt.get(id);
    if (start !== undefined) for (const at of times) latencies.push(at - start);
  }
  latencies.sort((a, b) => a - b);
  accept.sort((a, b) => a - b);
  return {
    scenario: "latency",
    targetDeliveriesPerSecond: round(deliveriesPerSecond),
    eventsPerSecond: round(eventsPerSecond, 1),
    seconds: sizes.latencySeconds,
    deliveries: expected,
    received: counters.count,
    p50Ms: round(percentile(latencies, 50), 1),
    p95Ms: round(percentile(latencies, 95), 1),
    p99Ms: round(percentile(latencies, 99), 1),
    maxMs: round(latencies.at(-1) ?? Number.NaN, 1),
    acceptP99Ms: round(percentile(accept, 99), 1),
  };
}
