/**
 * Test-only (imported by *.test.ts, never by main.ts): what the tests of the
 * worker's passes (reconciler, retention, scheduler) each open before their
 * tests and close after them.
 */
import { createDeliveryQueues, type DeliveryQueues } from "@herald/queue";
import { createSql, type Sql } from "@herald/schema/client";
import { createTestDatabase, deletePrefix, freshQueuePrefix, TEST_REDIS_URL, type TestDatabase } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";

export interface WorkerTestServices {
  /** A fresh queue prefix of this file's own, set at once. */
  prefix: string;
  /** These are set once the file's first beforeAll (this one) has run. */
  database: TestDatabase;
  sql: Sql;
  redis: Redis;
  /** One shard of delivery queues under `prefix`. */
  queues: DeliveryQueues;
}

/**
 * A fresh database with a client named `appName`, a Redis connection and
 * one-shard delivery queues under a fresh prefix, opened in a beforeAll and
 * closed (queues, Redis, client, prefix, database) in an afterAll. Call it
 * before the file's own hooks, which then find everything open.
 */
export function useWorkerTestServices(appName: string): WorkerTestServices {
  const services = { prefix: freshQueuePrefix() } as WorkerTestServices;
  beforeAll(async () => {
    services.database = await createTestDatabase();
    services.sql = createSql(services.database.url, { appName, max: 2 });
    services.redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    services.queues = createDeliveryQueues({ redis: services.redis, prefix: services.prefix, shards: 1 });
  });
  afterAll(async () => {
    await services.queues?.close();
    services.redis?.disconnect();
    await services.sql?.end({ timeout: 1 });
    await deletePrefix(services.prefix);
    await services.database?.drop();
  });
  return services;
}
