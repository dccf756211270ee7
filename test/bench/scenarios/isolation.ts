import { createServer } from "node:net";
import { type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { log, now, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";

export interface IsolationRun {
  kind: "clean" | "dead endpoint";
  seconds: number;
  healthyPerSecond: number;
  received: number;
  /** Requests the endpoint that never answers was holding open at the end. */
  hungRequests: number;
  /** Times the worker put a job back without an attempt (from its metrics): the cost the dead endpoint adds. */
  heldBack: number;
}

export interface IsolationResult {
  scenario: "isolation";
  healthyDeliveries: number;
  /** Every delivery of every run arrived (the healthy ones; the dead endpoint's stay in flight). */
  received: number;
  hungRequests: number;
  /** Median healthy deliveries/s of the runs with the dead endpoint. */
  healthyPerSecond: number;
  /** Median deliveries/s of the clean runs. */
  cleanPerSecond: number;
  /** Hold-backs per job of the dead endpoint, median of its runs. */
  heldBackPerDeadJob: number;
  /** healthyPerSecond / cleanPerSecond. */
  ratio: number;
  runs: IsolationRun[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}

/**
 * The throughput scenario with and without one more endpoint, subscribed to
 * every event, that never answers (it holds the connection until Herald's
 * delivery timeout, the default 15 s, which is longer than the run). Healthy
 * deliveries must not wait behind it.
 *
 * Clean and dead-endpoint runs are compared within this scenario, in pairs
 * whose order alternates (clean, dead, dead, clean, clean, dead), each on a
 * fresh Herald and database, and the medians compared: one run on a shared
 * 2-core machine moves by more than the 10 % this measures (the same work
 * took 4.1 to 6.0 CPU seconds in one suite), and a run early in the suite
 * against one at its end adds a drift that the alternating order cancels.
 */
export async function isolation(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<IsolationResult> {
  const healthy = sizes.events * sizes.endpoints;
  const runs: IsolationRun[] = [];
  for (let pair = 0; pair < sizes.isolationPairs; pair++) {
    const order = pair % 2 === 0 ? (["clean", "dead endpoint"] as const) : (["dead endpoint", "clean"] as const);
    for (const kind of order) runs.push(await run(kind));
  }
  const median = (kind: IsolationRun["kind"], pick: (run: IsolationRun) => number) => {
    const values = runs
      .filter((r) => r.kind === kind)
      .map(pick)
      .sort((a, b) => a - b);
    const middle = Math.floor(values.length / 2);
    return values.length % 2 === 1 ? (values[middle] ?? 0) : ((values[middle - 1] ?? 0) + (values[middle] ?? 0)) / 2;
  };
  const healthyPerSecond = median("dead endpoint", (r) => r.healthyPerSecond);
  const cleanPerSecond = median("clean", (r) => r.healthyPerSecond);
  return {
    scenario: "isolation",
    healthyDeliveries: healthy,
    received: Math.min(...runs.map((r) => r.received)),
    hungRequests: Math.max(...runs.map((r) => r.hungRequests)),
    healthyPerSecond: round(healthyPerSecond),
    cleanPerSecond: round(cleanPerSecond),
    heldBackPerDeadJob: round(median("dead endpoint", (r) => r.heldBack) / sizes.events, 2),
    ratio: round(healthyPerSecond / cleanPerSecond, 3),
    runs,
  };

  async function run(kind: IsolationRun["kind"]): Promise<IsolationRun> {
    const metricsPort = await freePort();
    const bench = await startBenchHerald(options, { env: { HERALD_METRICS_PORT: String(metricsPort) } });
    try {
      const tenantId = await bench.createTenant("isolation");
      await bench.addEndpoints(tenantId, [
        ...Array.from({ length: sizes.endpoints }, (_, i) => `${receiver.url}/e/${i}`),
        ...(kind === "clean" ? [] : [`${receiver.hangUrl}/hang/0`]),
      ]);
      await receiver.reset();
      const label = `isolation, ${kind}`;
      log(`${label}: ${sizes.events} events × ${sizes.endpoints} healthy endpoints${kind === "clean" ? "" : " + 1 that never answers"}`);
      const started = now();
      const publishing = bench.publishMany(tenantId, sizes.events);
      const { counters, complete } = await waitForReceived(receiver, healthy, { label, timeoutMs: sizes.timeoutMs });
      await publishing;
      // Every healthy delivery recorded as succeeded; the hanging ones are still in flight.
      const recordedAt = complete ? await bench.recorded(healthy, 30_000) : undefined;
      const ended = recordedAt ?? now();
      const seconds = (ended - started) / 1000;
      const hung = (await receiver.stats()).hung;
      const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`).then((response) => response.text());
      const heldBack = [...metrics.matchAll(/^herald_deliveries_delayed_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      // Let the held connections fail now, so the worker shuts down without waiting for its timeout.
      await receiver.releaseHung();
      return {
        kind,
        seconds: round(seconds, 3),
        healthyPerSecond: round((recordedAt === undefined ? counters.count : healthy) / seconds),
        received: counters.count,
        hungRequests: hung,
        heldBack,
      };
    } finally {
      await bench.stop();
    }
  }
}
