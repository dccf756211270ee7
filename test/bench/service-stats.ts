import { readFileSync } from "node:fs";
import { Redis } from "ioredis";
import type postgres from "postgres";

/** Linux clock ticks per second (USER_HZ), the unit of /proc/<pid>/stat times. */
const CLOCK_TICKS = 100;

/** CPU seconds a process has used so far (user + system), from /proc. */
export function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Read and write system calls a process has made so far, from /proc/<pid>/io
 * (sockets included): a count that does not move with the machine's speed,
 * unlike CPU time, so it compares builds across runs.
 */
export function processSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    const field = (name: string) => Number(io.match(new RegExp(`^${name}:\\s+(\\d+)`, "m"))?.[1] ?? 0);
    return { reads: field("syscr"), writes: field("syscw") };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/** Peak and current resident memory of a process in MiB, from /proc/<pid>/status. */
export function processMemory(pid: number): { peakMiB: number; rssMiB: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(status.match(new RegExp(`^${name}:\\s+(\\d+) kB`, "m"))?.[1] ?? 0);
  return { peakMiB: Math.round(kib("VmHWM") / 1024), rssMiB: Math.round(kib("VmRSS") / 1024) };
}

export interface RedisSnapshot {
  calls: Map<string, number>;
  cpuSeconds: number;
}

export async function redisSnapshot(url: string): Promise<RedisSnapshot> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  try {
    const [commandstats, cpu] = await Promise.all([redis.info("commandstats"), redis.info("cpu")]);
    const calls = new Map<string, number>();
    for (const match of commandstats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1] as string, Number(match[2]));
    const field = (name: string) => Number(cpu.match(new RegExp(`^${name}:([\\d.]+)`, "m"))?.[1] ?? 0);
    return { calls, cpuSeconds: field("used_cpu_user") + field("used_cpu_sys") };
  } finally {
    redis.disconnect();
  }
}

/** Commands between two snapshots, minus the INFO calls the snapshots made themselves. */
export function redisDelta(before: RedisSnapshot, after: RedisSnapshot) {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, calls] of after.calls) {
    const delta = calls - (before.calls.get(name) ?? 0) - (name === "info" ? 2 : 0);
    if (delta > 0) {
      byCommand[name] = delta;
      total += delta;
    }
  }
  return { total, byCommand, cpuSeconds: after.cpuSeconds - before.cpuSeconds };
}

export interface PgSnapshot {
  commits: number;
  rollbacks: number;
  rowsWritten: number;
  /** Deadlocks PostgreSQL detected (and broke by aborting a transaction) in this database. */
  deadlocks: number;
  /** CPU seconds of each client backend of the database, by pid. */
  backendCpu: Map<number, number>;
  /** Total statement calls from pg_stat_statements, when the extension is loaded. */
  statements: number | undefined;
  /**
   * WAL records the whole server has written (pg_stat_wal): what PostgreSQL had to make durable, a count that does
   * not move with the machine. Server-wide, so it holds only while the benchmark is all the server does; backends
   * report it with their other counters (see settledPgSnapshot).
   */
  walRecords: number;
  /**
   * Times the server flushed its WAL to disk (pg_stat_wal.wal_sync): each commit that waits for durability makes
   * one, unless another's flush covered it. Server-wide, as walRecords.
   */
  walSyncs: number;
}

/**
 * Counters of one database. pg_stat_database is per database, and every
 * benchmark has its own, so other work on the server does not leak in.
 */
export async function pgSnapshot(sql: postgres.Sql, database: string): Promise<PgSnapshot> {
  await sql`select pg_stat_clear_snapshot()`;
  const [row] = await sql<{ commits: string; rollbacks: string; written: string; deadlocks: string; wal: string; syncs: string }[]>`
    select xact_commit as commits, xact_rollback as rollbacks, tup_inserted + tup_updated + tup_deleted as written, deadlocks,
           (select wal_records from pg_stat_wal) as wal, (select wal_sync from pg_stat_wal) as syncs
    from pg_stat_database where datname = ${database}`;
  const backends = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity where datname = ${database} and backend_type = 'client backend' and pid <> pg_backend_pid()`;
  let statements: number | undefined;
  try {
    const [found] = await sql<{ calls: string }[]>`
      select coalesce(sum(calls), 0) as calls from pg_stat_statements s join pg_database d on d.oid = s.dbid where d.datname = ${database}`;
    statements = Number(found?.calls ?? 0);
  } catch {
    statements = undefined;
  }
  return {
    commits: Number(row?.commits ?? 0),
    rollbacks: Number(row?.rollbacks ?? 0),
    rowsWritten: Number(row?.written ?? 0),
    deadlocks: Number(row?.deadlocks ?? 0),
    backendCpu: new Map(backends.map(({ pid }) => [pid, processCpuSeconds(pid)])),
    statements,
    walRecords: Number(row?.wal ?? 0),
    walSyncs: Number(row?.syncs ?? 0),
  };
}

export function pgDelta(before: PgSnapshot, after: PgSnapshot) {
  let cpuSeconds = 0;
  for (const [pid, cpu] of after.backendCpu) cpuSeconds += cpu - (before.backendCpu.get(pid) ?? 0);
  return {
    transactions: after.commits + after.rollbacks - before.commits - before.rollbacks,
    rowsWritten: after.rowsWritten - before.rowsWritten,
    deadlocks: after.deadlocks - before.deadlocks,
    statements: after.statements === undefined || before.statements === undefined ? undefined : after.statements - before.statements,
    walRecords: after.walRecords - before.walRecords,
    walSyncs: after.walSyncs - before.walSyncs,
    backendCpuSeconds: cpuSeconds,
  };
}

/**
 * PostgreSQL backends report their counters when idle, at most about every
 * ten seconds; this waits until the commit count stops moving.
 */
export async function settledPgSnapshot(sql: postgres.Sql, database: string, timeoutMs = 15_000): Promise<PgSnapshot> {
  const deadline = Date.now() + timeoutMs;
  let last = await pgSnapshot(sql, database);
  let steady = 0;
  while (Date.now() < deadline && steady < 3) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const next = await pgSnapshot(sql, database);
    steady = next.commits === last.commits ? steady + 1 : 0;
    last = next;
  }
  return last;
}
