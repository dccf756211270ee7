import type { WorkerConfig } from "@herald/config";
import { createDeliveryClient, type DeliveryClient } from "@herald/delivery";
import { BACKOFF_TYPE, type DeliveryJob, QUEUES } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import { DelayedError, Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { createContextLoader } from "./delivery-context.ts";
import { createEndpointGuard } from "./endpoint-guard.ts";
import { createWorkerMetrics, type WorkerMetrics } from "./metrics.ts";
import { createOperationalEvents } from "./operational-events.ts";
import { createProcessor, HoldBackError, RetryLaterError } from "./processor.ts";
import { createReconciler } from "./reconciler.ts";
import { createRecorder } from "./recorder.ts";
import { SlotWaiters } from "./slot-waiters.ts";

export interface WorkerDeps {
  config: WorkerConfig;
  sql: Sql;
  /** BullMQ duplicates this connection for its blocking commands. */
  redis: Redis;
  logger: Logger;
  client?: DeliveryClient;
  metrics?: WorkerMetrics;
}

/** Builds a delivery worker from its dependencies and starts taking jobs. */
export function createWorker(deps: WorkerDeps) {
  const { config, logger } = deps;
  const client =
    deps.client ??
    createDeliveryClient({
      timeoutMs: config.HERALD_DELIVERY_TIMEOUT,
      connectTimeoutMs: config.HERALD_CONNECT_TIMEOUT,
      allowPrivateTargets: config.HERALD_ALLOW_PRIVATE_TARGETS,
      // Many tenants' endpoints can share one origin (a hosted receiver); only the
      // per-endpoint cap and the worker's concurrency should limit them.
      connectionsPerOrigin: config.HERALD_WORKER_CONCURRENCY,
    });
  const metrics = deps.metrics ?? createWorkerMetrics();
  const queue = new Queue(QUEUES.deliveries, { connection: deps.redis, prefix: config.HERALD_QUEUE_PREFIX });
  const operational = createOperationalEvents(
    { sql: deps.sql, queue, logger },
    { tenantUid: config.HERALD_OPERATOR_TENANT, webhookUrl: config.HERALD_OPERATOR_WEBHOOK_URL },
  );
  const loader = createContextLoader(deps.sql);
  const recorder = createRecorder(deps.sql, logger, {
    disableAfterMs: config.HERALD_DISABLE_AFTER,
    onDisabled: async (endpoint) => {
      loader.forgetEndpoint(endpoint.endpointId);
      logger.warn(endpoint, "endpoint disabled");
      await operational.endpointDisabled(endpoint);
    },
  });
  const policy = {
    schedule: config.HERALD_RETRY_SCHEDULE,
    jitter: config.HERALD_RETRY_JITTER,
    retryAfterMaxMs: config.HERALD_RETRY_AFTER_MAX,
  };
  // Longer than the whole HTTP deadline, or a slow receiver looks like a dead worker.
  const lockDuration = config.HERALD_DELIVERY_TIMEOUT + 10_000;
  // Admissions and releases of many jobs settle in the same turn of the event
  // loop (their PostgreSQL reads and records are batched), so on a connection
  // of their own with auto-pipelining they go to Redis in one write, not one each.
  const guardRedis = deps.redis.duplicate({ enableAutoPipelining: true });
  const guard = createEndpointGuard(guardRedis, {
    prefix: config.HERALD_QUEUE_PREFIX,
    concurrency: config.HERALD_ENDPOINT_CONCURRENCY,
    startConcurrency: Math.min(config.HERALD_ENDPOINT_START_CONCURRENCY, config.HERALD_ENDPOINT_CONCURRENCY),
    circuitThreshold: config.HERALD_CIRCUIT_THRESHOLD,
    circuitCooldownMs: config.HERALD_CIRCUIT_COOLDOWN,
    leaseMs: lockDuration,
  });
  // Half the worker's slots at most wait for a busy endpoint; the other half keep taking other endpoints' jobs.
  const waiters = new SlotWaiters(Math.floor(config.HERALD_WORKER_CONCURRENCY / 2));
  const processDelivery = createProcessor({ loader, recorder, client, policy, guard, waiters, operational, metrics, logger });

  const worker = new Worker<DeliveryJob>(
    QUEUES.deliveries,
    async (job, token) => {
      try {
        return await processDelivery(job, token);
      } catch (error) {
        if (!(error instanceof HoldBackError)) throw error;
        // Put back without an attempt: DelayedError tells BullMQ the job has moved itself.
        await job.moveToDelayed(Date.now() + error.delayMs, token);
        throw new DelayedError();
      }
    },
    {
      connection: deps.redis,
      prefix: config.HERALD_QUEUE_PREFIX,
      concurrency: config.HERALD_WORKER_CONCURRENCY,
      lockDuration,
      // A dead worker's jobs are taken back within about two lock durations.
      stalledInterval: Math.min(30_000, lockDuration),
      maxStalledCount: 10,
      removeOnComplete: { count: 0 },
      removeOnFail: { count: 0 },
      settings: {
        backoffStrategy: (_attemptsMade, type, error) => {
          if (type === BACKOFF_TYPE && error instanceof RetryLaterError) return error.delayMs;
          return 5_000;
        },
      },
    },
  );
  worker.on("failed", (job, error) => {
    if (!(error instanceof RetryLaterError)) logger.error({ err: error, jobId: job?.id }, "delivery job failed unexpectedly");
  });
  worker.on("error", (error) => logger.error({ err: error }, "worker error"));

  const reconciler = createReconciler(deps.sql, queue, deps.redis, logger, {
    intervalMs: config.HERALD_RECONCILE_INTERVAL,
    graceMs: config.HERALD_RECONCILE_GRACE,
    prefix: config.HERALD_QUEUE_PREFIX,
  });
  reconciler.start();

  /**
   * Stops taking jobs, lets the ones in flight finish and record, and flushes.
   * Past the shutdown timeout the remaining jobs are released: their locks
   * lapse and another worker takes them (at-least-once, never lost).
   */
  async function close(): Promise<void> {
    await reconciler.stop();
    const graceful = worker.close();
    const timedOut = await Promise.race([
      graceful.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), config.HERALD_SHUTDOWN_TIMEOUT).unref()),
    ]);
    if (timedOut) {
      logger.warn("shutdown timeout reached; releasing jobs still in flight");
      await worker.close(true);
    }
    await recorder.flush();
    await queue.close();
    guardRedis.disconnect();
    if (!deps.client) await client.close();
  }

  return { worker, queue, reconciler, recorder, operational, metrics, close };
}

export type HeraldWorker = ReturnType<typeof createWorker>;
