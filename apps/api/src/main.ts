import { createDeliveryClient } from "@herald/delivery";
import { firstRedisUrl } from "@herald/queue";
import { checkServices, createLogger, exitOnStartupError, handleProcessFailures, onShutdown } from "@herald/runtime";
import { prepareSecretsAtRest } from "@herald/schema/secrets";
import { tracingRequested } from "@herald/telemetry";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { openConnections } from "./connections.ts";
import { loadApiConfig, telemetryEnv } from "./env.ts";

try {
  const config = loadApiConfig();
  // The SDK is loaded only when OTEL_* asks for traces; otherwise nothing of it is in the process.
  const tracing = tracingRequested(telemetryEnv())
    ? await (await import("@herald/telemetry/sdk")).startTracing(telemetryEnv(), { serviceName: "herald-api" })
    : undefined;
  await checkServices(config.DATABASE_URL, firstRedisUrl(config.REDIS_URL));
  const logger = createLogger(config.HERALD_LOG_LEVEL, "herald-api");
  handleProcessFailures(logger);
  const connections = await openConnections(config, logger, { telemetry: tracing?.bullmq });
  const { db, sql, redis, queues } = connections;
  const encrypted = await prepareSecretsAtRest(sql, config.HERALD_ENCRYPTION_KEY);
  if (encrypted > 0) logger.info({ encrypted }, "signing secrets stored before HERALD_ENCRYPTION_KEY was set are now encrypted");
  const deliveryClient = createDeliveryClient({
    timeoutMs: config.HERALD_DELIVERY_TIMEOUT,
    connectTimeoutMs: config.HERALD_CONNECT_TIMEOUT,
    allowPrivateTargets: config.HERALD_ALLOW_PRIVATE_TARGETS,
  });
  // Loaded, like the SDK, only when traced.
  const tracingMiddleware = tracing && (await import("@hono/otel")).httpInstrumentationMiddleware({ serviceName: "herald-api" });
  const app = createApp({ config, db, sql, redis, queues, logger, deliveryClient, tracing: tracingMiddleware });
  const server = serve({ fetch: app.fetch, port: config.PORT, hostname: config.HOST }, (info) => {
    logger.info({ port: info.port }, "listening");
    console.log(`herald api listening on http://${config.HOST}:${info.port} (docs at /docs)`);
  });
  onShutdown(logger, async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await deliveryClient.close();
    await connections.close();
    await tracing?.shutdown();
  });
} catch (error) {
  exitOnStartupError(error);
}
