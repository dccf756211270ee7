import { createDeliveryClient } from "@herald/delivery";
import { createDeliveryQueues, createRedisClient } from "@herald/queue";
import { checkServices, createLogger, exitOnStartupError, onShutdown } from "@herald/runtime";
import { createDatabase } from "@herald/schema/client";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { loadApiConfig } from "./env.ts";

try {
  const config = loadApiConfig();
  await checkServices(config.DATABASE_URL, config.REDIS_URL);
  const logger = createLogger(config.HERALD_LOG_LEVEL, "herald-api");
  const { db, sql } = createDatabase(config.DATABASE_URL, { appName: "herald-api" });
  const redis = createRedisClient(config.REDIS_URL, { cluster: config.HERALD_REDIS_CLUSTER, redisOptions: { maxRetriesPerRequest: null } });
  const queues = createDeliveryQueues({
    redis,
    prefix: config.HERALD_QUEUE_PREFIX,
    shards: config.HERALD_QUEUE_SHARDS,
    endpointConcurrency: config.HERALD_ENDPOINT_CONCURRENCY,
  });
  const deliveryClient = createDeliveryClient({
    timeoutMs: config.HERALD_DELIVERY_TIMEOUT,
    connectTimeoutMs: config.HERALD_CONNECT_TIMEOUT,
    allowPrivateTargets: config.HERALD_ALLOW_PRIVATE_TARGETS,
  });
  const app = createApp({ config, db, sql, redis, queues, logger, deliveryClient });
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    logger.info({ port: info.port }, "listening");
    console.log(`herald api listening on http://${config.HOST}:${info.port} (docs at /docs)`);
  });
  onShutdown(logger, async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await queues.close();
    await deliveryClient.close();
    redis.disconnect();
    await sql.end({ timeout: 5 });
  });
} catch (error) {
  exitOnStartupError(error);
}
