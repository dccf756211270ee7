import type postgres from "postgres";
import { type IdKind, idFloor, idTime } from "./ids.ts";

type Sql = postgres.Sql;

/**
 * The time-partitioned tables, each by RANGE of its id (ids begin with their
 * creation time), a UTC day per partition named `<table>_pYYYYMMDD`. The
 * first partition of a migrated database, `<table>_p0`, holds every row made
 * before the migration (from MINVALUE to the midnight after it).
 */
export const PARTITIONED_TABLES = [
  { table: "events", kind: "event" },
  { table: "deliveries", kind: "delivery" },
  { table: "attempts", kind: "attempt" },
] as const satisfies readonly { table: string; kind: IdKind }[];

export type PartitionedTable = (typeof PARTITIONED_TABLES)[number]["table"];

/**
 * Room left on each page of a deliveries partition (its storage parameter): every delivery row is rewritten at
 * least once after its insert, and a parked one twice (its release, then its attempt). With room on its page,
 * the release is rewritten in place (a HOT update: no index touched); on a page a batch insert packed full it
 * cannot be, until dead rows are pruned from the page.
 */
export const DELIVERIES_FILLFACTOR = 90;

export const DAY_MS = 86_400_000;

export interface Partition {
  table: PartitionedTable;
  name: string;
  /** Start of its range (inclusive); null for MINVALUE. */
  from: Date | null;
  /** End of its range (exclusive). */
  to: Date;
  /** Detached with DETACH … CONCURRENTLY by a pass that stopped before finishing it. */
  detachPending: boolean;
}

