import { checkServices, createLogger, createRedis, exitOnStartupError, onShutdown } from "@herald/runtime";
import { createSql } from "@herald/schema/client";
import { loadWorkerConfig } from "./env.ts";
import { createWorker } from "./worker.ts";

try {
  const config = loadWorkerConfig();
  await checkServices(config.DATABASE_URL, config.REDIS_URL);
  const logger = createLogger(config.HERALD_LOG_LEVEL, "herald-worker");
  const sql = createSql(config.DATABASE_URL, { appName: "herald-worker", max: 10 });
  const redis = createRedis(config.REDIS_URL);
  const heraldWorker = createWorker({ config, sql, redis, logger });
  logger.info({ concurrency: config.HERALD_WORKER_CONCURRENCY }, "worker started");
  console.log(`herald worker started (concurrency ${config.HERALD_WORKER_CONCURRENCY})`);
  onShutdown(logger, async () => {
    await heraldWorker.close();
    redis.disconnect();
    await sql.end({ timeout: 5 });
  });
} catch (error) {
  exitOnStartupError(error);
}
