import { cpus } from "node:os";
import { type BenchHerald, type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { log, now, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import {
  pgDelta,
  pgSnapshot,
  processCpuSeconds,
  processMemory,
  processSyscalls,
  type RedisSnapshot,
  redisDelta,
  redisSnapshot,
  settledPgSnapshot,
} from "../service-stats.ts";
import { type Sizes, warmupOf } from "../sizes.ts";

export interface ThroughputResult {
  scenario: string;
  workers: number;
  events: number;
  endpoints: number;
  deliveries: number;
  /** How the events were published: through the batch route (100 per request) or one per request. */
  publishedVia: "batch" | "single";
  received: number;
  signed: number;
  attemptsRecorded: number;
  /** Deadlocks PostgreSQL detected in the run's database over the run (pg_stat_database.deadlocks). */
  deadlocks: number;
  seconds: number;
  deliveriesPerSecond: number;
  /** Peak RSS over the run, and resident memory right after start-up for comparison. */
  memory: { apiPeakMiB: number; workerPeakMiB: number; apiStartMiB: number; workerStartMiB: number };
  perDelivery: {
    redisCommands: number;
    redisCpuMs: number;
    redisCommandsByName: Record<string, number>;
    pgTransactions: number;
    pgStatements: number | null;
    pgRowsWritten: number;
    /** WAL records PostgreSQL wrote (the whole server's, see PgSnapshot.walRecords). */
    pgWalRecords: number;
    /** WAL flushes to disk (the whole server's, see PgSnapshot.walSyncs). */
    pgWalSyncs: number;
    pgCpuMs: number;
    apiCpuMs: number;
    workerCpuMs: number;
    /** Read and write system calls of the worker processes (sockets: Redis, PostgreSQL, receivers). */
    workerReadCalls: number;
    workerWriteCalls: number;
    /** Read and write system calls of the API process. */
    apiSyscalls: number;
    receiverCpuMs: number;
    /** Every process a delivery touches: worker, API, Redis, PostgreSQL backends, receiver. */
    totalCpuMs: number;
  };
  /** Deliveries/s one Redis core and one PostgreSQL core could carry at the measured cost per delivery. */
  /** cpuCeiling: deliveries/s this machine's cores could carry at totalCpuMs each, if nothing else ran. */
  estimates: { redisShard: number; pgPerCore: number; cpuCeiling: number };
  /** Each Redis node's share (one entry without a cluster): commands and CPU ms per delivery of the run. */
  redisNodes: { url: string; commands: number; cpuMs: number; byCommand: Record<string, number> }[];
}

/** Process ids of a running Herald, for whatever watches a run. */
export interface HeraldPids {
  api: number;
  workers: number[];
}

export interface ThroughputRunOptions {
  workers?: number;
  name?: string;
  /** Extra environment for this run's Herald processes (shards, a cluster). */
  env?: Record<string, string>;
  /** Every Redis node whose counters make up the run's (a cluster's masters); default: options.redisUrl. */
  redisNodes?: string[];
  /** Called just inside the measured window, e.g. to watch every Redis command of it. */
  window?: { start(): Promise<void>; stop(pids: HeraldPids): Promise<void> };
  /** Runs after the endpoints exist and before anything is measured (the history scenario loads its history here). */
  prepare?: (bench: BenchHerald, tenantId: string, endpointIds: string[]) => Promise<void>;
  /**
   * Deliveries made to the same endpoints before the measured window, each received and recorded, so that the
   * window sees the processes at their steady state (see Sizes.warmupDeliveries). Rounded to whole events.
   */
  warmupDeliveries?: number;
}

/**
 * Publishes `events` events through the API to `endpoints` endpoints each
 * and times until every delivery was received and recorded as succeeded.
 * Leaves the Herald running (for the latency scenario) unless told to stop.
 */
export async function throughput(
  options: BenchOptions,
  receiver: FastReceiver,
  sizes: Sizes,
  {
    workers = 1,
    name = "throughput",
    env = {},
    redisNodes = [options.redisUrl],
    window,
    prepare,
    warmupDeliveries = 0,
  }: ThroughputRunOptions = {},
): Promise<{ result: ThroughputResult; bench: BenchHerald; tenantId: string }> {
  const bench = await startBenchHerald(options, { workers, env });
  const tenantId = await bench.createTenant("bench");
  const endpointIds = await bench.addEndpoints(
    tenantId,
    Array.from({ length: sizes.endpoints }, (_, i) => `${receiver.url}/e/${i}`),
  );
  await prepare?.(bench, tenantId, endpointIds);
  const { events: warmupEvents, deliveries: warmup } = warmupOf(warmupDeliveries, sizes.endpoints);
  if (warmup > 0) {
    log(`${name}: warming up with ${warmup} deliveries (not measured)`);
    await receiver.reset();
    await bench.publishMany(tenantId, warmupEvents);
    await waitForReceived(receiver, warmup, { label: `${name} warm-up`, timeoutMs: sizes.timeoutMs });
    await bench.recorded(warmup, 30_000);
  }
  const total = sizes.events * sizes.endpoints;
  const pids = { api: bench.herald.api.child.pid ?? 0, workers: bench.herald.workers.map((w) => w.child.pid ?? 0) };
  const startMemory = { api: processMemory(pids.api).rssMiB, worker: Math.max(...pids.workers.map((pid) => processMemory(pid).rssMiB)) };
  await receiver.reset();
  const redisBefore = await Promise.all(redisNodes.map(redisSnapshot));
  await window?.start();
  const pgBefore = await pgSnapshot(bench.sql, bench.herald.database.name);
  const cpuBefore = {
    api: processCpuSeconds(pids.api),
    workers: pids.workers.map(processCpuSeconds),
    receiver: processCpuSeconds(receiver.pid),
  };
  const syscallsBefore = pids.workers.map(processSyscalls);
  const apiSyscallsBefore = processSyscalls(pids.api);

  log(
    `${name}: publishing ${sizes.events} events × ${sizes.endpoints} endpoint${sizes.endpoints > 1 ? "s" : ""} (${workers} worker process${workers > 1 ? "es" : ""})`,
  );
  const started = now();
  const publishing = bench.publishMany(tenantId, sizes.events);
  const { counters } = await waitForReceived(receiver, total, { label: name, timeoutMs: sizes.timeoutMs });
  const published = await publishing;
  const recordedAt = await bench.recorded(warmup + total, 30_000);
  const ended = recordedAt ?? now();

  const workerSyscalls = pids.workers.map(processSyscalls).reduce(
    (sum, after, i) => ({
      reads: sum.reads + after.reads - (syscallsBefore[i]?.reads ?? 0),
      writes: sum.writes + after.writes - (syscallsBefore[i]?.writes ?? 0),
    }),
    { reads: 0, writes: 0 },
  );
  const apiSyscallsAfter = processSyscalls(pids.api);
  const cpuAfter = {
    api: processCpuSeconds(pids.api),
    workers: pids.workers.map(processCpuSeconds),
    receiver: processCpuSeconds(receiver.pid),
  };
  const memory = {
    apiPeakMiB: processMemory(pids.api).peakMiB,
    workerPeakMiB: Math.max(...pids.workers.map((pid) => processMemory(pid).peakMiB)),
    apiStartMiB: startMemory.api,
    workerStartMiB: startMemory.worker,
  };
  const redisAfter = await Promise.all(redisNodes.map(redisSnapshot));
  await window?.stop(pids);
  const nodes = redisNodes.map((_, i) => redisDelta(redisBefore[i] as RedisSnapshot, redisAfter[i] as RedisSnapshot));
  const redis = { total: 0, cpuSeconds: 0, byCommand: {} as Record<string, number> };
  for (const node of nodes) {
    redis.total += node.total;
    redis.cpuSeconds += node.cpuSeconds;
    for (const [command, calls] of Object.entries(node.byCommand)) redis.byCommand[command] = (redis.byCommand[command] ?? 0) + calls;
  }
  const pg = pgDelta(pgBefore, await settledPgSnapshot(bench.sql, bench.herald.database.name));
  const [attempts] = await bench.sql<{ n: number }[]>`select count(*)::int - ${warmup}::int as n from attempts`;
  if (published.failed > 0) log(`${name}: ${published.failed} publishes failed`);

  const seconds = (ended - started) / 1000;
  const per = (value: number) => value / total;
  const workerCpu = cpuAfter.workers.reduce((sum, cpu, i) => sum + cpu - (cpuBefore.workers[i] ?? 0), 0);
  const totalCpu =
    workerCpu + cpuAfter.api - cpuBefore.api + cpuAfter.receiver - cpuBefore.receiver + redis.cpuSeconds + pg.backendCpuSeconds;
  const result: ThroughputResult = {
    scenario: name,
    workers,
    events: sizes.events,
    endpoints: sizes.endpoints,
    deliveries: total,
    publishedVia: published.batched ? "batch" : "single",
    received: counters.count,
    signed: counters.signed,
    attemptsRecorded: attempts?.n ?? 0,
    deadlocks: pg.deadlocks,
    seconds: round(seconds, 3),
    deliveriesPerSecond: round(recordedAt === undefined ? counters.count / seconds : total / seconds),
    memory,
    perDelivery: {
      redisCommands: round(per(redis.total), 2),
      redisCpuMs: round(per(redis.cpuSeconds * 1000), 4),
      redisCommandsByName: Object.fromEntries(Object.entries(redis.byCommand).map(([k, v]) => [k, round(per(v), 3)])),
      pgTransactions: round(per(pg.transactions), 4),
      pgStatements: pg.statements === undefined ? null : round(per(pg.statements), 3),
      pgRowsWritten: round(per(pg.rowsWritten), 2),
      pgWalRecords: round(per(pg.walRecords), 2),
      pgWalSyncs: round(per(pg.walSyncs), 3),
      pgCpuMs: round(per(pg.backendCpuSeconds * 1000), 4),
      apiCpuMs: round(per((cpuAfter.api - cpuBefore.api) * 1000), 4),
      workerCpuMs: round(per(workerCpu * 1000), 4),
      workerReadCalls: round(per(workerSyscalls.reads), 2),
      workerWriteCalls: round(per(workerSyscalls.writes), 2),
      apiSyscalls: round(per(apiSyscallsAfter.reads + apiSyscallsAfter.writes - apiSyscallsBefore.reads - apiSyscallsBefore.writes), 2),
      receiverCpuMs: round(per((cpuAfter.receiver - cpuBefore.receiver) * 1000), 4),
      totalCpuMs: round(per(totalCpu * 1000), 4),
    },
    estimates: {
      redisShard: redis.cpuSeconds > 0 ? round(total / redis.cpuSeconds) : 0,
      pgPerCore: pg.backendCpuSeconds > 0 ? round(total / pg.backendCpuSeconds) : 0,
      cpuCeiling: totalCpu > 0 ? round((cpus().length * total) / totalCpu) : 0,
    },
    redisNodes: nodes.map((node, i) => ({
      url: redisNodes[i] as string,
      commands: round(per(node.total), 2),
      cpuMs: round(per(node.cpuSeconds * 1000), 4),
      byCommand: Object.fromEntries(Object.entries(node.byCommand).map(([k, v]) => [k, round(per(v), 3)])),
    })),
  };
  return { result, bench, tenantId };
}
