import { startPrivateRedis } from "@herald/testing";
import { durableReference } from "../durable-reference.ts";
import type { BenchOptions } from "../herald-bench.ts";
import { log, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import { type Issuer, type MonitorSession, type OperationCount, scriptNames, startMonitor } from "../redis-monitor.ts";
import type { Sizes } from "../sizes.ts";
import { throughput } from "./throughput.ts";

export interface CommandBreakdown {
  kind: "herald" | "reference";
  /** Every delivery received and recorded within the (long) timeout: otherwise the counts per delivery mean little. */
  complete: boolean;
  /** Redis commands per delivery by INFO commandstats over the run: what the other scenarios report. */
  commandstats: number;
  /** The same window seen by MONITOR: should match commandstats, which checks the classification saw everything. */
  monitored: number;
  scriptCalls: number;
  /** Per delivery, by issuing process and operation, largest first. */
  operations: OperationCount[];
}

export interface CommandsRun {
  endpoints: number;
  events: number;
  deliveries: number;
  herald: CommandBreakdown;
  reference: CommandBreakdown;
}

export interface CommandsResult {
  scenario: "commands";
  runs: CommandsRun[];
}

/**
 * Where Herald's Redis commands per delivery go, against the durable
 * reference's: each runs the throughput scenario's deliveries once more on a
 * redis-server of this scenario's own, watched by MONITOR, and every command
 * is put down to the process that sent it and what it was for (BullMQ's add,
 * fetch and complete, the endpoint guard's scripts, the scheduler, the
 * reconciler, metrics…). Counts only: MONITOR slows Redis, so these runs' speed means nothing.
 */
export async function commands(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<CommandsResult> {
  const redis = await startPrivateRedis();
  try {
    const scripts = await scriptNames(redis.url);
    const deliveries = sizes.events * sizes.endpoints;
    // MONITOR slows Redis, and these runs count rather than time: they may take much longer than a timed run.
    const timeoutMs = sizes.timeoutMs * 4;
    const runs: CommandsRun[] = [];
    for (const endpoints of sizes.commandsEndpoints) {
      const events = Math.max(1, Math.round(deliveries / endpoints));
      const total = events * endpoints;
      const per = (value: number, digits = 3) => round(value / total, digits);
      const perDelivery = (
        found: { operations: OperationCount[]; commands: number },
        commandstats: number,
        kind: CommandBreakdown["kind"],
        complete: boolean,
      ): CommandBreakdown => {
        const operations = found.operations.map((op) => ({
          ...op,
          calls: per(op.calls),
          scriptCalls: per(op.scriptCalls),
          commands: per(op.commands),
          byCommand: Object.fromEntries(Object.entries(op.byCommand).map(([name, count]) => [name, per(count)])),
        }));
        return {
          kind,
          complete,
          commandstats,
          monitored: per(found.commands, 2),
          scriptCalls: round(
            operations.reduce((sum, op) => sum + op.scriptCalls, 0),
            2,
          ),
          operations,
        };
      };

      let session: MonitorSession | undefined;
      let seen: { operations: OperationCount[]; commands: number } | undefined;
      const { result, bench } = await throughput(
        { ...options, redisUrl: redis.url },
        receiver,
        { ...sizes, events, endpoints, timeoutMs },
        {
          name: `commands: Herald, ${endpoints} endpoints, monitored`,
          window: {
            start: async () => {
              session = await startMonitor(redis.url, scripts);
            },
            stop: async (pids) => {
              const roles = new Map<number, Issuer>([[pids.api, "api"], ...pids.workers.map((pid) => [pid, "worker"] as [number, Issuer])]);
              seen = await session?.stop(roles);
            },
          },
        },
      );
      await bench.stop();
      if (!seen) throw new Error("the monitor of Herald's run answered nothing");
      const herald = perDelivery(
        seen,
        result.perDelivery.redisCommands,
        "herald",
        result.received === result.deliveries && result.attemptsRecorded >= result.deliveries,
      );

      seen = undefined;
      log(`commands: durable reference, ${endpoints} endpoints, monitored`);
      const reference = await durableReference(
        { receiver, redisUrl: redis.url },
        {
          events,
          endpoints,
          timeoutMs,
          window: {
            start: async () => {
              session = await startMonitor(redis.url, scripts);
            },
            stop: async () => {
              seen = await session?.stop(new Map());
            },
          },
        },
      );
      if (!seen) throw new Error("the monitor of the reference's run answered nothing");
      runs.push({
        endpoints,
        events,
        deliveries: total,
        herald,
        reference: perDelivery(
          seen,
          reference.perDelivery.redisCommands,
          "reference",
          reference.received === reference.deliveries && reference.succeeded === reference.deliveries,
        ),
      });
    }
    return { scenario: "commands", runs };
  } finally {
    await redis.stop();
  }
}
