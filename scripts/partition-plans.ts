/**
 * Micro-measurement of the hot statements against a database with many daily partitions and a few rows in each
 * (the question is a cost per partition, not per row). Makes a scratch database per partition count, times each
 * statement as the app sends it (postgres.js, a prepared statement, one connection) under each plan_cache_mode,
 * counts the locks one execution holds, and drops the database.
 *
 *   npx tsx scripts/partition-plans.ts [partitions per table…]   (default: 10 40)
 *   npx tsx scripts/partition-plans.ts --modes=auto,force_custom_plan --runs=300 --per-day=2000 --only=release 10 40
 *
 * --per-day: deliveries (and attempts) in each day, a twentieth as many events; --today: deliveries of today (the
 * day the statements work on; default --per-day); --only: a pattern of statement names; --keep: leave the scratch database for a look with psql.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { type IdKind, idBounds, idFloor } from "@herald/schema";
import { runMigrations } from "@herald/schema/migrate";
import { createDayPartitions, DAY_MS, listPartitions } from "@herald/schema/partitions";
import postgres from "postgres";

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: "string", default: "300" },
    modes: { type: "string", default: "auto,force_custom_plan,force_generic_plan" },
    "per-day": { type: "string", default: "20" },
    today: { type: "string" },
    only: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const RUNS = Number(args.runs);
const MODES = args.modes.split(",");
const counts = positionals.map(Number);
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const ENDPOINTS = 20;
const PER_DAY = Number(args["per-day"]);
const TODAY = Number(args.today ?? PER_DAY);

/** An id of a kind made at `ms` (newId never goes back in time, so the history's ids are made by hand). */
const idAt = (kind: IdKind, ms: number) =>
  idFloor(kind, new Date(ms)).slice(0, -16) + Array.from(randomBytes(16), (b) => ALPHABET[b % 32]).join("");

async function scratch(partitions: number): Promise<{ url: string; drop: () => Promise<void>; today: number }> {
  const name = `herald_scratch_plans_${partitions}_${randomBytes(3).toString("hex")}`;
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await runMigrations(url.toString());
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  // The migration made the first partition (up to tomorrow) and 7 days ahead; the rest are further days ahead.
  // The statements below work on ids of "today", a day with 7 partitions after it as in production: the history
  // days are made after it here, which is the same count of partitions to plan, lock and open.
  const midnight = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const have = (await listPartitions(sql)).filter((p) => p.table === "deliveries").length;
  await createDayPartitions(
    sql,
    Array.from({ length: partitions - have }, (_, n) => new Date(midnight + (have + n) * DAY_MS)),
  );
  await sql`insert into tenants (id, name) values ('ten_1', 'scratch')`;
  const endpoints = Array.from({ length: ENDPOINTS }, (_, n) => `ep_${String(n).padStart(3, "0")}`);
  for (const id of endpoints) {
    await sql`insert into endpoints (id, tenant_id, name, url, secret) values (${id}, 'ten_1', ${id}, 'http://127.0.0.1:1/', 'x')`;
  }
  // A few rows in every day: events, deliveries, attempts; as in a history, only today's are still to be sent
  // (half of them, half of those parked), the other days' succeeded.
  for (let day = 0; day < partitions - 1; day++) {
    const base = midnight + day * DAY_MS + 3_600_000;
    const rows = day === 0 ? TODAY : PER_DAY;
    const events = Array.from({ length: Math.max(1, rows / ENDPOINTS) }, (_, n) => idAt("event", base + n));
    await sql`insert into events (id, tenant_id, event_type, payload)
              select id, 'ten_1', 'order.paid', '{}' from unnest(${events}::text[]) as id`;
    const dlv = Array.from({ length: rows }, (_, n) => idAt("delivery", base + 10 + n));
    await sql`insert into deliveries (id, tenant_id, event_id, endpoint_id, status, parked, next_attempt_at)
              select d.id, 'ten_1', ${events[0] as string}, e, case when ${day} = 0 and n % 2 = 1 then 'pending' else 'succeeded' end,
                     ${day} = 0 and n % 4 = 1, case when ${day} = 0 and n % 2 = 1 then now() + interval '1 hour' end
              from unnest(${dlv}::text[], ${dlv.map((_, n) => endpoints[n % ENDPOINTS] as string)}::text[])
                   with ordinality as d(id, e, n)`;
    const att = Array.from({ length: rows }, (_, n) => idAt("attempt", base + 100 + n));
    await sql`insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms)
              select a, d, e, 1, now(), 5 from unnest(${att}::text[], ${dlv}::text[], ${dlv.map((_, n) => endpoints[n % ENDPOINTS] as string)}::text[]) as v(a, d, e)`;
  }
  await sql`analyze`;
  await sql.end();
  await admin.end();
  return {
    url: url.toString(),
    today: midnight + 3_600_000,
    async drop() {
      const again = postgres(ADMIN_URL, { max: 1, onnotice: () => {} });
      await again.unsafe(`drop database if exists ${name} with (force)`);
      await again.end();
    },
  };
}

