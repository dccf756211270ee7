import { createDeliveryQueues, type DeliveryQueues } from "@herald/queue";
import { createSql, type Sql } from "@herald/schema/client";
import { DAY_MS, listPartitions } from "@herald/schema/partitions";
import { createTestDatabase, deletePrefix, freshQueuePrefix, TEST_REDIS_URL, type TestDatabase } from "@herald/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createWorkerMetrics } from "./metrics.ts";
import { createRetention } from "./retention.ts";

let database: TestDatabase;
let sql: Sql;
let redis: Redis;
let queues: DeliveryQueues;
const prefix = freshQueuePrefix();
const logger = pino({ level: "silent" });

beforeAll(async () => {
  database = await createTestDatabase();
  sql = createSql(database.url, { appName: "retention-test", max: 2 });
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queues = createDeliveryQueues({ redis, prefix, shards: 1 });
});

afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await sql?.end({ timeout: 1 });
  await deletePrefix(prefix);
  await database?.drop();
});

describe("storage maintenance pass", () => {
  it("runs in one worker at a time, makes the days ahead, clears expired keys and exports storage metrics", async () => {
    await sql`insert into tenants (id, name) values ('ten_r', 'r')`;
    await sql`insert into idempotency_keys (tenant_id, key, event_id, created_at)
              values ('ten_r', 'old', 'evt_x', now() - interval '25 hours'), ('ten_r', 'young', 'evt_y', now() - interval '23 hours')`;
    const options = { retentionMs: 30 * DAY_MS, aheadDays: 9, intervalMs: 60_000 };
    const one = createRetention(sql, queues, logger, createWorkerMetrics(), options);
    const metrics = createWorkerMetrics();
    const other = createRetention(sql, queues, logger, metrics, options);

    const report = await other.maintainIfDue();
    // The migration made seven days ahead; a pass asked for nine makes the last two, in each table.
    expect(report?.created).toHaveLength(6);
    expect(report?.expiredKeys).toBe(1);
    expect(await one.maintainIfDue()).toBeNull();
    const keys = await sql`select key from idempotency_keys`;
    expect(keys.map((row) => row.key)).toEqual(["young"]);

    const last = (await listPartitions(sql)).filter((p) => p.table === "events").at(-1);
    expect(last?.to.getTime()).toBe(Math.floor(Date.now() / DAY_MS) * DAY_MS + 10 * DAY_MS);
    const exported = await metrics.registry.metrics();
    expect(exported).toMatch(/^herald_storage_bytes\{table="deliveries"\} [1-9]\d*$/m);
    // The first partition (today and before) and one per day ahead.
    expect(exported).toMatch(/^herald_storage_partitions\{table="events"\} 10$/m);
    // A second pass right after has nothing to do.
    expect(await other.maintainOnce()).toMatchObject({ created: [], dropped: [], kept: [], expiredKeys: 0 });
  });
});
