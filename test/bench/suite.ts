import { createTestDatabase } from "@herald/testing";
import type { BenchOptions } from "./herald-bench.ts";
import { log, round } from "./progress.ts";
import { startFastReceiver } from "./receiver.ts";
import { barePipeline, httpLimit, naiveBaseline, queueLimit, type ReferenceResult } from "./references.ts";
import { type BacklogResult, backlog, backlogSizes } from "./scenarios/backlog.ts";
import { type ClusterResult, cluster } from "./scenarios/cluster.ts";
import { type CommandsResult, commands } from "./scenarios/commands.ts";
import { type DurableComparisonResult, durableComparison } from "./scenarios/durable.ts";
import { type FanoutResult, fanout } from "./scenarios/fanout.ts";
import { type HistoryResult, history, historySizes } from "./scenarios/history.ts";
import { type IngestRow, ingest } from "./scenarios/ingest.ts";
import { type IsolationResult, isolation } from "./scenarios/isolation.ts";
import { type LatencyResult, latency } from "./scenarios/latency.ts";
import { type SoakResult, soak } from "./scenarios/soak.ts";
import { type ThroughputResult, throughput } from "./scenarios/throughput.ts";
import { type TracingResult, tracingComparison } from "./scenarios/tracing.ts";
import type { Sizes } from "./sizes.ts";

/** Herald's defaults, which the reference points copy: jobs in flight per worker, sockets per origin. */
export const WORKER_CONCURRENCY = 100;
export const CONNECTIONS_PER_ORIGIN = 64;

export interface SuiteResults {
  references: {
    httpLimit?: ReferenceResult;
    queueLimit?: ReferenceResult;
    barePipeline?: ReferenceResult;
    naiveBaseline?: ReferenceResult;
  };
  throughput?: ThroughputResult & { ratios: Record<string, number | null> };
  memory?: { scenario: "memory"; apiPeakMiB: number; workerPeakMiB: number; apiStartMiB: number; workerStartMiB: number };
  latency?: LatencyResult;
  workers?: { scenario: "workers"; one: number; runs: WorkersRun[] };
  durable?: DurableComparisonResult;
  commands?: CommandsResult;
  cluster?: ClusterResult;
  ingest?: { scenario: "ingest"; rows: IngestRow[] };
  fanout?: { scenario: "fanout"; runs: FanoutResult[] };
  isolation?: IsolationResult;
  soak?: SoakResult;
  backlog?: BacklogResult;
  tracing?: TracingResult;
  history?: HistoryResult;
  errors: { scenario: string; error: string }[];
}

export interface WorkersRun {
  workers: number;
  deliveriesPerSecond: number;
  /** deliveriesPerSecond ÷ the 1-worker throughput run's. */
  scaling: number;
  /** Deadlocks PostgreSQL detected in the run's database over the run: must stay 0. */
  deadlocks: number;
  received: number;
  deliveries: number;
  /** Per delivery: more workers fetch more jobs than the endpoints' caps admit, and each one turned away costs Redis work. */
  redisCommands: number;
  redisScriptCalls: number;
}

/** The multi-worker runs: worker processes of one Herald sharing one queue, PostgreSQL and every endpoint. */
export const WORKER_COUNTS = [2, 4] as const;

