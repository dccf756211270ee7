import { createDeliveryQueues, createEndpointGuard } from "@herald/queue";
import { type PrivateRedis, startPrivateRedis } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseMonitorLine, scriptNames, startMonitor } from "./redis-monitor.ts";
import { redisDelta, redisSnapshot } from "./service-stats.ts";

let redis: PrivateRedis;

beforeAll(async () => {
  redis = await startPrivateRedis();
});

afterAll(async () => {
  await redis?.stop();
});

describe("parseMonitorLine", () => {
  it("reads the source and the first arguments, escapes included", () => {
    const line = '1796074812.297149 [0 127.0.0.1:39566] "EVALSHA" "ab\\"c" "2" "{p}:ep:\\xc3\\xa9:slots" "rest" "more"';
    expect(parseMonitorLine(line)).toEqual({ source: "127.0.0.1:39566", args: ["EVALSHA", 'ab"c', "2", "{p}:ep:\u00c3\u00a9:slots"] });
    expect(parseMonitorLine('1796074812.297253 [0 lua] "TIME"')).toEqual({ source: "lua", args: ["TIME"] });
    expect(parseMonitorLine("OK")).toBeUndefined();
  });
});

describe("startMonitor", () => {
  it("puts every command down to its operation and sender, script inner commands with their script", { timeout: 60_000 }, async () => {
    const client = new Redis(redis.url, { maxRetriesPerRequest: null });
    const prefix = "{herald-monitor-test}";
    const queues = createDeliveryQueues({ redis: client, prefix, shards: 1 });
    const guard = createEndpointGuard(client, { prefix, concurrency: 2, circuitThreshold: 3, circuitCooldownMs: 1000, leaseMs: 10_000 });
    try {
      const scripts = await scriptNames(redis.url);
      expect([...scripts.values()]).toEqual(
        expect.arrayContaining(["guard admissions and releases (heraldGuard)", "BullMQ fetch (moveToActive)"]),
      );
      await queues.queues[0]?.waitUntilReady();
      const delivery = { deliveryId: "dlv_monitor1", endpointId: "ep_monitor1" };

      const before = await redisSnapshot(redis.url);
      const session = await startMonitor(redis.url, scripts);
      const admission = await guard.acquire(delivery, "lease-1", null);
      await guard.release(delivery, "lease-1", true);
      await guard.addQueued(delivery.endpointId, 3);
      await queues.missing([{ ...delivery, eventId: "evt_monitor1", tenantId: "ten_monitor1" }]);
      const seen = await session.stop(new Map());
      const after = await redisSnapshot(redis.url);

      expect(admission.admitted).toBe(true);
      const op = (name: string) => seen.operations.find((found) => found.operation === name);
      // The admission and the release went in two calls (the release waited for the admission's answer).
      const guardOp = op("guard admissions and releases (heraldGuard)");
      expect(guardOp).toMatchObject({ issuer: "bench", calls: 2, scriptCalls: 2 });
      expect(guardOp?.byCommand.time).toBe(2);
      expect(guardOp?.commands).toBeGreaterThan(4);
      // INCRBY and PEXPIRE, pipelined: both go with the key they touch.
      expect(op("parked backlog: count of released jobs")).toMatchObject({ calls: 2, commands: 2 });
      expect(op("reconciler: job existence check")).toMatchObject({ calls: 1, byCommand: { exists: 1 } });
      // What MONITOR saw between the markers is what INFO commandstats counted, less the snapshots' INFO calls, the markers and MONITOR.
      const counted = redisDelta(before, after);
      expect(seen.commands).toBe(counted.total - (counted.byCommand.echo ?? 0) - (counted.byCommand.info ?? 0) - 1);
    } finally {
      await queues.close();
      client.disconnect();
    }
  });
});