/** Every partition of the three tables, oldest first per table. */
export async function listPartitions(sql: Sql): Promise<Partition[]> {
  const rows = await sql<{ table: PartitionedTable; name: string; bound: string; detachPending: boolean }[]>`
    select p.relname as table, c.relname as name, pg_get_expr(c.relpartbound, c.oid) as bound,
           i.inhdetachpending as "detachPending"
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    join pg_class p on p.oid = i.inhparent
    where p.relname in ('events', 'deliveries', 'attempts') and p.relnamespace = current_schema()::regnamespace`;
  return rows
    .map((row) => {
      const match = /FROM \((?:'([^']*)'|MINVALUE)\) TO \('([^']*)'\)/.exec(row.bound);
      if (!match?.[2]) throw new Error(`partition ${row.name} has a bound Herald did not make: ${row.bound}`);
      return {
        table: row.table,
        name: row.name,
        from: match[1] ? idTime(match[1]) : null,
        to: idTime(match[2]),
        detachPending: row.detachPending,
      };
    })
    .sort((a, b) => a.to.getTime() - b.to.getTime());
}

export interface MaintenanceOptions {
  /** Partitions whose whole range is older than this are dropped. */
  retentionMs: number;
  /** Days after today whose partitions exist ahead of time. */
  aheadDays: number;
  now?: Date;
  /** How long a DDL statement may wait for a lock before this pass gives up on it (the next pass tries again). */
  lockTimeoutMs?: number;
}

export interface MaintenanceReport {
  created: string[];
  dropped: string[];
  /** Expired partitions kept because a delivery in them is still pending or retrying. */
  kept: string[];
  expiredKeys: number;
  /** Event uids deleted because their event's partition is gone. */
  expiredUids: number;
}

const dayName = (table: string, day: Date) => `${table}_p${day.toISOString().slice(0, 10).replaceAll("-", "")}`;
const startOfDay = (time: Date) => new Date(Math.floor(time.getTime() / DAY_MS) * DAY_MS);

/**
 * One maintenance pass: makes the partitions of today and the next
 * `aheadDays` days, drops every partition older than the retention, and
 * deletes expired idempotency keys and the uids of events no longer kept. Each step is one idempotent statement, so
 * a pass killed halfway leaves nothing the next pass cannot finish (a
 * partition it left half-detached is finalised, then dropped).
 *
 * A day is dropped in all three tables together, attempts first, and only
 * when none of its deliveries is still to be sent (pending or failed, parked
 * or not, or held for a disabled endpoint), nor any delivery of a later day
 * whose event is in it; the configuration keeps the retention well above the
 * retry schedule, so that wait is the exception (an operator's retry of an
 * old delivery, an endpoint disabled for longer than the retention). Dropping never blocks writers: the partition is detached
 * CONCURRENTLY (PostgreSQL takes only a SHARE UPDATE EXCLUSIVE lock on the
 * parent) and then dropped on its own.
 */
export async function maintainPartitions(sql: Sql, options: MaintenanceOptions): Promise<MaintenanceReport> {
  const now = options.now ?? new Date();
  const report: MaintenanceReport = { created: [], dropped: [], kept: [], expiredKeys: 0, expiredUids: 0 };
  const lockTimeout = `${options.lockTimeoutMs ?? 5000}ms`;
  const existing = await listPartitions(sql);
  const days = Array.from({ length: options.aheadDays + 1 }, (_, n) => new Date(startOfDay(now).getTime() + n * DAY_MS));
  report.created = await createDayPartitions(sql, days, existing, lockTimeout);

  const cutoff = now.getTime() - options.retentionMs;
  const expired = new Map<string, Partition[]>();
  for (const partition of existing) {
    if (partition.to.getTime() > cutoff) continue;
    const suffix = partition.name.slice(partition.table.length);
    expired.set(suffix, [...(expired.get(suffix) ?? []), partition]);
  }
  for (const [suffix, partitions] of expired) {
    const deliveries = partitions.find((p) => p.table === "deliveries");
    const events = partitions.find((p) => p.table === "events");
    if (deliveries && !deliveries.detachPending && (await unfinishedIn(sql, deliveries))) {
      report.kept.push(suffix);
      continue;
    }
    // An event published just before midnight has its deliveries just after it, in the next day's partition (and
    // an event's deliveries are never older than it). Dropping the event under a delivery still to be sent would
    // leave the worker nothing to send: the day's events wait for those deliveries too.
    if (events && !events.detachPending && (await unfinishedAfter(sql, events.to))) {
      report.kept.push(suffix);
      continue;
    }
    const order = ["attempts", "deliveries", "events"];
    for (const partition of partitions.sort((a, b) => order.indexOf(a.table) - order.indexOf(b.table))) {
      await dropPartition(sql, partition, lockTimeout);
      report.dropped.push(partition.name);
    }
  }

  // A pass killed between a partition's detach and its drop left a table no parent lists: drop it now.
  const leftovers = await sql<{ name: string }[]>`
    select relname as name from pg_class
    where relkind = 'r' and not relispartition and relnamespace = current_schema()::regnamespace
      and relname ~ '^(events|deliveries|attempts)_p(0|[0-9]{8})$'`;
  for (const { name } of leftovers) {
    await sql.unsafe(`drop table if exists "${name}"`);
    report.dropped.push(name);
  }

  report.expiredKeys = await deleteExpiredKeys(sql);
  report.expiredUids = await deleteExpiredUids(sql);
  return report;
}

/**
 * Whether a delivery of this partition is still to be sent: pending or failed (retrying), parked or not, or held
 * for a disabled endpoint (re-enabling it sends them). Three probes, each matching one of the partial indexes
 * (due, parked, held), rather than a scan of the day. Succeeded and exhausted deliveries are finished.
 */
async function unfinishedIn(sql: Sql, deliveries: Partition): Promise<boolean> {
  const [probe] = await sql.unsafe<{ unfinished: boolean }[]>(`
    select exists (select 1 from "${deliveries.name}" where status in ('pending', 'failed') and not parked)
        or exists (select 1 from "${deliveries.name}" where parked and status in ('pending', 'failed'))
        or exists (select 1 from "${deliveries.name}" where status = 'held') as unfinished`);
  return probe?.unfinished ?? false;
}

/**
 * Whether a delivery made at or after `end`, of an event made before it, is still to be sent. The deliveries of
 * later days are searched by their event id (deliveries_event_idx), which reaches only those whose event is older
 * than their own day: the few made around midnight.
 */
async function unfinishedAfter(sql: Sql, end: Date): Promise<boolean> {
  const [probe] = await sql<{ unfinished: boolean }[]>`
    select exists (
      select 1 from deliveries
      where id >= ${idFloor("delivery", end)} and event_id < ${idFloor("event", end)}
        and (status in ('pending', 'failed', 'held') or parked)
    ) as unfinished`;
  return probe?.unfinished ?? false;
}

/**
 * Makes the partitions of the given UTC days in the three tables, except days
 * a partition already covers (even in part, like the first partition of a
 * migrated database). Answers the names it made.
 */
export async function createDayPartitions(sql: Sql, days: Date[], existing?: Partition[], lockTimeout = "5000ms"): Promise<string[]> {
  const partitions = existing ?? (await listPartitions(sql));
  const created: string[] = [];
  for (const start of days) {
    const day = startOfDay(start);
    const next = new Date(day.getTime() + DAY_MS);
    for (const { table, kind } of PARTITIONED_TABLES) {
      const covered = partitions.some((p) => p.table === table && p.to > day && (p.from === null || p.from < next));
      if (covered) continue;
      const name = dayName(table, day);
      // CREATE … PARTITION OF locks the parent briefly; waiting behind a long query would stall every writer queued
      // behind this statement, so it gives up after the lock timeout and the next pass tries again.
      await sql.begin(async (tx) => {
        await tx.unsafe(`set local lock_timeout = '${lockTimeout}'`);
        const storage = table === "deliveries" ? ` with (fillfactor = ${DELIVERIES_FILLFACTOR})` : "";
        await tx.unsafe(
          `create table if not exists "${name}" partition of "${table}" for values from ('${idFloor(kind, day)}') to ('${idFloor(kind, next)}')${storage}`,
        );
      });
      created.push(name);
    }
  }
  return created;
}

/** Detaches (CONCURRENTLY) and drops one partition; idempotent. */
export async function dropPartition(sql: Sql, partition: Partition, lockTimeout: string): Promise<void> {
  await sql.unsafe(`set lock_timeout = '${lockTimeout}'`);
  try {
    // CONCURRENTLY cannot run in a transaction; a pass killed inside it leaves the detach pending, to FINALIZE.
    const how = partition.detachPending ? "finalize" : "concurrently";
    await sql.unsafe(`alter table "${partition.table}" detach partition "${partition.name}" ${how}`);
  } catch (error) {
    // Already detached by a pass that stopped before dropping it.
    if ((error as { code?: string }).code !== "42P01" && !/is not a partition/.test(String(error))) throw error;
  } finally {
    await sql.unsafe("reset lock_timeout");
  }
  await sql.unsafe(`drop table if exists "${partition.name}"`);
}

/** Idempotency keys past their 24-hour window, in small batches so no statement holds many row locks. */
async function deleteExpiredKeys(sql: Sql): Promise<number> {
  let deleted = 0;
  for (;;) {
    const rows = await sql`
      delete from idempotency_keys where ctid = any(array(
        select ctid from idempotency_keys where created_at < now() - interval '24 hours' limit 5000))
      returning 1`;
    deleted += rows.length;
    if (rows.length < 5000) return deleted;
  }
}

/**
 * Event uids whose event is older than the oldest events partition left, in small batches. Their rows were made
 * with their event (created_at is the event's), so the created_at index finds them; the id check keeps the uid of
 * an event still stored (one whose day was kept) whatever the clocks said.
 */
async function deleteExpiredUids(sql: Sql): Promise<number> {
  const oldest = (await listPartitions(sql)).find((p) => p.table === "events" && !p.detachPending);
  if (!oldest?.from) return 0;
  const floor = idFloor("event", oldest.from);
  let deleted = 0;
  for (;;) {
    const rows = await sql`
      delete from event_uids where ctid = any(array(
        select ctid from event_uids where created_at < ${oldest.from.toISOString()}::timestamptz and event_id < ${floor} limit 5000))
      returning 1`;
    deleted += rows.length;
    if (rows.length < 5000) return deleted;
  }
}

export interface StorageStats {
  table: string;
  bytes: number;
  partitions: number;
  /** Age of the oldest row, from its id; null when the table is empty. */
  oldestAgeSeconds: number | null;
}

/** Bytes on disk (tables, indexes, TOAST) and the oldest row's age, per partitioned table. */
export async function storageStats(sql: Sql, now: Date = new Date()): Promise<StorageStats[]> {
  const stats: StorageStats[] = [];
  for (const { table } of PARTITIONED_TABLES) {
    const [row] = await sql.unsafe<{ bytes: string; partitions: number; oldest: string | null }[]>(`
      select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0)::text as bytes, count(i.inhrelid)::int as partitions,
             (select min(id) from "${table}") as oldest
      from pg_class p left join pg_inherits i on i.inhparent = p.oid
      where p.relname = '${table}' and p.relnamespace = current_schema()::regnamespace`);
    stats.push({
      table,
      bytes: Number(row?.bytes ?? 0),
      partitions: row?.partitions ?? 0,
      oldestAgeSeconds: row?.oldest ? (now.getTime() - idTime(row.oldest).getTime()) / 1000 : null,
    });
  }
  return stats;
}
