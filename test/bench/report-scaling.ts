import { n, x } from "./format.ts";
import type { OperationCount } from "./redis-monitor.ts";
import type { CommandsRun } from "./scenarios/commands.ts";
import type { SuiteResults } from "./suite.ts";

/** The balance a sharded queue must show on the cluster. */
export const MAX_BUSIEST = 1.3;
export const CLUSTER_TARGET = `Redis Cluster, 3 shards: busiest master ≤ ${MAX_BUSIEST} × the mean, in commands and in CPU`;

/** The share of a core the capacity model plans each unit at, leaving room for bursts and for the machine itself. */
export const PLANNED_UTILIZATION = 0.7;
/** The deployments the capacity model sizes. */
export const PLANNED_RATES = [10_000, 50_000, 100_000] as const;
/** Receiver response time the in-flight column assumes. */
const RECEIVER_MS = 100;
/** HERALD_WORKER_CONCURRENCY's default. */
const WORKER_CONCURRENCY = 100;

export function clusterTarget(r: SuiteResults) {
  const c = r.cluster;
  return {
    target: CLUSTER_TARGET,
    measured: c ? `commands ${x(c.sharded.busiestCommands)}, CPU ${x(c.sharded.busiestCpu)} (${c.endpoints} endpoints)` : "—",
    met: c ? c.sharded.busiestCommands <= MAX_BUSIEST && c.sharded.busiestCpu <= MAX_BUSIEST : null,
  };
}

export function whyClusterMissed(r: SuiteResults): string {
  const c = r.cluster;
  const run = c?.runs.find((one) => one.kind === "sharded");
  if (!c || !run) return "not measured";
  return (
    `per master (port: endpoints, commands and CPU ms per delivery of the whole run): ` +
    `${run.masters.map((m) => `${m.port}: ${m.endpoints}, ${n(m.commands, 1)}, ${n(m.cpuMs, 3)}`).join("; ")}. ` +
    "A master's load follows the endpoints whose shard it serves (FNV-1a of the endpoint id) and the deliveries they get; " +
    "shard 0 also holds the scheduler's lock and cursor. CPU on a 2-core machine shared by three masters and everything else also moves with scheduling."
  );
}

/** Rows of the results table. */
export function scalingRows(r: SuiteResults): [string, string, string][] {
  const rows: [string, string, string][] = [];
  for (const run of r.commands?.runs ?? []) {
    rows.push([
      `Redis commands by sender, ${run.endpoints} endpoint${run.endpoints > 1 ? "s" : ""}`,
      `${n(run.herald.monitored, 1)} against ${n(run.reference.monitored, 1)} per delivery`,
      `Herald ${n(run.herald.scriptCalls, 1)} script calls, the durable reference ${n(run.reference.scriptCalls, 1)}; ${n(run.deliveries)} deliveries each, every command watched by MONITOR (see "Redis commands per delivery, by sender")`,
    ]);
  }
  const c = r.cluster;
  if (c) {
    rows.push([
      `Redis Cluster, ${c.shards} shards on ${c.shards} masters`,
      `${n(c.sharded.deliveriesPerSecond)} against ${n(c.single.deliveriesPerSecond)} deliveries/s on one Redis (${x(c.ratio)})`,
      `${n(c.deliveries)} deliveries to ${c.endpoints} endpoints, medians of ${c.pairs} alternating pair${c.pairs === 1 ? "" : "s"}; busiest master ${x(c.sharded.busiestCommands)} the mean in commands, ` +
        `${x(c.sharded.busiestCpu)} in CPU; per delivery ${n(c.sharded.redisCommands, 1)} Redis commands and ${n(c.sharded.redisCpuMs, 3)} Redis CPU ms over the masters ` +
        `against ${n(c.single.redisCommands, 1)} and ${n(c.single.redisCpuMs, 3)} on one Redis (see "Redis Cluster")`,
    ]);
  }
  return rows;
}

/**
 * The operations that make Herald's commands per delivery exceed the durable reference's, largest first,
 * from the commands scenario's first run: the measured reason for the commands target.
 */
