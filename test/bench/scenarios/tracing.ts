import { startOtlpReceiver } from "@herald/testing";
import type { BenchOptions } from "../herald-bench.ts";
import { log, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import { type Sizes, warmupOf } from "../sizes.ts";
import { median } from "./durable.ts";
import { throughput } from "./throughput.ts";

/** off: no OTEL_* set; on: 100 % sampled with every child span; lean: 100 % sampled, no HTTP or Redis child spans. */
export type TracingVariant = "off" | "on" | "lean";

export interface TracingRun {
  variant: TracingVariant;
  deliveriesPerSecond: number;
  /** CPU of every process a delivery touches, per delivery. */
  totalCpuMs: number;
  workerCpuMs: number;
  apiCpuMs: number;
  workerPeakMiB: number;
  /** Counts that do not move with the machine: what tracing changes in the work per delivery besides its spans. */
  counts: TracingCounts;
}

/**
 * Per delivery: Redis commands, PostgreSQL transactions and the worker's socket system calls. Tracing adds CPU to
 * the worker's event loop; if that made its per-turn batches (guard calls, loads, records) smaller, these would rise.
 */
export interface TracingCounts {
  redisCommands: number;
  pgTransactions: number;
  workerReadCalls: number;
  workerWriteCalls: number;
}

export interface TracingSide {
  deliveriesPerSecond: number;
  totalCpuMs: number;
  workerCpuMs: number;
  apiCpuMs: number;
  /** The highest worker peak RSS over this side's runs. */
  workerPeakMiB: number;
  counts: TracingCounts;
}

export interface TracedSide extends TracingSide {
  exportedBytesPerDelivery: number;
  /** Spans exported per delivery, in all and by span name; OTLP export requests per delivery. */
  spansPerDelivery: number;
  spansByName: Record<string, number>;
  exportRequestsPerDelivery: number;
  /** This side ÷ tracing off, deliveries/s (target ≥ 0.9). */
  ratio: number;
}

export interface TracingResult {
  scenario: "tracing";
  /** Rounds; each runs every variant once, in an order that rotates from round to round. */
  pairs: number;
  /** Medians over the runs of each side. */
  off: TracingSide;
  /** Every child span: the attempt's POST (undici) and Redis commands (ioredis), the publish's insert and enqueue. */
  on: TracedSide;
  /** OTEL_NODE_DISABLED_INSTRUMENTATIONS=undici,ioredis: publish and attempt spans with their attributes only. */
  lean: TracedSide;
  runs: TracingRun[];
}

const VARIANTS: TracingVariant[] = ["off", "on", "lean"];

/**
 * The throughput scenario with tracing off, on at 100 % sampling with every child span (each publish and attempt a
 * span, with their HTTP requests, Redis commands and the API's enqueues), and on at 100 % with the publish and
 * attempt spans only, exported over OTLP/HTTP protobuf to a loopback receiver that counts what it gets, side by
 * side: rounds whose order rotates, each run on a fresh Herald, medians compared.
 */
export async function tracingComparison(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<TracingResult> {
  const collector = await startOtlpReceiver({ keep: false });
  const traced = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
    OTEL_TRACES_SAMPLER: "always_on",
    // No OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER: what an operator who names only an endpoint gets.
  };
  const envOf: Record<TracingVariant, Record<string, string> | undefined> = {
    off: undefined,
    on: traced,
    lean: { ...traced, OTEL_NODE_DISABLED_INSTRUMENTATIONS: "undici,ioredis" },
  };
  const runs: TracingRun[] = [];
  const exported = {
    on: { bytes: 0, requests: 0, spans: new Map<string, number>() },
    lean: { bytes: 0, requests: 0, spans: new Map<string, number>() },
  };
  try {
    for (let round_ = 0; round_ < sizes.isolationPairs; round_++) {
      const order = VARIANTS.map((_, i) => VARIANTS[(i + round_) % VARIANTS.length] as TracingVariant);
      for (const variant of order) {
        const before = { bytes: collector.bytes, requests: collector.requests, spans: new Map(collector.spanCounts) };
        const env = envOf[variant];
        const { result, bench } = await throughput(env ? { ...options, env: { ...env, ...options.env } } : options, receiver, sizes, {
          name: `tracing ${variant}`,
          warmupDeliveries: sizes.warmupDeliveries,
        });
        // Stopping flushes the exporters' last batches.
        await bench.stop();
        if (variant !== "off") {
          const into = exported[variant];
          into.bytes += collector.bytes - before.bytes;
          into.requests += collector.requests - before.requests;
          for (const [name, count] of collector.spanCounts) {
            into.spans.set(name, (into.spans.get(name) ?? 0) + count - (before.spans.get(name) ?? 0));
          }
        }
        runs.push({
          variant,
          deliveriesPerSecond: result.deliveriesPerSecond,
          totalCpuMs: result.perDelivery.totalCpuMs,
          workerCpuMs: result.perDelivery.workerCpuMs,
          apiCpuMs: result.perDelivery.apiCpuMs,
          workerPeakMiB: result.memory.workerPeakMiB,
          counts: {
            redisCommands: result.perDelivery.redisCommands,
            pgTransactions: result.perDelivery.pgTransactions,
            workerReadCalls: result.perDelivery.workerReadCalls,
            workerWriteCalls: result.perDelivery.workerWriteCalls,
          },
        });
        log(`tracing ${variant}: ${result.deliveriesPerSecond} deliveries/s`);
      }
    }
  } finally {
    await collector.close();
  }
  const runsOf = (variant: TracingVariant) => runs.filter((run) => run.variant === variant);
  const sideOf = (side: TracingRun[]): TracingSide => ({
    deliveriesPerSecond: median(side.map((r) => r.deliveriesPerSecond)),
    totalCpuMs: median(side.map((r) => r.totalCpuMs)),
    workerCpuMs: median(side.map((r) => r.workerCpuMs)),
    apiCpuMs: median(side.map((r) => r.apiCpuMs)),
    workerPeakMiB: Math.max(...side.map((r) => r.workerPeakMiB)),
    counts: {
      redisCommands: median(side.map((r) => r.counts.redisCommands)),
      pgTransactions: median(side.map((r) => r.counts.pgTransactions)),
      workerReadCalls: median(side.map((r) => r.counts.workerReadCalls)),
      workerWriteCalls: median(side.map((r) => r.counts.workerWriteCalls)),
    },
  });
  const off = sideOf(runsOf("off"));
  const tracedSide = (variant: "on" | "lean"): TracedSide => {
    const sideRuns = runsOf(variant);
    const side = sideOf(sideRuns);
    // The collector counts what the warm-up exported too (some of its spans are still in the exporters' buffers when
    // the measured window opens), so the counts per delivery are over the warm-up's deliveries and the window's.
    const delivered = sideRuns.length * (sizes.events * sizes.endpoints + warmupOf(sizes.warmupDeliveries, sizes.endpoints).deliveries);
    const { bytes, requests, spans } = exported[variant];
    const total = [...spans.values()].reduce((sum, count) => sum + count, 0);
    return {
      ...side,
      exportedBytesPerDelivery: round(bytes / delivered, 1),
      spansPerDelivery: round(total / delivered, 3),
      spansByName: Object.fromEntries(
        [...spans].filter(([, count]) => count > 0).map(([name, count]) => [name, round(count / delivered, 3)]),
      ),
      exportRequestsPerDelivery: round(requests / delivered, 4),
      ratio: off.deliveriesPerSecond > 0 ? round(side.deliveriesPerSecond / off.deliveriesPerSecond, 3) : 0,
    };
  };
  return { scenario: "tracing", pairs: sizes.isolationPairs, off, on: tracedSide("on"), lean: tracedSide("lean"), runs };
}
