import type { BenchOptions } from "../herald-bench.ts";
import { round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";
import { throughput } from "./throughput.ts";

export interface ConcentrationRun {
  endpoints: number;
  events: number;
  deliveriesPerSecond: number;
  redisCommands: number;
  /** Script calls per delivery: about 4 when no job is turned away (enqueue, admit, release, complete and fetch the next); each hold-back adds about 3. */
  redisScriptCalls: number;
  totalCpuMs: number;
}

/**
 * The throughput scenario's deliveries sent to fewer endpoints: 5, then 1.
 * Each endpoint takes at most HERALD_ENDPOINT_CONCURRENCY (10) requests at
 * once while the worker fetches 100 jobs at a time from one queue, so most
 * jobs are turned away and come back through the delayed set: this measures
 * what that costs.
 */
export async function concentration(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<ConcentrationRun[]> {
  const runs: ConcentrationRun[] = [];
  const deliveries = sizes.events * sizes.endpoints;
  for (const endpoints of [5, 1]) {
    const events = Math.round(deliveries / endpoints);
    const { result, bench } = await throughput(
      options,
      receiver,
      { ...sizes, events, endpoints },
      { name: `concentration (${endpoints} endpoint${endpoints > 1 ? "s" : ""})` },
    );
    await bench.stop();
    runs.push({
      endpoints,
      events,
      deliveriesPerSecond: result.deliveriesPerSecond,
      redisCommands: result.perDelivery.redisCommands,
      redisScriptCalls: round(
        (result.perDelivery.redisCommandsByName.evalsha ?? 0) + (result.perDelivery.redisCommandsByName.eval ?? 0),
        2,
      ),
      totalCpuMs: result.perDelivery.totalCpuMs,
    });
  }
  return runs;
}
