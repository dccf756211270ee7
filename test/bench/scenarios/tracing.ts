import { startOtlpReceiver } from "@herald/testing";
import type { BenchOptions } from "../herald-bench.ts";
import { log, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";
import { throughput } from "./throughput.ts";

export interface TracingRun {
  tracing: boolean;
  deliveriesPerSecond: number;
  /** CPU of every process a delivery touches, per delivery. */
  totalCpuMs: number;
  workerCpuMs: number;
  apiCpuMs: number;
  workerPeakMiB: number;
}

export interface TracingResult {
  scenario: "tracing";
  pairs: number;
  /** Medians over the runs of each side. */
  off: { deliveriesPerSecond: number; totalCpuMs: number; workerCpuMs: number; apiCpuMs: number };
  on: {
    deliveriesPerSecond: number;
    totalCpuMs: number;
    workerCpuMs: number;
    apiCpuMs: number;
    exportedBytesPerDelivery: number;
    /** Spans exported per delivery, in all and by span name; OTLP export requests per delivery. */
    spansPerDelivery: number;
    spansByName: Record<string, number>;
    exportRequestsPerDelivery: number;
  };
  /** Tracing on ÷ tracing off, deliveries/s (target ≥ 0.9). */
  ratio: number;
  runs: TracingRun[];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

/**
 * The throughput scenario with tracing off and with tracing on at 100 % sampling (every publish and attempt a
 * span, with their HTTP requests, Redis commands and the API's enqueues, exported over OTLP/HTTP protobuf to a
 * loopback receiver that counts what it gets), side by side: pairs whose order alternates, each on a fresh Herald,
 * medians compared.
 */
export async function tracingComparison(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<TracingResult> {
  const collector = await startOtlpReceiver({ keep: false });
  const traced = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_TRACES_SAMPLER: "always_on",
    // No OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER: what an operator who names only an endpoint gets.
  };
  const runs: TracingRun[] = [];
  let exportedBytes = 0;
  let exportRequests = 0;
  try {
    for (let pair = 0; pair < sizes.isolationPairs; pair++) {
      for (const tracing of pair % 2 === 0 ? [false, true] : [true, false]) {
        const before = collector.bytes;
        const requestsBefore = collector.requests;
        const { result, bench } = await throughput(
          tracing ? { ...options, env: { ...traced, ...options.env } } : options,
          receiver,
          sizes,
          { name: tracing ? "tracing on" : "tracing off" },
        );
        // Stopping flushes the exporters' last batches.
        await bench.stop();
        if (tracing) exportedBytes += collector.bytes - before;
        if (tracing) exportRequests += collector.requests - requestsBefore;
        runs.push({
          tracing,
          deliveriesPerSecond: result.deliveriesPerSecond,
          totalCpuMs: result.perDelivery.totalCpuMs,
          workerCpuMs: result.perDelivery.workerCpuMs,
          apiCpuMs: result.perDelivery.apiCpuMs,
          workerPeakMiB: result.memory.workerPeakMiB,
        });
        log(`${tracing ? "tracing on" : "tracing off"}: ${result.deliveriesPerSecond} deliveries/s`);
      }
    }
  } finally {
    await collector.close();
  }
  const side = (tracing: boolean) => runs.filter((run) => run.tracing === tracing);
  const off = {
    deliveriesPerSecond: median(side(false).map((r) => r.deliveriesPerSecond)),
    totalCpuMs: median(side(false).map((r) => r.totalCpuMs)),
    workerCpuMs: median(side(false).map((r) => r.workerCpuMs)),
    apiCpuMs: median(side(false).map((r) => r.apiCpuMs)),
  };
  const onRuns = side(true);
  const delivered = onRuns.length * sizes.events * sizes.endpoints;
  const spans = [...collector.spanCounts.values()].reduce((sum, count) => sum + count, 0);
  const on = {
    deliveriesPerSecond: median(onRuns.map((r) => r.deliveriesPerSecond)),
    totalCpuMs: median(onRuns.map((r) => r.totalCpuMs)),
    workerCpuMs: median(onRuns.map((r) => r.workerCpuMs)),
    apiCpuMs: median(onRuns.map((r) => r.apiCpuMs)),
    exportedBytesPerDelivery: round(exportedBytes / delivered, 1),
    spansPerDelivery: round(spans / delivered, 3),
    spansByName: Object.fromEntries([...collector.spanCounts].map(([name, count]) => [name, round(count / delivered, 3)])),
    exportRequestsPerDelivery: round(exportRequests / delivered, 4),
  };
  return {
    scenario: "tracing",
    pairs: sizes.isolationPairs,
    off,
    on,
    ratio: off.deliveriesPerSecond > 0 ? round(on.deliveriesPerSecond / off.deliveriesPerSecond, 3) : 0,
    runs,
  };
}
