import { createRedisClient, firstRedisUrl } from "@herald/queue";
import { checkServices, createLogger, exitOnStartupError, handleProcessFailures, onShutdown } from "@herald/runtime";
import { createSql } from "@herald/schema/client";
import { prepareSecretsAtRest } from "@herald/schema/secrets";
import { tracingRequested } from "@herald/telemetry";
import { loadWorkerConfig, telemetryEnv } from "./env.ts";
import { createWorkerMetrics, serveMetrics } from "./metrics.ts";
import { createWorker } from "./worker.ts";

try {
  const config = loadWorkerConfig();
  // The SDK is loaded only when OTEL_* asks for traces; otherwise nothing of it is in the process.
  const tracing = tracingRequested(telemetryEnv())
    ? await (await import("@herald/telemetry/sdk")).startTracing(telemetryEnv(), {
        serviceName: "herald-worker",
        context: "sync",
        outgoingHttp: { sendTraceparent: config.HERALD_SEND_TRACEPARENT },
      })
    : undefined;
  await checkServices(config.DATABASE_URL, firstRedisUrl(config.REDIS_URL));
  const logger = createLogger(config.HERALD_LOG_LEVEL, "herald-worker");
  handleProcessFailures(logger);
  const sql = createSql(config.DATABASE_URL, { appName: "herald-worker", max: 10 });
  const encrypted = await prepareSecretsAtRest(sql, config.HERALD_ENCRYPTION_KEY);
  if (encrypted > 0) logger.info({ encrypted }, "signing secrets stored before HERALD_ENCRYPTION_KEY was set are now encrypted");
  // BullMQ's workers must retry their commands for as long as Redis is away rather than fail them.
  const redis = createRedisClient(config.REDIS_URL, { cluster: config.HERALD_REDIS_CLUSTER, redisOptions: { maxRetriesPerRequest: null } });
  const metrics = createWorkerMetrics();
  const metricsServer =
    config.HERALD_METRICS_PORT === undefined
      ? undefined
      : await serveMetrics(metrics.registry, config.HERALD_METRICS_PORT, config.HERALD_METRICS_HOST);
  if (metricsServer) console.log(`herald worker metrics on ${metricsServer.url}`);
  const heraldWorker = createWorker({ config, sql, redis, logger, metrics });
  await heraldWorker.operational.start();
  logger.info({ concurrency: config.HERALD_WORKER_CONCURRENCY }, "worker started");
  console.log(`herald worker started (concurrency ${config.HERALD_WORKER_CONCURRENCY})`);
  onShutdown(
    logger,
    async () => {
      metricsServer?.server.close();
      await heraldWorker.close();
      redis.disconnect();
      await sql.end({ timeout: 5 });
      await tracing?.shutdown();
    },
    // In-flight deliveries get HERALD_SHUTDOWN_TIMEOUT; the last records and connections get a little more.
    config.HERALD_SHUTDOWN_TIMEOUT + 15_000,
  );
} catch (error) {
  exitOnStartupError(error);
}