type Statement = { name: string; run: (sql: postgres.Sql, i: number) => Promise<unknown>; after?: (sql: postgres.Sql) => Promise<unknown> };

/**
 * Parks again what a release unparked (untimed), so every run finds the same rows, and vacuums today's partition:
 * this machine runs without autovacuum, and the dead versions would otherwise pile up in the parked index.
 */
async function repark(sql: postgres.Sql): Promise<void> {
  await sql`update deliveries set parked = true where status = 'pending' and not parked and next_attempt_at <= now()`;
  await sql.unsafe("vacuum deliveries_p0");
}

/**
 * The variants of parking.ts's release of parked deliveries, two per endpoint: the arrays passed as they are or
 * through sub-selects; the update joined back to deliveries or bounded by the ids found; the endpoint matched by
 * equality (ordered by id) or by a range of one value (ordered by endpoint and id).
 */
function releaseParked(
  sql: postgres.Sql,
  asked: string[],
  how: { subSelects: boolean; update: "join" | "bounded"; match: "equal" | "range" },
) {
  const ids = how.subSelects ? sql`(select ${asked}::text[])` : sql`${asked}::text[]`;
  const ns = how.subSelects ? sql`(select ${asked.map(() => 2)}::int[])` : sql`${asked.map(() => 2)}::int[]`;
  const pick =
    how.match === "range"
      ? sql`where endpoint_id >= r.endpoint_id and endpoint_id <= r.endpoint_id and parked and status in ('pending', 'failed')
            order by endpoint_id, id limit r.n`
      : sql`where endpoint_id = r.endpoint_id and parked and status in ('pending', 'failed') order by id limit r.n`;
  const found = sql`
    select p.id from unnest(${ids}, ${ns}) as r(endpoint_id, n)
    cross join lateral (select id from deliveries ${pick} for update skip locked) as p`;
  const returning = sql`returning d.id as "deliveryId", d.event_id as "eventId", d.endpoint_id as "endpointId", d.tenant_id as "tenantId"`;
  return how.update === "join"
    ? sql`
        update deliveries d set parked = false, next_attempt_at = now(), updated_at = now()
        from (${found}) as p where d.id = p.id ${returning}`
    : sql`
        with p as materialized (${found})
        update deliveries d set parked = false, next_attempt_at = now(), updated_at = now()
        where d.id = any(array(select id from p)) and d.id between (select min(id) from p) and (select max(id) from p)
        ${returning}`;
}

