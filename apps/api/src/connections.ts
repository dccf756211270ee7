import type { ApiConfig } from "@herald/config";
import { CHECK_TIMEOUT_MS, createRedis, redact, UnreachableError } from "@herald/runtime";
import { QUEUES } from "@herald/schema";
import { createDatabase } from "@herald/schema/client";
import { Queue } from "bullmq";
import type { Logger } from "pino";

/**
 * The API's connections, opened the same way in production and in tests.
 * PostgreSQL: statement and connect timeouts and a short reconnect backoff
 * (see @herald/schema/client), so a lost database answers 503 within seconds.
 * Redis: a producer connection that fails fast, so a publish never waits for
 * Redis: the event is stored and the worker's reconciler enqueues its
 * deliveries when Redis is back.
 */
export async function openConnections(config: ApiConfig, logger: Logger, options: { max?: number } = {}) {
  const { db, sql } = createDatabase(config.DATABASE_URL, { appName: "herald-api", ...(options.max ? { max: options.max } : {}) });
  const redis = createRedis(config.REDIS_URL, { role: "producer" });
  const queue = new Queue(QUEUES.deliveries, { connection: redis, prefix: config.HERALD_QUEUE_PREFIX });
  // Without a listener BullMQ prints each reconnect failure to stderr; the log says it once per attempt.
  queue.on("error", (error) => logger.warn({ err: error }, "Redis connection error"));
  // Without an offline queue, a command sent before the connection is ready fails: wait for it (start-up has just seen Redis answer).
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      queue.waitUntilReady(),
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
    queue,
    async close() {
      await queue.close();
      redis.disconnect();
      await sql.end({ timeout: 5 });
    },
  };
}
