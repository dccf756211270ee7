import { newId } from "@herald/schema";
import { createSql, type Sql } from "@herald/schema/client";
import { createTestDatabase, deletePrefix, freshQueuePrefix, TEST_REDIS_URL, type TestDatabase } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDeliveryQueues, type DeliveryQueues } from "./delivery-queues.ts";
import { createEndpointGuard } from "./endpoint-guard.ts";
import { endpointsWithParked, releaseParkedMany } from "./parking.ts";

let db: TestDatabase;
let sql: Sql;
let redis: Redis;
let prefix: string;
let queues: DeliveryQueues;
const ENDPOINTS = Array.from({ length: 20 }, (_, n) => `ep_${String(n).padStart(2, "0")}`);
const LEASE_MS = 60_000;

beforeAll(async () => {
  db = await createTestDatabase();
  // The app's client, on one connection: the statements it prepares are the ones pg_prepared_statements shows.
  sql = createSql(db.url, { max: 1 });
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  prefix = freshQueuePrefix();
  queues = createDeliveryQueues({ redis, prefix, shards: 1, endpointConcurrency: 2 });
  await sql`insert into tenants (id, name) values ('ten_1', 'parking')`;
  for (const id of ENDPOINTS) {
    await sql`insert into endpoints (id, tenant_id, name, url, secret) values (${id}, 'ten_1', ${id}, 'http://127.0.0.1:1/', 'x')`;
  }
  // Today's deliveries of a busy endpoint set: most sent, a backlog of each endpoint parked.
  const event = newId("event");
  await sql`insert into events (id, tenant_id, event_type, payload) values (${event}, 'ten_1', 'order.paid', '{}')`;
  const ids = Array.from({ length: 2000 }, () => newId("delivery"));
  // Every endpoint has 100 of them, a quarter parked.
  const parked = ids.map((_, n) => Math.floor(n / ENDPOINTS.length) % 4 === 1);
  await sql`
    insert into deliveries (id, tenant_id, event_id, endpoint_id, status, parked)
    select d.id, 'ten_1', ${event}, d.endpoint_id, case when d.parked then 'pending' else 'succeeded' end, d.parked
    from unnest(${ids}::text[], ${ids.map((_, n) => ENDPOINTS[n % ENDPOINTS.length] as string)}::text[], ${parked.map(String)}::text[]::boolean[])
         as d(id, endpoint_id, parked)`;
  await sql`analyze deliveries`;
});

afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await deletePrefix(prefix);
  await sql?.end();
  await db?.drop();
});

