import type { WorkerConfig } from "@herald/config";
import { createDeliveryClient, type DeliveryClient } from "@herald/delivery";
import { BACKOFF_TYPE, type DeliveryJob, QUEUES } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import { Queue, Worker } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { createContextLoader } from "./delivery-context.ts";
import { createProcessor, RetryLaterError } from "./processor.ts";
import { createReconciler } from "./reconciler.ts";
import { createRecorder } from "./recorder.ts";

export interface WorkerDeps {
  config: WorkerConfig;
  sql: Sql;
  /** BullMQ duplicates this connection for its blocking commands. */
  redis: Redis;
  logger: Logger;
  client?: DeliveryClient;
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
    });
  const loader = createContextLoader(deps.sql);
  const recorder = createRecorder(deps.sql, logger);
  const policy = {
    schedule: config.HERALD_RETRY_SCHEDULE,
    jitter: config.HERALD_RETRY_JITTER,
    retryAfterMaxMs: config.HERALD_RETRY_AFTER_MAX,
  };
  const processDelivery = createProcessor({ loader, recorder, client, policy, logger });

  const worker = new Worker<DeliveryJob>(QUEUES.deliveries, async (job) => processDelivery(job.data), {
    connection: deps.redis,
    prefix: config.HERALD_QUEUE_PREFIX,
    concurrency: config.HERALD_WORKER_CONCURRENCY,
    // Longer than the whole HTTP deadline, or a slow receiver looks like a dead worker.
    lockDuration: config.HERALD_DELIVERY_TIMEOUT + 30_000,
    maxStalledCount: 10,
    removeOnComplete: { count: 0 },
    removeOnFail: { count: 0 },
    settings: {
      backoffStrategy: (_attemptsMade, type, error) => {
        if (type === BACKOFF_TYPE && error instanceof RetryLaterError) return error.delayMs;
        return 5_000;
      },
    },
  });
  worker.on("failed", (job, error) => {
    if (!(error instanceof RetryLaterError)) logger.error({ err: error, jobId: job?.id }, "delivery job failed unexpectedly");
  });
  worker.on("error", (error) => logger.error({ err: error }, "worker error"));

  const queue = new Queue(QUEUES.deliveries, { connection: deps.redis, prefix: config.HERALD_QUEUE_PREFIX });
  const reconciler = createReconciler(deps.sql, queue, logger, {
    intervalMs: config.HERALD_RECONCILE_INTERVAL,
    graceMs: config.HERALD_RECONCILE_GRACE,
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
    if (!deps.client) await client.close();
  }

  return { worker, queue, reconciler, recorder, close };
}

export type HeraldWorker = ReturnType<typeof createWorker>;
