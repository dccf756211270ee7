import { createDeliveryClient } from "@herald/delivery";
import { firstRedisUrl } from "@herald/queue";
import { checkServices, createLogger, exitOnStartupError, handleProcessFailures, onShutdown } from "@herald/runtime";
import { prepareSecretsAtRest } from "@herald/schema/secrets";
import { serve } from "@hono/node-server";
import { createApp } from "./app.ts";
import { openConnections } from "./connections.ts";
import { loadApiConfig } from "./env.ts";

try {
  const config = loadApiConfig();
  await checkServices(config.DATABASE_URL, firstRedisUrl(config.REDIS_URL));
  const logger = createLogger(config.HERALD_LOG_LEVEL, "herald-api");
  handleProcessFailures(logger);
  const connections = await openConnections(config, logger);
  const { db, sql, redis, queues } = connections;
  const encrypted = await prepareSecretsAtRest(sql, config.HERALD_ENCRYPTION_KEY);
  if (encrypted > 0) logger.info({ encrypted }, "signing secrets stored before HERALD_ENCRYPTION_KEY was set are now encrypted");
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
    await deliveryClient.close();
    await connections.close();
  });
} catch (error) {
  exitOnStartupError(error);
}