export function commandsExcess(r: SuiteResults, top = 5): string {
  const run = r.commands?.runs[0];
  if (!run) return "";
  const sum = (operations: OperationCount[]) => {
    const found = new Map<string, number>();
    for (const op of operations) found.set(op.operation, (found.get(op.operation) ?? 0) + op.commands);
    return found;
  };
  const herald = sum(run.herald.operations);
  const reference = sum(run.reference.operations);
  const excess = [...new Set([...herald.keys(), ...reference.keys()])]
    .map((name) => [name, (herald.get(name) ?? 0) - (reference.get(name) ?? 0)] as const)
    .filter(([, more]) => Math.abs(more) >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  return (
    ` By sender (the commands scenario, ${run.endpoints} endpoints: Herald ${n(run.herald.monitored, 1)} against ${n(run.reference.monitored, 1)}): ` +
    excess.map(([name, more]) => `${name} ${more >= 0 ? "+" : ""}${n(more, 1)}`).join(", ") +
    "."
  );
}

/**
 * What the breakdown says about the target of 28 commands and 2 script calls per delivery, in this run's
 * numbers: the floor BullMQ's own scripts set, and what each of Herald's additions costs.
 */
function pathToTarget(run: CommandsRun): string[] {
  const total = (operations: OperationCount[], test: (name: string) => boolean) =>
    operations
      .filter((op) => test(op.operation))
      .reduce((sum, op) => ({ commands: sum.commands + op.commands, calls: sum.calls + op.calls }), { commands: 0, calls: 0 });
  const h = run.herald.operations;
  const bullmq = (name: string) => name.startsWith("BullMQ");
  const heraldBullmq = total(h, bullmq);
  const referenceBullmq = total(run.reference.operations, bullmq);
  const guard = total(h, (name) => name.startsWith("guard admissions and releases"));
  const reconciler = total(h, (name) => name.startsWith("reconciler"));
  const adds = total(h, (name) => name.startsWith("BullMQ add"));
  const apiAdds = h.filter((op) => op.issuer === "api" && op.operation.startsWith("BullMQ add")).reduce((sum, op) => sum + op.calls, 0);
  const rest = run.herald.monitored - heraldBullmq.commands - guard.commands - reconciler.commands;
  return [
    `**Where the ${n(run.herald.monitored, 1)} go, and what would reach 28.** BullMQ's own scripts, as the durable reference uses them (add, then complete-and-fetch-next),`,
    `cost ${n(referenceBullmq.commands, 1)} commands and ${n(run.reference.scriptCalls, 1)} script calls per delivery: above the target before any guard, because each`,
    "writes BullMQ's event stream, metrics and job hash as well as moving the job. On top of that floor Herald spends",
    `${n(guard.commands, 1)} on the guard's admissions and releases (${n(guard.calls, 2)} script calls: each carries what one turn of a worker's event loop asked of a shard),`,
    `${n(heraldBullmq.commands - referenceBullmq.commands, 1)} more in BullMQ (adds: ${n(adds.calls, 2)} per delivery, of which the API made ${n(apiAdds, 2)}: the API queues`,
    "at most four times an endpoint's cap and parks the rest in PostgreSQL, so most jobs are added by the worker's refills, and each job turned away is",
    `completed, parked and added again), ${n(reconciler.commands, 1)} on the reconciler's existence checks (every due delivery waiting longer than the grace, each pass:`,
    `many in a slow run, none in a fast one) and ${n(rest, 1)} on the rest.`,
    "The guard settles in one script call per shard whatever a worker asked of it in one turn of its event loop (its",
    "releases first, then its admissions), reading each endpoint's state once and writing it back once: what is left of it",
    "per delivery is the attempt's `sending` mark (one SET; the release's DEL is one per call) and a few commands per",
    "endpoint and call. No change to the guard takes Herald below BullMQ's own floor: 28 commands and 2 script calls",
    "need the guard inside the fetch and complete scripts (BullMQ's scripts extended, or a queue layout of Herald's own),",
    "which the design card's one BullMQ job per delivery leaves open only if Herald maintains its own copies of BullMQ's Lua.",
  ];
}

/** Rows of one breakdown table: every operation of either side, Herald's largest first. */
function breakdownTable(run: CommandsRun): string[] {
  const byOperation = (operations: OperationCount[]) => {
    const found = new Map<string, { commands: number; calls: number; scriptCalls: number; issuers: Map<string, number> }>();
    for (const op of operations) {
      const entry = found.get(op.operation) ?? { commands: 0, calls: 0, scriptCalls: 0, issuers: new Map() };
      entry.commands += op.commands;
      entry.calls += op.calls;
      entry.scriptCalls += op.scriptCalls;
      entry.issuers.set(op.issuer, (entry.issuers.get(op.issuer) ?? 0) + op.commands);
      found.set(op.operation, entry);
    }
    return found;
  };
  const herald = byOperation(run.herald.operations);
  const reference = byOperation(run.reference.operations);
  const names = [...new Set([...herald.keys(), ...reference.keys()])].sort(
    (a, b) =>
      (herald.get(b)?.commands ?? 0) - (herald.get(a)?.commands ?? 0) ||
      (reference.get(b)?.commands ?? 0) - (reference.get(a)?.commands ?? 0),
  );
  const cell = (entry: { commands: number; calls: number; scriptCalls: number } | undefined) =>
    entry
      ? `${n(entry.commands, 2)} (${n(entry.calls, 2)} call${entry.scriptCalls > 0 ? `s, ${n(entry.scriptCalls, 2)} scripts` : "s"})`
      : "—";
  const who = (issuers: Map<string, number> | undefined) =>
    issuers
      ? [...issuers]
          .sort((a, b) => b[1] - a[1])
          .map(([issuer, commands]) => (issuers.size > 1 ? `${issuer} ${n(commands, 2)}` : issuer))
          .join(", ")
      : "";
  const lines = [
    "| operation | Herald: sent by | Herald: commands (calls) per delivery | durable reference | Herald − reference |",
    "| --- | --- | --- | --- | --- |",
  ];
  let restHerald = 0;
  let restReference = 0;
  for (const name of names) {
    const h = herald.get(name);
    const ref = reference.get(name);
    if ((h?.commands ?? 0) < 0.01 && (ref?.commands ?? 0) < 0.01) {
      restHerald += h?.commands ?? 0;
      restReference += ref?.commands ?? 0;
      continue;
    }
    lines.push(`| ${name} | ${who(h?.issuers)} | ${cell(h)} | ${cell(ref)} | ${n((h?.commands ?? 0) - (ref?.commands ?? 0), 2)} |`);
  }
  if (restHerald + restReference > 0) lines.push(`| everything else (< 0.01 each) | | ${n(restHerald, 2)} | ${n(restReference, 2)} | |`);
  lines.push(
    `| **total** (MONITOR) | | **${n(run.herald.monitored, 2)}** (${n(run.herald.scriptCalls, 2)} scripts) | **${n(run.reference.monitored, 2)}** (${n(run.reference.scriptCalls, 2)} scripts) | ${n(run.herald.monitored - run.reference.monitored, 2)} |`,
    `| total by INFO commandstats, same window | | ${n(run.herald.commandstats, 2)} | ${n(run.reference.commandstats, 2)} | |`,
  );
  return lines;
}

/** Deliveries/s one unit carries at PLANNED_UTILIZATION of a core, at `cpuMs` per delivery (× a busiest-unit factor). */
const perUnit = (cpuMs: number | undefined, busiest = 1) =>
  cpuMs && cpuMs > 0 ? (PLANNED_UTILIZATION * 1000) / (cpuMs * busiest) : undefined;
const unitsFor = (rate: number, capacity: number | undefined) => (capacity ? Math.ceil(rate / capacity) : undefined);

export interface CapacityModel {
  redis?: { cpuMs: number; commands: number; busiest: number; perMaster: number; from: string };
  pg?: { cpuMs: number; transactions: number; perCore: number; from: string };
  worker?: { cpuMs: number; perProcess: number; from: string };
  api?: { cpuMs: number; perProcess: number; from: string };
}

/**
 * The capacity model's inputs: the sharded cluster runs' Redis cost when there are some, the throughput run's
 * otherwise; PostgreSQL, worker and API costs from the throughput run, or the cluster's when it is missing.
 */
export function capacityModel(r: SuiteResults): CapacityModel {
  // A run cut short by its timeout divides part of the work by all of the deliveries: its costs are not used.
  const t = r.throughput && r.throughput.received === r.throughput.deliveries ? r.throughput : undefined;
  const complete = r.cluster?.runs.filter((run) => run.kind === "sharded").every((run) => run.complete);
  const c = complete ? r.cluster : undefined;
  const model: CapacityModel = {};
  const clusterFrom = c ? `the cluster scenario (${c.shards} shards on ${c.shards} masters, ${c.endpoints} endpoints)` : "";
  const throughputFrom = t ? `the throughput run (1 worker, ${t.endpoints} endpoints)` : "";
  if (c && c.sharded.redisCpuMs > 0) {
    const busiest = Math.max(1, c.sharded.busiestCpu);
    model.redis = {
      cpuMs: c.sharded.redisCpuMs,
      commands: c.sharded.redisCommands,
      busiest,
      perMaster: perUnit(c.sharded.redisCpuMs, busiest) ?? 0,
      from: clusterFrom,
    };
  } else if (t && t.perDelivery.redisCpuMs > 0) {
    model.redis = {
      cpuMs: t.perDelivery.redisCpuMs,
      commands: t.perDelivery.redisCommands,
      busiest: 1,
      perMaster: perUnit(t.perDelivery.redisCpuMs) ?? 0,
      from: throughputFrom,
    };
  }
  const rest = t
    ? { ...t.perDelivery, from: throughputFrom }
    : c
      ? {
          pgCpuMs: c.sharded.pgCpuMs,
          pgTransactions: c.sharded.pgTransactions,
          workerCpuMs: c.sharded.workerCpuMs,
          apiCpuMs: c.sharded.apiCpuMs,
          from: clusterFrom,
        }
      : undefined;
  if (rest && rest.pgCpuMs > 0)
    model.pg = { cpuMs: rest.pgCpuMs, transactions: rest.pgTransactions, perCore: perUnit(rest.pgCpuMs) ?? 0, from: rest.from };
  if (rest && rest.workerCpuMs > 0) model.worker = { cpuMs: rest.workerCpuMs, perProcess: perUnit(rest.workerCpuMs) ?? 0, from: rest.from };
  if (rest && rest.apiCpuMs > 0) model.api = { cpuMs: rest.apiCpuMs, perProcess: perUnit(rest.apiCpuMs) ?? 0, from: rest.from };
  return model;
}

/** The sections after the results table: the command breakdown, the cluster's masters, the capacity model. */
export function scalingSections(r: SuiteResults): string[] {
  const lines: string[] = [];
  const runs = r.commands?.runs ?? [];
  if (runs.length > 0) {
    lines.push(
      "",
      "## Redis commands per delivery, by sender",
      "",
      "Every command of a run of the throughput scenario's deliveries, watched with `MONITOR` on a redis-server of its own and put down to the process",
      "that sent it (its socket's owner, `ss -tnp`) and what it does: scripts by their SHA (their inner commands with them, as `INFO commandstats`",
      "counts them), other commands by the key they touch. The durable reference's run is watched the same way. A script call counts once in calls;",
      "commands count what it ran too. The two totals of each side must agree, or the classification missed something.",
    );
    for (const run of runs) {
      lines.push("", `### ${n(run.deliveries)} deliveries to ${run.endpoints} endpoint${run.endpoints > 1 ? "s" : ""}`, "");
      const incomplete = [run.herald, run.reference].filter((side) => !side.complete).map((side) => side.kind);
      if (incomplete.length > 0)
        lines.push(
          `**Incomplete** (${incomplete.join(" and ")}: not every delivery recorded within the timeout): these counts mean little.`,
          "",
        );
      lines.push(...breakdownTable(run));
    }
    lines.push("", ...pathToTarget(runs[0] as CommandsRun));
  }

  const c = r.cluster;
  if (c) {
    lines.push(
      "",
      "## Redis Cluster",
      "",
      `Herald with \`HERALD_QUEUE_SHARDS=${c.shards}\` on a ${c.shards}-master Redis Cluster (\`startRedisCluster\`: ${c.shards} redis-servers joined by`,
      "`redis-cli --cluster create`, `HERALD_REDIS_CLUSTER=true`, `REDIS_URL` listing the masters) against `HERALD_QUEUE_SHARDS=1` on one redis-server,",
      `${n(c.deliveries)} deliveries (${n(c.events)} events × ${c.endpoints} endpoints) each, the same receiver, ${c.pairs} pair${c.pairs === 1 ? "" : "s"} whose order alternates.`,
      "Per delivery of the whole run, from each node's `INFO commandstats` and `INFO cpu` (used_cpu_user + used_cpu_sys) deltas:",
      "",
      "| run | deliveries/s | node (port) | endpoints | Redis commands | Redis CPU ms | busiest ÷ mean (commands, CPU) |",
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    c.runs.forEach((run, i) => {
      run.masters.forEach((m, j) => {
        lines.push(
          `| ${j === 0 ? `${i + 1}. ${run.kind === "sharded" ? `${c.shards} shards` : "1 shard"}` : ""} | ${j === 0 ? `${n(run.deliveriesPerSecond)}${run.complete ? "" : " (incomplete)"}` : ""} | ${m.port} | ${m.endpoints} | ${n(m.commands, 2)} | ${n(m.cpuMs, 4)} | ${
            j === 0 ? `${x(run.busiestCommands)}, ${x(run.busiestCpu)}` : ""
          } |`,
        );
      });
    });
    lines.push(
      "",
      `Medians: sharded ${n(c.sharded.deliveriesPerSecond)} deliveries/s, ${n(c.sharded.redisCommands, 1)} commands and ${n(c.sharded.redisCpuMs, 3)} Redis CPU ms per delivery over the masters; ` +
        `one Redis ${n(c.single.deliveriesPerSecond)} deliveries/s, ${n(c.single.redisCommands, 1)} commands and ${n(c.single.redisCpuMs, 3)} CPU ms. ` +
        "On this machine the masters, PostgreSQL, Herald and the receiver share two cores, so the sharded run cannot be faster: " +
        "what carries over to a deployment is the masters' balance and the cost per delivery. " +
        `The sharded run spent ${x(c.single.redisCommands > 0 ? c.sharded.redisCommands / c.single.redisCommands : undefined)} the single Redis's commands per delivery. ` +
        "Work that runs on a timer grows with the shards (each shard's queues have their own BullMQ workers waiting for jobs and checking for stalled ones, " +
        "and the scheduler and the reconciler visit every shard) and weighs more per delivery the slower the run; " +
        "how much of the difference it makes is not separated out here.",
    );
  }

  const model = capacityModel(r);
  if (model.redis || model.pg || model.worker) {
    const pct = Math.round(PLANNED_UTILIZATION * 100);
    lines.push(
      "",
      "## Capacity model",
      "",
      `What one unit carries at ${pct} % of a core, from this run's cost per delivery (1 CPU second × ${PLANNED_UTILIZATION} ÷ the CPU each spent per delivery),`,
      "and what a deployment needs at that rate. Redis runs commands on one thread and a Node process runs JavaScript on one, so a master or a",
      "worker process is a core; PostgreSQL's figure counts its backends only (not the WAL writer, checkpoints or the disk). A Redis master's",
      "figure divides by the busiest master's CPU over the mean, as a deployment is as fast as its busiest master.",
      "",
      "| unit | cost per delivery | deliveries/s per unit | measured in |",
      "| --- | --- | --- | --- |",
    );
    if (model.redis)
      lines.push(
        `| Redis master (one shard each) | ${n(model.redis.cpuMs, 4)} CPU ms, ${n(model.redis.commands, 1)} commands${model.redis.busiest > 1 ? `; busiest master ${x(model.redis.busiest)} the mean` : ""} | ${n(model.redis.perMaster)} | ${model.redis.from} |`,
      );
    if (model.pg)
      lines.push(
        `| PostgreSQL core | ${n(model.pg.cpuMs, 4)} backend CPU ms, ${n(model.pg.transactions, 3)} transactions | ${n(model.pg.perCore)} | ${model.pg.from} |`,
      );
    if (model.worker)
      lines.push(`| worker process | ${n(model.worker.cpuMs, 4)} CPU ms | ${n(model.worker.perProcess)} | ${model.worker.from} |`);
    if (model.api)
      lines.push(
        `| API process (batches of 100 events) | ${n(model.api.cpuMs, 4)} CPU ms | ${n(model.api.perProcess)} | ${model.api.from} |`,
      );
    lines.push(
      "",
      `| deliveries/s | Redis masters (\`HERALD_QUEUE_SHARDS\`) | PostgreSQL cores | PostgreSQL transactions/s | worker processes | API processes | requests in flight at ${RECEIVER_MS} ms |`,
      "| --- | --- | --- | --- | --- | --- | --- |",
    );
    for (const rate of PLANNED_RATES) {
      const inFlight = (rate * RECEIVER_MS) / 1000;
      const workers = unitsFor(rate, model.worker?.perProcess);
      const byConcurrency = Math.ceil(inFlight / WORKER_CONCURRENCY);
      lines.push(
        `| ${n(rate)} | ${n(unitsFor(rate, model.redis?.perMaster))} | ${n(unitsFor(rate, model.pg?.perCore))} | ${model.pg ? n(rate * model.pg.transactions) : "—"} | ` +
          `${n(workers === undefined ? undefined : Math.max(workers, byConcurrency))} | ${n(unitsFor(rate, model.api?.perProcess))} | ${n(inFlight)} |`,
      );
    }
    lines.push(
      "",
      `Workers are the larger of the CPU figure and the in-flight requests at ${RECEIVER_MS} ms receivers ÷ ${WORKER_CONCURRENCY} (\`HERALD_WORKER_CONCURRENCY\`'s default):`,
      "slower receivers need more requests open, which a higher concurrency per worker gives as well as more workers. Every figure scales",
      "with the cost per delivery it comes from: fewer Redis commands per delivery (the target is 28) move the masters' line down in proportion to their CPU.",
    );
  }
  return lines;
}