describe("releaseParkedMany", () => {
  it("releases the oldest parked deliveries asked for, on a generic plan once prepared (no partition planned per call)", async () => {
    const guard = createEndpointGuard(redis, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: 1000, leaseMs: 10_000 });
    const [oldest] = await sql<{ id: string }[]>`
      select id from deliveries where endpoint_id = 'ep_01' and parked order by id limit 1`;
    for (let call = 0; call < 8; call++) {
      const released = await releaseParkedMany({ sql, queues, guard, leaseMs: LEASE_MS }, [{ endpointId: "ep_01", n: 1 }]);
      expect(released).toEqual(new Map([["ep_01", 1]]));
      // Released, and parked until its attempt is recorded.
      const [row] = await sql<{ parked: boolean; released: boolean }[]>`
        select parked, released_at is not null as released from deliveries where id = ${oldest?.id as string}`;
      expect(row).toEqual({ parked: true, released: true });
      // Not released, so every call finds the same backlog.
      await sql`update deliveries set released_at = null where id = ${oldest?.id as string}`;
    }
    // PostgreSQL plans a prepared statement afresh for its first five runs, then keeps a generic plan unless the
    // custom ones looked cheaper. Nothing in this statement lets a custom plan skip a partition (it has no id
    // bounds), but planning it opens every partition of deliveries and every index of each: with 40 days of
    // partitions that was 5.9 ms a call against 2 ms on the generic plan (scripts/partition-plans.ts). The
    // generic plan has to be what the statement runs on.
    const [plans] = await sql<{ generic: number; custom: number }[]>`
      select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements
      where statement like '%cross join lateral%' and statement not like '%pg_prepared_statements%'`;
    expect(plans).toEqual({ generic: 3, custom: 5 });
  });

  it("releases all of a short endpoint's backlog; the probe for what is left runs on a generic plan too", async () => {
    const guard = createEndpointGuard(redis, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: 1000, leaseMs: 10_000 });
    const backlog = await sql<{ id: string }[]>`select id from deliveries where endpoint_id = 'ep_02' and parked`;
    expect(backlog).toHaveLength(25);
    for (let call = 0; call < 8; call++) {
      // More than it has: all of them go, and the probe finds none left.
      const released = await releaseParkedMany({ sql, queues, guard, leaseMs: LEASE_MS }, [{ endpointId: "ep_02", n: 1000 }]);
      expect(released).toEqual(new Map([["ep_02", 25]]));
      await sql`update deliveries set released_at = null where id = any(${backlog.map((row) => row.id)}::text[])`;
    }
    const [plans] = await sql<{ generic: number; custom: number }[]>`
      select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements
      where statement like '%where exists (select 1 from deliveries%' and statement not like '%pg_prepared_statements%'`;
    expect(plans).toEqual({ generic: 3, custom: 5 });
  });

  it("releases each delivery once while its lease lasts, in place (HOT, no index written); past the lease, adds only the jobs Redis lost", async () => {
    const guard = createEndpointGuard(redis, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: 1000, leaseMs: 10_000 });
    const deps = { sql, queues, guard, leaseMs: LEASE_MS };
    const backlog = await sql<{ id: string }[]>`select id from deliveries where endpoint_id = 'ep_03' and parked order by id`;
    expect(backlog).toHaveLength(25);
    await queues.markParked(["ep_03"], Date.now());
    const updates = async () => {
      // This connection's counts reach the statistics at its next transaction's end.
      await sql`select pg_stat_force_next_flush()`;
      await sql`select 1`;
      const [row] = await sql<{ all: number; hot: number }[]>`
        select coalesce(sum(n_tup_upd), 0)::int as all, coalesce(sum(n_tup_hot_upd), 0)::int as hot
        from pg_stat_user_tables where relname like 'deliveries%'`;
      return row as { all: number; hot: number };
    };
    const before = await updates();
    expect(await releaseParkedMany(deps, [{ endpointId: "ep_03", n: 10 }])).toEqual(new Map([["ep_03", 10]]));
    expect(await releaseParkedMany(deps, [{ endpointId: "ep_03", n: 1000 }])).toEqual(new Map([["ep_03", 15]]));
    const after = await updates();
    expect(after.all - before.all).toBe(25);
    expect(after.hot - before.hot).toBe(25);
    expect((await guard.states(["ep_03"])).get("ep_03")?.queued).toBe(25);
    // All released: nothing more to take, and only released rows are left, so the endpoint leaves the parked set.
    expect(await releaseParkedMany(deps, [{ endpointId: "ep_03", n: 1000 }])).toEqual(new Map());
    expect((await queues.parkedEndpoints()).has("ep_03")).toBe(false);
    expect(await endpointsWithParked(sql, LEASE_MS)).not.toContain("ep_03");
    const rows = await sql<{ parked: boolean; released: boolean }[]>`
      select parked, released_at is not null as released from deliveries where endpoint_id = 'ep_03' and id = any(${backlog.map((r) => r.id)}::text[])`;
    expect(rows.every((row) => row.parked && row.released)).toBe(true);

    // Their lease runs out with two of the jobs gone from Redis (as after a wipe of the queue, not of the count).
    await sql`update deliveries set released_at = now() - interval '2 minutes' where id = any(${backlog.map((r) => r.id)}::text[])`;
    const gone = [backlog[3]?.id as string, backlog[17]?.id as string];
    for (const id of gone) await queues.queues[0]?.remove(id);
    // The scheduler's repair finds the endpoint again; the release adds the two and counts only them.
    expect(await endpointsWithParked(sql, LEASE_MS)).toContain("ep_03");
    expect(await releaseParkedMany(deps, [{ endpointId: "ep_03", n: 1000 }])).toEqual(new Map([["ep_03", 2]]));
    expect((await guard.states(["ep_03"])).get("ep_03")?.queued).toBe(27);
    expect(await queues.missing(backlog.map((r) => ({ deliveryId: r.id, eventId: "", endpointId: "ep_03", tenantId: "ten_1" })))).toEqual(
      [],
    );
    // Every one holds a new lease.
    expect(await endpointsWithParked(sql, LEASE_MS)).not.toContain("ep_03");
    expect(await releaseParkedMany(deps, [{ endpointId: "ep_03", n: 1000 }])).toEqual(new Map());
  });
});
