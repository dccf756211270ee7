import { DAY_MS, listPartitions } from "@herald/schema/partitions";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createWorkerMetrics } from "./metrics.ts";
import { createRetention } from "./retention.ts";
import { useWorkerTestServices } from "./test-services.ts";

const services = useWorkerTestServices("retention-test");
const logger = pino({ level: "silent" });

describe("storage maintenance pass", () => {
  it("runs in one worker at a time, makes the days ahead, clears expired keys and exports storage metrics", async () => {
    await services.sql`insert into tenants (id, name) values ('ten_r', 'r')`;
    await services.sql`insert into idempotency_keys (tenant_id, key, event_id, created_at)
              values ('ten_r', 'old', 'evt_x', now() - interval '25 hours'), ('ten_r', 'young', 'evt_y', now() - interval '23 hours')`;
    const options = { retentionMs: 30 * DAY_MS, aheadDays: 9, intervalMs: 60_000 };
    const one = createRetention(services.sql, services.queues, logger, createWorkerMetrics(), options);
    const metrics = createWorkerMetrics();
    const other = createRetention(services.sql, services.queues, logger, metrics, options);

    const report = await other.maintainIfDue();
    // The migration made seven days ahead; a pass asked for nine makes the last two, in each table.
    expect(report?.created).toHaveLength(6);
    expect(report?.expiredKeys).toBe(1);
    expect(await one.maintainIfDue()).toBeNull();
    const keys = await services.sql`select key from idempotency_keys`;
    expect(keys.map((row) => row.key)).toEqual(["young"]);

    const last = (await listPartitions(services.sql)).filter((p) => p.table === "events").at(-1);
    expect(last?.to.getTime()).toBe(Math.floor(Date.now() / DAY_MS) * DAY_MS + 10 * DAY_MS);
    const exported = await metrics.registry.metrics();
    expect(exported).toMatch(/^herald_storage_bytes\{table="deliveries"\} [1-9]\d*$/m);
    // The first partition (today and before) and one per day ahead.
    expect(exported).toMatch(/^herald_storage_partitions\{table="events"\} 10$/m);
    // A second pass right after has nothing to do.
    expect(await other.maintainOnce()).toMatchObject({ created: [], dropped: [], kept: [], expiredKeys: 0 });
  });
});
