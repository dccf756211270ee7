import { type DurableReferenceResult, durableReference } from "../durable-reference.ts";
import type { BenchOptions } from "../herald-bench.ts";
import { round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";
import { throughput } from "./throughput.ts";

/** Endpoints the same deliveries go to: a wide fan-out, then ever more concentrated. */
export const CONCENTRATIONS = [20, 5, 1] as const;

/** What both sides of a comparison report per run. */
export interface ComparedRun {
  kind: "herald" | "reference";
  deliveriesPerSecond: number;
  /** Every delivery received and recorded as succeeded within the scenario's timeout. */
  complete: boolean;
  redisCommands: number;
  /** EVALSHA + EVAL per delivery, from INFO commandstats. */
  redisScriptCalls: number;
  pgTransactions: number;
  /** WAL records per delivery: what PostgreSQL had to make durable, whatever the machine's speed. */
  pgWalRecords: number;
  /** WAL flushes to disk per delivery (commits that waited for durability). */
  pgWalSyncs: number;
  totalCpuMs: number;
  /**
   * Read and write system calls per delivery of Herald's API and worker processes, or of the reference's one
   * process: each socket write to Redis, PostgreSQL or a receiver is one, and on a VM each costs tens of µs.
   */
  appSyscalls: number;
  /** CPU ms per delivery by part: Herald's API and worker (or the reference's one process), Redis, PostgreSQL, the receiver. */
  cpuMsBy?: { app: number; redis: number; pg: number; receiver: number };
  /** The run's Redis commands per delivery by name, for explaining a difference. */
  redisCommandsByName: Record<string, number>;
}

export interface Comparison {
  endpoints: number;
  events: number;
  deliveries: number;
  /** Medians over the runs of each side. */
  herald: Omit<ComparedRun, "kind" | "complete" | "redisCommandsByName">;
  reference: Omit<ComparedRun, "kind" | "complete" | "redisCommandsByName"> & { concurrency: number };
  /** Herald's median deliveries/s ÷ the reference's. */
  ratio: number;
  runs: ComparedRun[];
}

export interface DurableComparisonResult {
  scenario: "durable";
  pairs: number;
  comparisons: Comparison[];
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

const scriptCalls = (byName: Record<string, number>) => round((byName.evalsha ?? 0) + (byName.eval ?? 0), 2);

/**
 * Herald against the durable reference at 20, 5 and 1 endpoints, with the
 * same deliveries as the throughput scenario (events × endpoints). At each
 * concentration the two run in pairs whose order alternates (Herald first,
 * then the reference first, …), each Herald run on a fresh Herald and
 * database, each reference run on a fresh database, and the medians are
 * compared: on a shared machine one run moves by more than the 10 % judged.
 */
export async function durableComparison(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<DurableComparisonResult> {
  const deliveries = sizes.events * sizes.endpoints;
  const comparisons: Comparison[] = [];
  for (const endpoints of CONCENTRATIONS) {
    const events = Math.round(deliveries / endpoints);
    const runs: ComparedRun[] = [];
    let concurrency = 0;
    for (let pair = 0; pair < sizes.durablePairs; pair++) {
      const order = pair % 2 === 0 ? (["herald", "reference"] as const) : (["reference", "herald"] as const);
      for (const kind of order) {
        if (kind === "herald") {
          runs.push(await heraldRun(endpoints, events));
        } else {
          const result = await durableReference(
            { receiver, redisUrl: options.redisUrl },
            { events, endpoints, timeoutMs: sizes.timeoutMs, warmupDeliveries: sizes.warmupDeliveries },
          );
          concurrency = result.concurrency;
          runs.push(referenceRun(result));
        }
      }
    }
    const side = (kind: ComparedRun["kind"]) => {
      const of = runs.filter((run) => run.kind === kind);
      return {
        deliveriesPerSecond: round(median(of.map((run) => run.deliveriesPerSecond))),
        redisCommands: round(median(of.map((run) => run.redisCommands)), 2),
        redisScriptCalls: round(median(of.map((run) => run.redisScriptCalls)), 2),
        pgTransactions: round(median(of.map((run) => run.pgTransactions)), 4),
        pgWalRecords: round(median(of.map((run) => run.pgWalRecords)), 2),
        pgWalSyncs: round(median(of.map((run) => run.pgWalSyncs)), 3),
        totalCpuMs: round(median(of.map((run) => run.totalCpuMs)), 4),
        appSyscalls: round(median(of.map((run) => run.appSyscalls)), 2),
      };
    };
    const herald = side("herald");
    const reference = { ...side("reference"), concurrency };
    comparisons.push({
      endpoints,
      events,
      deliveries: events * endpoints,
      herald,
      reference,
      ratio: reference.deliveriesPerSecond > 0 ? round(herald.deliveriesPerSecond / reference.deliveriesPerSecond, 3) : 0,
      runs,
    });
  }
  return { scenario: "durable", pairs: sizes.durablePairs, comparisons };

  async function heraldRun(endpoints: number, events: number): Promise<ComparedRun> {
    const { result, bench } = await throughput(
      options,
      receiver,
      { ...sizes, events, endpoints },
      { name: `Herald, ${endpoints} endpoint${endpoints > 1 ? "s" : ""}`, warmupDeliveries: sizes.warmupDeliveries },
    );
    await bench.stop();
    return {
      kind: "herald",
      deliveriesPerSecond: result.deliveriesPerSecond,
      complete: result.received === result.deliveries && result.attemptsRecorded >= result.deliveries,
      redisCommands: result.perDelivery.redisCommands,
      redisScriptCalls: scriptCalls(result.perDelivery.redisCommandsByName),
      pgTransactions: result.perDelivery.pgTransactions,
      pgWalRecords: result.perDelivery.pgWalRecords,
      pgWalSyncs: result.perDelivery.pgWalSyncs,
      totalCpuMs: result.perDelivery.totalCpuMs,
      appSyscalls: round(result.perDelivery.apiSyscalls + result.perDelivery.workerReadCalls + result.perDelivery.workerWriteCalls, 2),
      cpuMsBy: {
        app: round(result.perDelivery.apiCpuMs + result.perDelivery.workerCpuMs, 4),
        redis: result.perDelivery.redisCpuMs,
        pg: result.perDelivery.pgCpuMs,
        receiver: result.perDelivery.receiverCpuMs,
      },
      redisCommandsByName: result.perDelivery.redisCommandsByName,
    };
  }
}

function referenceRun(result: DurableReferenceResult): ComparedRun {
  return {
    kind: "reference",
    deliveriesPerSecond: result.deliveriesPerSecond,
    complete: result.received === result.deliveries && result.signed === result.deliveries && result.succeeded === result.deliveries,
    redisCommands: result.perDelivery.redisCommands,
    redisScriptCalls: result.perDelivery.redisScriptCalls,
    pgTransactions: result.perDelivery.pgTransactions,
    pgWalRecords: result.perDelivery.pgWalRecords,
    pgWalSyncs: result.perDelivery.pgWalSyncs,
    totalCpuMs: result.perDelivery.totalCpuMs,
    appSyscalls: result.perDelivery.appSyscalls,
    cpuMsBy: {
      app: result.perDelivery.cpuMs,
      redis: result.perDelivery.redisCpuMs,
      pg: result.perDelivery.pgCpuMs,
      receiver: result.perDelivery.receiverCpuMs,
    },
    redisCommandsByName: result.perDelivery.redisCommandsByName,
  };
}
