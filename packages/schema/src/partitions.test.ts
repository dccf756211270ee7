import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { idBounds, idFloor, newId } from "./ids.ts";
import { MIGRATIONS_FOLDER, runMigrations } from "./migrate.ts";
import { createDayPartitions, DAY_MS, listPartitions, maintainPartitions } from "./partitions.ts";

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const name = `herald_partitions_${Date.now().toString(36)}_${randomBytes(3).toString("hex")}`;
const url = new URL(ADMIN_URL);
url.pathname = `/${name}`;
let sql: postgres.Sql;

/** The migrations up to and including `tag`, in a folder of their own: the database as an older Herald left it. */
function migrationsUpTo(tag: string): string {
  const folder = mkdtempSync(join(tmpdir(), "herald-migrations-"));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as { entries: { tag: string; idx: number }[] };
  const last = journal.entries.findIndex((entry) => entry.tag === tag);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal));
  return folder;
}

/**
 * Five rows per event. CI loads 10,000 events (50,000 rows; loading a million takes minutes on two busy cores);
 * HERALD_MIGRATION_TEST_EVENTS=250000 gives the 1.25 million rows the README's figures come from.
 */
const EVENTS = Number(process.env.HERALD_MIGRATION_TEST_EVENTS ?? 10_000);
const DAYS = 40;
const now = new Date();

beforeAll(async () => {
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end({ timeout: 1 });
  sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const folder = migrationsUpTo("0006_payload_text");
  await migrate(drizzle(sql), { migrationsFolder: folder });
  rmSync(folder, { recursive: true });

  // 250,000 events over the last 40 days, two deliveries each and one attempt per delivery: 1.25 million rows,
  // with ids made the way ids.ts makes them (time first), written by set-based SQL so loading takes seconds.
  await sql.unsafe(`
    create function pg_temp.enc(ms bigint) returns text language plpgsql immutable as $$
      declare encoded text := '';
      begin
        for i in 1..10 loop
          encoded := substr('0123456789abcdefghjkmnpqrstvwxyz', (ms % 32)::int + 1, 1) || encoded;
          ms := ms / 32;
        end loop;
        return encoded;
      end $$`);
  await sql`insert into tenants (id, name) values ('ten_1', 'Acme')`;
  await sql`insert into endpoints (id, tenant_id, name, url, secret) values ('ep_1', 'ten_1', 'a', 'https://a.example', 's'), ('ep_2', 'ten_1', 'b', 'https://b.example', 's')`;
  // Ids one per event, spread evenly: the time part is encoded once per second of history (a small table), the
  // random part is the row number, so the load is a few set-based statements.
  const start = now.getTime() - DAYS * DAY_MS;
  const seconds = (DAYS * DAY_MS) / 1000;
  await sql.unsafe(`
    create temp table times as
    select s, pg_temp.enc(${start} + s::bigint * 1000) as enc, to_timestamp(${start / 1000} + s) as at
    from generate_series(0, ${seconds - 1}, ${Math.ceil(seconds / EVENTS)}) as s`);
  await sql.unsafe(`
    create temp table numbered as
    select i, t.enc, t.at from generate_series(0, ${EVENTS - 1}) as i
    join times t on t.s = (i::bigint * ${seconds} / ${EVENTS}) / ${Math.ceil(seconds / EVENTS)} * ${Math.ceil(seconds / EVENTS)}`);
  await sql.unsafe(`
    insert into events (id, tenant_id, event_type, payload, idempotency_key, uid, created_at)
    select 'evt_' || enc || lpad(to_hex(i), 16, '0'), 'ten_1', 'order.paid', '{"n":' || i || '}',
           case when i > ${EVENTS - 10} then 'key-' || i end, case when i % 100 = 0 then 'uid-' || i end, at
    from numbered`);
  await sql.unsafe(`
    insert into deliveries (id, tenant_id, event_id, endpoint_id, status, attempts, trace_context, created_at)
    select 'dlv_' || enc || lpad(to_hex(i * 2 + e), 16, '0'), 'ten_1', 'evt_' || enc || lpad(to_hex(i), 16, '0'), 'ep_' || (e + 1),
           case when i < 100 and e = 0 then 'failed' when i between 100 and 109 and e = 0 then 'held' else 'succeeded' end, 1,
           case when i % 7 = 0 then '00-' || lpad(to_hex(i), 32, '0') || '-' || lpad(to_hex(i), 16, '0') || '-01' end, at
    from numbered, generate_series(0, 1) as e`);
  await sql.unsafe(`
    insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms, status_code)
    select 'att_' || substr(d.id, 5), d.id, d.endpoint_id, 1, d.created_at, 12, 200 from deliveries d`);
  await sql`analyze`;
}, 300_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.end({ timeout: 1 });
});