export const SCENARIOS = [
  "references",
  "throughput",
  "latency",
  "workers",
  "durable",
  "commands",
  "cluster",
  "ingest",
  "fanout",
  "isolation",
  "soak",
  "backlog",
  "tracing",
  "history",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface SuiteOptions extends BenchOptions {
  sizes: Sizes;
  only?: readonly ScenarioName[] | undefined;
  /** Called with each scenario's result as soon as it is known: the suite's JSON lines. */
  emit?: (line: object) => void;
}

const ratio = (value: number, reference: ReferenceResult | undefined) =>
  reference && reference.perSecond > 0 ? round(value / reference.perSecond, 3) : null;

/**
 * Runs the reference points and the Herald scenarios in one go, on one
 * receiver process, and answers every number. A scenario that throws is
 * recorded in `errors` and the rest still run.
 */
export async function runSuite(options: SuiteOptions): Promise<SuiteResults> {
  const { sizes } = options;
  const wanted = (name: ScenarioName) => !options.only || options.only.includes(name);
  const emit = options.emit ?? (() => {});
  const results: SuiteResults = { references: {}, errors: [] };
  const receiver = await startFastReceiver();
  const attempt = async (scenario: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (error) {
      log(`${scenario} failed: ${(error as Error).stack ?? error}`);
      results.errors.push({ scenario, error: (error as Error).message });
    }
  };

  try {
    if (wanted("references")) {
      const database = await createTestDatabase();
      const ctx = {
        receiver,
        redisUrl: options.redisUrl,
        databaseUrl: database.url,
        concurrency: WORKER_CONCURRENCY,
        connections: CONNECTIONS_PER_ORIGIN,
      };
      const refs = [
        ["httpLimit", "HTTP limit", httpLimit],
        ["queueLimit", "queue limit", queueLimit],
        ["barePipeline", "bare pipeline", barePipeline],
        ["naiveBaseline", "naive baseline", naiveBaseline],
      ] as const;
      for (const [key, label, run] of refs) {
        await attempt(`reference.${key}`, async () => {
          log(`reference: ${label}, ${sizes.referenceJobs} × ~1 KiB at concurrency ${WORKER_CONCURRENCY}`);
          const result = await run(ctx, sizes.referenceJobs);
          results.references[key] = result;
          emit(result);
        });
      }
      await database.drop();
    }

    if (wanted("throughput") || wanted("latency")) {
      await attempt("throughput", async () => {
        const { result, bench, tenantId } = await throughput(options, receiver, sizes);
        try {
          const refs = results.references;
          const rate = result.deliveriesPerSecond;
          results.throughput = {
            ...result,
            ratios: {
              httpLimit: ratio(rate, refs.httpLimit),
              queueLimit: ratio(rate, refs.queueLimit),
              barePipeline: ratio(rate, refs.barePipeline),
              naiveBaseline: ratio(rate, refs.naiveBaseline),
            },
          };
          emit(results.throughput);
          results.memory = { scenario: "memory", ...result.memory };
          emit(results.memory);
          if (wanted("latency")) {
            await attempt("latency", async () => {
              results.latency = await latency(bench, tenantId, receiver, sizes, rate / 2);
              emit(results.latency);
            });
          }
        } finally {
          await bench.stop();
        }
      });
    }

    if (wanted("workers")) {
      await attempt("workers", async () => {
        const one = results.throughput?.deliveriesPerSecond ?? 0;
        const runs: WorkersRun[] = [];
        for (const workers of WORKER_COUNTS) {
          const { result, bench } = await throughput(options, receiver, sizes, { workers, name: `workers (${workers} processes)` });
          await bench.stop();
          runs.push({
            workers,
            deliveriesPerSecond: result.deliveriesPerSecond,
            scaling: one > 0 ? round(result.deliveriesPerSecond / one, 3) : 0,
            deadlocks: result.deadlocks,
            received: result.received,
            deliveries: result.deliveries,
            redisCommands: result.perDelivery.redisCommands,
            redisScriptCalls: round(
              (result.perDelivery.redisCommandsByName.evalsha ?? 0) + (result.perDelivery.redisCommandsByName.eval ?? 0),
              2,
            ),
          });
        }
        results.workers = { scenario: "workers", one, runs };
        emit(results.workers);
      });
    }

    if (wanted("durable")) {
      await attempt("durable", async () => {
        results.durable = await durableComparison(options, receiver, sizes);
        emit(results.durable);
      });
    }

    if (wanted("commands")) {
      await attempt("commands", async () => {
        results.commands = await commands(options, receiver, sizes);
        emit(results.commands);
      });
    }

    if (wanted("cluster")) {
      await attempt("cluster", async () => {
        results.cluster = await cluster(options, receiver, sizes);
        emit(results.cluster);
      });
    }

    if (wanted("ingest")) {
      await attempt("ingest", async () => {
        results.ingest = { scenario: "ingest", rows: await ingest(options, receiver, sizes) };
        emit(results.ingest);
      });
    }

    if (wanted("fanout")) {
      await attempt("fanout", async () => {
        results.fanout = { scenario: "fanout", runs: await fanout(options, receiver, sizes) };
        emit(results.fanout);
      });
    }

    if (wanted("isolation")) {
      await attempt("isolation", async () => {
        results.isolation = await isolation(options, receiver, sizes);
        emit(results.isolation);
      });
    }

    if (wanted("soak")) {
      await attempt("soak", async () => {
        results.soak = await soak(options, receiver, sizes);
        emit(results.soak);
      });
    }

    // Not at tiny size: loading weeks of history is the point of the scenario, and takes too long for the smoke run.
    if (wanted("history") && sizes.mode !== "tiny") {
      await attempt("history", async () => {
        results.history = await history(options, receiver, sizes, historySizes(sizes.mode === "full"));
        emit(results.history);
      });
    }

    if (wanted("backlog") && sizes.mode !== "tiny") {
      await attempt("backlog", async () => {
        results.backlog = await backlog(options, receiver, backlogSizes(sizes.mode === "full"));
        emit(results.backlog);
      });
    }

    // Four or more Herald start-ups: not at the smoke test's tiny size (as backlog).
    if (wanted("tracing") && sizes.mode !== "tiny") {
      await attempt("tracing", async () => {
        results.tracing = await tracingComparison(options, receiver, sizes);
        emit(results.tracing);
      });
    }
  } finally {
    await receiver.close();
  }
  return results;
}