function statements(today: number): Statement[] {
  const endpoints = Array.from({ length: ENDPOINTS }, (_, n) => `ep_${String(n).padStart(3, "0")}`);
  let clock = today + 600_000;
  const tick = () => (clock += 1);
  return [
    {
      // delivery-context.ts: a batch of deliveries by id, with the ids' bounds.
      name: "load deliveries (10 ids)",
      async run(sql) {
        const ids = Array.from({ length: 10 }, () => idAt("delivery", today + 10));
        const [lo, hi] = idBounds(ids);
        return sql`select id, status, attempts, parked, next_attempt_at as "nextAttemptAt", trace_context as "traceContext" from deliveries
                   where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
      },
    },
    {
      name: "load events (1 id)",
      async run(sql) {
        const ids = [idAt("event", today)];
        const [lo, hi] = idBounds(ids);
        return sql`select id, event_type as "eventType", payload, created_at as "createdAt" from events
                   where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
      },
    },
    {
      // recorder.ts writeAttempts, cut to its partitioned part: the attempt rows and the deliveries' update.
      name: "record attempts (10)",
      async run(sql) {
        const deliveries = Array.from({ length: 10 }, () => idAt("delivery", today + 10)).sort();
        const [lo, hi] = idBounds(deliveries);
        const attempts = deliveries.map(() => idAt("attempt", tick()));
        return sql`
          with recorded as (
            insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms)
            select * from unnest(${attempts}::text[], ${deliveries}::text[], ${deliveries.map(() => "ep_000")}::text[],
                                 ${deliveries.map(() => 1)}::int[], ${deliveries.map(() => new Date().toISOString())}::timestamptz[],
                                 ${deliveries.map(() => 5)}::int[])
          ),
          delivered as (
            update deliveries d set status = v.status, attempts = d.attempts + 1, updated_at = now()
            from unnest(${deliveries}::text[], ${deliveries.map(() => "succeeded")}::text[]) as v(id, status)
            where d.id = v.id and d.id between ${lo} and ${hi}
          )
          update endpoints e set sent_count = e.sent_count + 1 where e.id = 'ep_000'`;
      },
    },
    {
      // parking.ts releaseParkedMany as it was: no id bounds, one lateral per endpoint.
      name: "release parked (5 endpoints)",
      run: (sql) => releaseParked(sql, endpoints.slice(0, 5), { subSelects: false, update: "join", match: "equal" }),
      after: repark,
    },
    {
      // The same, the arrays read through sub-selects: ten rows to a custom plan as to the generic one, so the
      // custom plans never look cheaper and the generic plan is kept.
      name: "release parked, sub-selects (5 endpoints)",
      run: (sql) => releaseParked(sql, endpoints.slice(0, 5), { subSelects: true, update: "join", match: "equal" }),
      after: repark,
    },
    {
      // The same, updating by the ids found and their bounds (read by the update as init plans): no join back to
      // every partition, and the update reaches only the days of the ids.
      name: "release parked, bounded update (5 endpoints)",
      run: (sql) => releaseParked(sql, endpoints.slice(0, 5), { subSelects: true, update: "bounded", match: "equal" }),
      after: repark,
    },
    {
      // As parking.ts has it now: the endpoint matched by a range of one value and ordered by (endpoint_id, id),
      // which keeps a generic plan on the parked index instead of a large partition's primary key.
      name: "release parked, range on the parked index (5 endpoints)",
      run: (sql) => releaseParked(sql, endpoints.slice(0, 5), { subSelects: true, update: "bounded", match: "range" }),
      after: repark,
    },
    {
      // parking.ts as it was: the probe for endpoints that asked for more than was left (still parked?).
      name: "parked probe (5 endpoints)",
      run: (sql) => sql`
        select r.endpoint_id as "endpointId" from unnest(${endpoints.slice(5, 10)}::text[]) as r(endpoint_id)
        where exists (select 1 from deliveries where endpoint_id = r.endpoint_id and parked)`,
    },
    {
      // parking.ts now: the same probe through a sub-select and the range.
      name: "parked probe, range (5 endpoints)",
      run: (sql) => sql`
        select r.endpoint_id as "endpointId" from unnest((select ${endpoints.slice(5, 10)}::text[])) as r(endpoint_id)
        where exists (select 1 from deliveries where endpoint_id >= r.endpoint_id and endpoint_id <= r.endpoint_id and parked)`,
    },
    {
      // scheduler.ts enqueueDue: a page of deliveries due within the horizon.
      name: "scheduler due page",
      run: (sql) => sql`
        select id as "deliveryId", event_id as "eventId", endpoint_id as "endpointId", tenant_id as "tenantId",
               next_attempt_at::text as due, (extract(epoch from next_attempt_at) * 1000)::float8 as "dueMs"
        from deliveries
        where status in ('pending', 'failed') and not parked
          and next_attempt_at >= ${new Date(Date.now() - 60_000).toISOString()}::text::timestamptz
          and (next_attempt_at, id) > (${new Date(Date.now() - 60_000).toISOString()}::text::timestamptz, ${"~"}::text)
          and next_attempt_at <= ${new Date(Date.now() + 5_000).toISOString()}::text::timestamptz
        order by next_attempt_at, id
        limit ${5000}`,
    },
    {
      // publishing recentByKeys: a publish with an idempotency key looks for the event stored under it first.
      name: "publish key lookup (1 key)",
      run: (sql) => sql`
        select e.id, e.tenant_id as "tenantId", e.event_type as "eventType", k.key as "idempotencyKey",
               e.uid, e.created_at as "createdAt", (select count(*)::int from deliveries d where d.event_id = e.id) as deliveries
        from idempotency_keys k join events e on e.id = k.event_id
        where k.tenant_id = ${"ten_1"} and k.key = any(${[`key-${tick()}`]}::text[])
          and k.created_at > now() - make_interval(hours => ${24})`,
    },
    {
      // publishing storeBatch: one event and its deliveries in one statement.
      name: "publish (1 event × 20)",
      async run(sql) {
        const event = idAt("event", tick());
        const ids = endpoints.map(() => idAt("delivery", tick()));
        return sql`
          with stored as (
            insert into events (id, tenant_id, event_type, payload)
            select v.id, 'ten_1', v.event_type, v.payload
            from jsonb_to_recordset(${JSON.stringify([{ id: event, event_type: "order.paid", payload: "{}" }])}::text::jsonb)
                 as v(id text, event_type text, payload text)
            returning id, tenant_id, event_type, created_at
          ), queued as (
            insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at, parked)
            select d.id, 'ten_1', d.event_id, d.endpoint_id, 'succeeded', null, false
            from unnest(${ids}::text[], ${ids.map(() => event)}::text[], ${endpoints}::text[]) as d(id, event_id, endpoint_id)
          )
          select id from stored`;
      },
    },
  ];
}