const fingerprint = () =>
  sql.unsafe(`
    select (select count(*)::int from events) as events, (select count(*)::int from deliveries) as deliveries,
           (select count(*)::int from attempts) as attempts,
           (select sum(hashtext(id || payload || coalesce(uid, '')))::text from events) as event_sum,
           (select sum(hashtext(id || event_id || endpoint_id || status || coalesce(trace_context, '')))::text from deliveries) as delivery_sum,
           (select sum(hashtext(id || delivery_id))::text from attempts) as attempt_sum,
           (select count(*)::int from deliveries d where not exists (select 1 from events e where e.id = d.event_id)) as orphans`);

describe("migrating a populated database to partitioned tables", () => {
  it("keeps every row, id and link, and takes seconds", async () => {
    const [before] = await fingerprint();
    expect(before).toMatchObject({ events: EVENTS, deliveries: EVENTS * 2, attempts: EVENTS * 2, orphans: 0 });

    const started = Date.now();
    await runMigrations(url.toString());
    const took = Date.now() - started;
    console.log(`migrated ${EVENTS * 5} rows to partitioned tables in ${took} ms (writes to the three tables wait meanwhile)`);

    expect(await fingerprint()).toEqual([before]);
    const [kinds] = await sql`
      select (select relkind from pg_class where relname = 'events') as events,
             (select relkind from pg_class where relname = 'deliveries') as deliveries,
             (select relkind from pg_class where relname = 'attempts') as attempts`;
    expect(kinds).toEqual({ events: "p", deliveries: "p", attempts: "p" });
    // The old tables are the first partitions; the next seven days have theirs.
    const partitions = await listPartitions(sql);
    const midnight = Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS;
    for (const table of ["events", "deliveries", "attempts"]) {
      const own = partitions.filter((p) => p.table === table);
      expect(own[0]).toMatchObject({ name: `${table}_p0`, from: null, to: new Date(midnight) });
      expect(own).toHaveLength(8);
      expect(own.at(-1)?.to).toEqual(new Date(midnight + 7 * DAY_MS));
    }
    // Keys inside their window moved to idempotency_keys, and every uid to event_uids, still unique per tenant.
    const keys = await sql`select key from idempotency_keys order by key`;
    expect(keys.length).toBeGreaterThan(0);
    const [uids] = await sql`
      select (select count(*)::int from event_uids) as moved, (select count(*)::int from events where uid is not null) as events,
             (select count(*)::int from event_uids u join events e on e.id = u.event_id and e.uid = u.uid) as linked`;
    expect(uids).toEqual({ moved: EVENTS / 100, events: EVENTS / 100, linked: EVENTS / 100 });
    await expect(sql`insert into event_uids (tenant_id, uid, event_id) values ('ten_1', 'uid-0', 'evt_again')`).rejects.toMatchObject({
      code: "23505",
      constraint_name: "event_uids_pkey",
    });
    // New rows go to the day partitions (bounds made by SQL in the migration match ids.ts).
    const tomorrow = newId("event", midnight + 60_000);
    await sql`insert into events (id, tenant_id, event_type, payload) values (${tomorrow}, 'ten_1', 'order.paid', '{}')`;
    const [where] = await sql`select tableoid::regclass::text as partition from events where id = ${tomorrow}`;
    expect(where?.partition).toBe(`events_p${new Date(midnight).toISOString().slice(0, 10).replaceAll("-", "")}`);
  }, 300_000);

  it("reaches only the partitions a lookup, a page or the due scan needs", async () => {
    const plan = async (query: string) =>
      ((await sql.unsafe(`explain (costs off) ${query}`)) as { "QUERY PLAN": string }[]).map((row) => row["QUERY PLAN"]).join("\n");
    const [some] =
      await sql`select id from deliveries where id < ${idFloor("delivery", new Date(now.getTime() - DAY_MS))} order by id desc limit 1`;
    const id = some?.id as string;

    const byId = await plan(`select * from deliveries where id = '${id}'`);
    expect(byId).toMatch(/deliveries_p0/);
    expect(byId).not.toMatch(/deliveries_p2/);

    const tomorrow = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
    const newest = await plan(
      `select * from deliveries where tenant_id = 'ten_1' and id >= '${idFloor("delivery", tomorrow)}' order by id desc limit 50`,
    );
    expect(newest).not.toMatch(/deliveries_p0/);

    const due = await plan(`
      select id from deliveries where status in ('pending', 'failed') and not parked and next_attempt_at <= now()
      order by next_attempt_at limit 100`);
    expect(due).toMatch(/deliveries_p0_due_idx/);
    expect(due).not.toMatch(/Seq Scan on deliveries_p0/);

    const parked = await plan(
      `select id from deliveries where endpoint_id = 'ep_1' and parked and status in ('pending', 'failed') order by id limit 10`,
    );
    expect(parked).toMatch(/deliveries_p0_parked_idx/);

    // The worker's batched lookups and updates (a prepared statement, an array of ids): the array alone reaches
    // every partition; with the ids' bounds (idBounds) the others are removed before the statement runs.
    const ids = [id, newId("delivery")];
    const [lo, hi] = idBounds(ids);
    await sql.unsafe("set plan_cache_mode = force_generic_plan");
    await sql.unsafe("prepare by_ids(text[]) as select id from deliveries where id = any($1)");
    await sql.unsafe("prepare by_bounded_ids(text[], text, text) as select id from deliveries where id = any($1) and id between $2 and $3");
    const unbounded = await plan(`execute by_ids('{${ids.join(",")}}')`);
    const bounded = await plan(`execute by_bounded_ids('{${ids.join(",")}}', '${lo}', '${hi}')`);
    const partitionCount = (await listPartitions(sql)).filter((p) => p.table === "deliveries").length;
    expect(unbounded).not.toMatch(/Subplans Removed/);
    // An id of long ago (the first partition) and one of today: the days ahead are removed.
    expect(bounded).toMatch(new RegExp(`Subplans Removed: ${partitionCount - 1}|Subplans Removed: ${partitionCount - 2}`));
    await sql.unsafe("reset plan_cache_mode");
    console.log(["by id", byId, "newest page", newest, "due scan", due, "parked", parked].join("\n"));
  });

  it("drops a day only past the retention and once nothing in it is retrying, and is idempotent", async () => {
    // Seen from 31 days after the migration, the first partition (everything before it) is past a 30-day retention.
    const later = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + 31 * DAY_MS + 3_600_000);
    const first = await maintainPartitions(sql, { retentionMs: 30 * DAY_MS, aheadDays: 2, now: later });
    expect(first.kept).toEqual(["_p0"]);
    expect(first.dropped).toEqual([]);
    expect(first.created).toContain(`events_p${later.toISOString().slice(0, 10).replaceAll("-", "")}`);

    // Retrying ones done, the held ones (a disabled endpoint's, sent once it is enabled) still keep the day.
    await sql`update deliveries set status = 'exhausted' where status = 'failed'`;
    const held = await maintainPartitions(sql, { retentionMs: 30 * DAY_MS, aheadDays: 2, now: later });
    expect(held).toMatchObject({ kept: ["_p0"], dropped: [] });

    // An event published just before the migration's midnight, with a delivery made just after it (in the next
    // day's partition) and still to be sent: the event's day waits for it.
    const midnight = Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS;
    // (Made by hand: newId never goes back in time, and the first test made an id of the day after.)
    const lateEvent = `${idFloor("event", new Date(midnight - 1)).slice(0, -1)}1`;
    const earlyDelivery = `${idFloor("delivery", new Date(midnight)).slice(0, -1)}1`;
    await sql`insert into events (id, tenant_id, event_type, payload) values (${lateEvent}, 'ten_1', 'order.paid', '{}')`;
    await sql`insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at)
              values (${earlyDelivery}, 'ten_1', ${lateEvent}, 'ep_1', 'failed', now())`;
    const [where] = await sql`select tableoid::regclass::text as partition from events where id = ${lateEvent}`;
    expect(where?.partition).toBe("events_p0");
    await sql`update deliveries set status = 'succeeded' where status = 'held'`;
    const straddling = await maintainPartitions(sql, { retentionMs: 30 * DAY_MS, aheadDays: 2, now: later });
    expect(straddling).toMatchObject({ kept: ["_p0"], dropped: [] });
    await sql`update deliveries set status = 'succeeded' where id = ${earlyDelivery}`;

    const started = Date.now();
    const second = await maintainPartitions(sql, { retentionMs: 30 * DAY_MS, aheadDays: 2, now: later });
    console.log(`dropped ${second.dropped.length} partitions (${EVENTS * 5} rows) in ${Date.now() - started} ms`);
    expect(second.dropped.slice(0, 3)).toEqual(["attempts_p0", "deliveries_p0", "events_p0"]);
    // The uids of the dropped events went with them.
    expect(second.expiredUids).toBe(EVENTS / 100);
    // The day after the migration is not past the retention yet: the event made by the first test for it, and the
    // straddling delivery, stay.
    const [left] = await sql`select (select count(*)::int from events) as events, (select count(*)::int from deliveries) as deliveries`;
    expect(left).toEqual({ events: 1, deliveries: 1 });

    const third = await maintainPartitions(sql, { retentionMs: 30 * DAY_MS, aheadDays: 2, now: later });
    expect(third).toMatchObject({ created: [], dropped: [], kept: [] });
  }, 120_000);
  it("finishes the drops of a pass killed halfway: a detach left pending, a table detached but not dropped", async () => {
    // A day long past the retention, made now in the three tables (the range is free since _p0 went).
    const day = new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS - 20 * DAY_MS);
    const suffix = `_p${day.toISOString().slice(0, 10).replaceAll("-", "")}`;
    await createDayPartitions(sql, [day]);

    // Killed inside DETACH … CONCURRENTLY: its second step waits for every transaction that has the parent open,
    // and is terminated there, which leaves the detach pending.
    const holder = postgres(url.toString(), { max: 1, onnotice: () => {} });
    const detacher = postgres(url.toString(), { max: 1, onnotice: () => {} });
    let release: () => void = () => {};
    let opened: () => void = () => {};
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const holding = holder.begin(async (tx) => {
      await tx`select count(*) from attempts`;
      opened();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await open;
    const [{ pid }] = (await detacher`select pg_backend_pid() as pid`) as unknown as [{ pid: number }];
    const detaching = detacher.unsafe(`alter table attempts detach partition "attempts${suffix}" concurrently`).catch((error) => error);
    for (;;) {
      const [waiting] = await sql`select wait_event_type from pg_stat_activity where pid = ${pid}`;
      if (waiting?.wait_event_type === "Lock") break;
      if ((await Promise.race([detaching, null])) !== null) throw new Error("the detach finished without waiting");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await sql`select pg_terminate_backend(${pid})`;
    expect(await detaching).toBeInstanceOf(Error);
    release();
    await holding;
    await holder.end({ timeout: 1 });
    await detacher.end({ timeout: 1 });
    const pending = (await listPartitions(sql)).find((p) => p.name === `attempts${suffix}`);
    expect(pending?.detachPending).toBe(true);

    // Killed between a detach and its drop: a table no parent lists any more.
    await sql.unsafe(`alter table deliveries detach partition "deliveries${suffix}"`);

    const later = new Date(now.getTime() + 3_600_000);
    const pass = await maintainPartitions(sql, { retentionMs: 10 * DAY_MS, aheadDays: 2, now: later });
    expect(pass.dropped).toEqual(expect.arrayContaining([`attempts${suffix}`, `deliveries${suffix}`, `events${suffix}`]));
    const [left] = await sql`select count(*)::int as tables from pg_class where relname like ${`%${suffix}`}`;
    expect(left?.tables).toBe(0);
    expect(await maintainPartitions(sql, { retentionMs: 10 * DAY_MS, aheadDays: 2, now: later })).toMatchObject({
      dropped: [],
      kept: [],
    });
  }, 120_000);
});
