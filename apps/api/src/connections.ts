import type { ApiConfig } from "@herald/config";
import { createDeliveryQueues, createRedisClient } from "@herald/queue";
import { CHECK_TIMEOUT_MS, PRODUCER_REDIS_OPTIONS, redact, UnreachableError } from "@herald/runtime";
import { createDatabase } from "@herald/schema/client";
import type { Telemetry } from "bullmq";
import type { Logger } from "pino";

/**
 * The API's connections, opened the same way in production and in tests.
 * PostgreSQL: statement and connect timeouts and a short reconnect backoff
 * (see @herald/schema/client), so a lost database answers 503 within seconds.
 * Redis: a producer connection that fails fast, so a publish never waits for
 * Redis: the event is stored and the worker's reconciler enqueues its
 * deliveries when Redis is back.
 */
export async function openConnections(
  config: ApiConfig,
  logger: Logger,
  options: { max?: number; telemetry?: Telemetry | undefined } = {},
) {
  const { db, sql } = createDatabase(config.DATABASE_URL, { appName: "herald-api", ...(options.max ? { max: options.max } : {}) });
  const redis = createRedisClient(config.REDIS_URL, { cluster: config.HERALD_REDIS_CLUSTER, redisOptions: PRODUCER_REDIS_OPTIONS });
  const queues = createDeliveryQueues({
    redis,
    prefix: config.HERALD_QUEUE_PREFIX,
    shards: config.HERALD_QUEUE_SHARDS,
    endpointConcurrency: config.HERALD_ENDPOINT_CONCURRENCY,
    telemetry: options.telemetry,
  });
  const all = [...queues.queues, ...queues.backlogQueues];
  // Without a listener BullMQ prints each reconnect failure to stderr; the log says it once per attempt.
  for (const queue of all) queue.on("error", (error) => logger.warn({ err: error }, "Redis connection error"));
  // Without an offline queue, a command sent before the connection is ready fails: wait for it (start-up has just seen Redis answer).
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.all(all.map((queue) => queue.waitUntilReady())),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new UnreachableError(`Redis is not ready at ${redact(config.REDIS_URL)} after ${CHECK_TIMEOUT_MS / 1000} s.`)),
          CHECK_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    redis.disconnect();
    await sql.end({ timeout: 1 });
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return {
    db,
    sql,
    redis,
    queues,
    /** Shard 0's delivery queue, for tests that look at jobs. */
    queue: queues.queues[0] as (typeof queues.queues)[number],
    async close() {
      await queues.close();
      redis.disconnect();
      await sql.end({ timeout: 5 });
    },
  };
}