async function measure(url: string, today: number, mode: string): Promise<Map<string, { us: number; locks: number; plan: string }>> {
  const connection: Record<string, string> = { application_name: "partition-plans" };
  if (mode !== "auto") connection.plan_cache_mode = mode;
  const out = new Map<string, { us: number; locks: number; plan: string }>();
  const only = args.only ? new RegExp(args.only) : null;
  for (const statement of statements(today).filter((s) => !only || only.test(s.name))) {
    // A connection per statement, so its prepared statement is the only one the server counts plans for.
    const sql = postgres(url, { max: 1, onnotice: () => {}, connection });
    try {
      for (let i = 0; i < 10; i++) {
        await statement.run(sql, i);
        await statement.after?.(sql);
      }
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const started = process.hrtime.bigint();
        await statement.run(sql, i);
        times.push(Number(process.hrtime.bigint() - started) / 1000);
        await statement.after?.(sql);
      }
      times.sort((a, b) => a - b);
      // Locks held by one execution, read inside its transaction (a relation lock is held to the end of it).
      const locks = await sql.begin(async (tx) => {
        await statement.run(tx as unknown as postgres.Sql, 0);
        const [row] = await tx`select count(*)::int as n from pg_locks where pid = pg_backend_pid() and locktype = 'relation'`;
        return (row?.n as number) ?? 0;
      });
      await statement.after?.(sql);
      // Which plans the server made for it: generic_plans / custom_plans of the prepared statement run most.
      const [cached] = await sql.unsafe(
        "select generic_plans, custom_plans from pg_prepared_statements where statement like '%$1%' order by generic_plans + custom_plans desc limit 1",
      );
      out.set(statement.name, {
        us: times[Math.floor(times.length / 2)] as number,
        locks,
        plan: `generic ${cached?.generic_plans} custom ${cached?.custom_plans}`,
      });
    } finally {
      await sql.end();
    }
  }
  return out;
}

for (const partitions of counts.length > 0 ? counts : [10, 40]) {
  const db = await scratch(partitions);
  try {
    const parts = (await (async () => {
      const sql = postgres(db.url, { max: 1, onnotice: () => {} });
      const n = (await listPartitions(sql)).length;
      await sql.end();
      return n;
    })()) as number;
    console.log(`\n${partitions} partitions per table (${parts} in all), ${RUNS} runs each, median µs per execution, relation locks held`);
    for (const mode of MODES) {
      const results = await measure(db.url, db.today, mode);
      for (const [name, r] of results) {
        console.log(
          `${String(partitions).padStart(4)}  ${mode.padEnd(19)} ${name.padEnd(42)} ${r.us.toFixed(0).padStart(7)} µs  ${String(r.locks).padStart(4)} locks  ${r.plan}`,
        );
      }
    }
  } finally {
    if (args.keep) console.log(`kept ${db.url}`);
    else await db.drop();
  }
}
