import type { WorkerConfig } from "@herald/config";
import { createDeliveryClient, type DeliveryClient } from "@herald/delivery";
import {
  BACKLOG_QUEUE,
  BACKOFF_TYPE,
  createDeliveryQueues,
  createEndpointGuard,
  DELIVERY_QUEUE,
  type DeliveryJob,
  duplicateRedis,
  type RedisClient,
} from "@herald/queue";
import type { Sql } from "@herald/schema/client";
import { DelayedError, Worker } from "bullmq";
import type { Logger } from "pino";
import { LoadFailedError } from "./batch-loader.ts";
import { createContextLoader } from "./delivery-context.ts";
import { createWorkerMetrics, type WorkerMetrics } from "./metrics.ts";
import { createOperationalEvents } from "./operational-events.ts";
import { createProcessor, RetryLaterError, SHORT_RETRY_MS } from "./processor.ts";
import { createReconciler } from "./reconciler.ts";
import { createRecorder } from "./recorder.ts";
import { createRetention } from "./retention.ts";
import { createScheduler } from "./scheduler.ts";
import { SlotWaiters } from "./slot-waiters.ts";

/**
 * How far ahead the scheduler enqueues due retries. Retries up to SHORT_RETRY_MS away stay in BullMQ, so a
 * retry the scheduler must find is always due more than that after it was recorded, hence after the point
 * the scheduler's last pass had reached; the second to spare covers clocks of different machines.
 */
const SCHEDULER_HORIZON_MS = SHORT_RETRY_MS - 1_000;

export interface WorkerDeps {
  config: WorkerConfig;
  sql: Sql;
  /** BullMQ duplicates this connection for its blocking commands; a Cluster client with HERALD_REDIS_CLUSTER. */
  redis: RedisClient;
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
  // Longer than the whole HTTP deadline, or a slow receiver looks like a dead worker.
  const lockDuration = config.HERALD_DELIVERY_TIMEOUT + 10_000;
  const queues = createDeliveryQueues({
    redis: deps.redis,
    prefix: config.HERALD_QUEUE_PREFIX,
    shards: config.HERALD_QUEUE_SHARDS,
    endpointConcurrency: config.HERALD_ENDPOINT_CONCURRENCY,
    queuedTtlMs: lockDuration * 2,
    // No BullMQ tracing hook (bullmq-otel) in workers: their enqueues (scheduler passes, backlog refills, the
    // reconciler) belong to no event's trace (an attempt finds its publish through the stored trace context), and
    // BullMQ's spans with a Redis span per job under them made most of the spans a traced worker exported.
  });
  const operational = createOperationalEvents(
    { sql: deps.sql, queues, logger },
    { tenantUid: config.HERALD_OPERATOR_TENANT, webhookUrl: config.HERALD_OPERATOR_WEBHOOK_URL, secretKeys: config.HERALD_ENCRYPTION_KEY },
  );
  const loader = createContextLoader(deps.sql, config.HERALD_ENCRYPTION_KEY);
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
  // The guard batches its admissions and releases itself (one script call per
  // shard and turn); its other commands (parks, leaves, released counts) come
  // in the same turns, so on a connection of their own with auto-pipelining
  // they go to Redis in one write, not one each.
  const guardRedis = duplicateRedis(deps.redis, { enableAutoPipelining: true });
  const guard = createEndpointGuard(guardRedis, {
    prefix: config.HERALD_QUEUE_PREFIX,
    shards: config.HERALD_QUEUE_SHARDS,
    concurrency: config.HERALD_ENDPOINT_CONCURRENCY,
    startConcurrency: Math.min(config.HERALD_ENDPOINT_START_CONCURRENCY, config.HERALD_ENDPOINT_CONCURRENCY),
    circuitThreshold: config.HERALD_CIRCUIT_THRESHOLD,
    circuitCooldownMs: config.HERALD_CIRCUIT_COOLDOWN,
    leaseMs: lockDuration,
  });
  const scheduler = createScheduler(
    { sql: deps.sql, queues, guard, logger },
    {
      intervalMs: config.HERALD_SCHEDULER_INTERVAL,
      horizonMs: SCHEDULER_HORIZON_MS,
      endpointConcurrency: config.HERALD_ENDPOINT_CONCURRENCY,
      releaseLeaseMs: config.HERALD_RECONCILE_GRACE,
      circuitCooldownMs: config.HERALD_CIRCUIT_COOLDOWN,
    },
  );
  // One processor for new deliveries and one for released backlogs, each with its own jobs waiting for busy
  // endpoints: half of its slots at most, the other half keep taking other endpoints' jobs. Shared, a draining
  // backlog (ten endpoints back at once, each with four times its cap in the queue) filled every place, and a
  // healthy endpoint's jobs refused for a moment were parked instead, to be released a second later.
  const processorFor = () =>
    createProcessor({
      loader,
      recorder,
      client,
      policy,
      guard,
      waiters: new SlotWaiters(Math.floor(config.HERALD_WORKER_CONCURRENCY / 2)),
      operational,
      metrics,
      logger,
      refill: scheduler.refill,
      parkAfterJob: (park) => parking.set(park.deliveryId, park),
    });
  const processors = { [DELIVERY_QUEUE]: processorFor(), [BACKLOG_QUEUE]: processorFor() };

  // Per shard this process consumes, one BullMQ worker for new deliveries and one for released backlogs, with
  // slots of its own: a draining backlog cannot take the slots new deliveries need. The process's concurrency
  // is shared out among the shards, once for each kind.
  const shards = config.HERALD_WORKER_SHARDS ?? Array.from({ length: config.HERALD_QUEUE_SHARDS }, (_, shard) => shard);
  const concurrency = Math.max(1, Math.ceil(config.HERALD_WORKER_CONCURRENCY / shards.length));
  const workers = shards.flatMap((shard) => {
    const prefix = queues.queues[shard]?.opts.prefix as string;
    return [createShardWorker(DELIVERY_QUEUE, prefix, concurrency), createShardWorker(BACKLOG_QUEUE, prefix, concurrency)];
  });
  // Deliveries to park once their job is gone from Redis (the job id is the delivery id).
  const parking = new Map<string, { deliveryId: string; endpointId: string; wakeAt: number }>();
  const parkWrites = new Set<Promise<void>>();
  for (const worker of workers) {
    worker.on("completed", (job) => {
      const park = parking.get(job.id ?? "");
      if (!park) return;
      parking.delete(park.deliveryId);
      const write = (async () => {
        await recorder.park(park.deliveryId);
        await guard.park(park.endpointId, park.wakeAt);
      })()
        // Not parked: the delivery stays due with no job, and the reconciler enqueues it after its grace period.
        .catch((error) => logger.warn({ err: error, deliveryId: park.deliveryId }, "could not park a delivery"))
        .finally(() => parkWrites.delete(write));
      parkWrites.add(write);
    });
    worker.on("failed", (job, error) => {
      parking.delete(job?.id ?? "");
      if (!(error instanceof RetryLaterError) && error.name !== "UnrecoverableError") {
        logger.error({ err: error, jobId: job?.id }, "delivery job failed unexpectedly");
      }
    });
    worker.on("error", (error) => logger.error({ err: error }, "worker error"));
  }

  function createShardWorker(name: typeof DELIVERY_QUEUE | typeof BACKLOG_QUEUE, prefix: string, concurrency: number) {
    const processDelivery = processors[name];
    return new Worker<DeliveryJob>(
      name,
      async (job, token) => {
        try {
          return await processDelivery(job, token);
        } catch (error) {
          if (!(error instanceof LoadFailedError)) throw error;
          // PostgreSQL could not say what to send: put the job back for a moment without using an attempt.
          logger.warn({ err: error, jobId: job.id }, "could not load a delivery; trying again shortly");
          await job.moveToDelayed(Date.now() + error.delayMs, token);
          throw new DelayedError();
        }
      },
      {
        connection: deps.redis,
        prefix,
        concurrency,
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
  }

  const reconciler = createReconciler(deps.sql, queues, logger, {
    intervalMs: config.HERALD_RECONCILE_INTERVAL,
    graceMs: config.HERALD_RECONCILE_GRACE,
    onEnqueued: (count) => metrics.reconcilerEnqueued.inc(count),
  });
  metrics.watchRecorder(recorder.pending);
  const retention = createRetention(deps.sql, queues, logger, metrics, {
    retentionMs: config.HERALD_RETENTION,
    aheadDays: config.HERALD_PARTITIONS_AHEAD,
    intervalMs: config.HERALD_MAINTENANCE_INTERVAL,
  });
  reconciler.start();
  scheduler.start();
  retention.start();

  /**
   * Stops taking jobs, lets the ones in flight finish and record, and flushes.
   * Past the shutdown timeout the remaining jobs are released: their locks
   * lapse and another worker takes them (at-least-once, never lost).
   */
  async function close(): Promise<void> {
    await Promise.all([reconciler.stop(), scheduler.stop(), retention.stop()]);
    const graceful = Promise.all(workers.map((worker) => worker.close()));
    const timedOut = await Promise.race([
      graceful.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), config.HERALD_SHUTDOWN_TIMEOUT).unref()),
    ]);
    if (timedOut) {
      logger.warn("shutdown timeout reached; releasing jobs still in flight");
      await Promise.all(workers.map((worker) => worker.close(true)));
    }
    await Promise.all([...parkWrites]);
    await recorder.flush();
    await queues.close();
    guardRedis.disconnect();
    if (!deps.client) await client.close();
  }

  return { workers, queues, guard, reconciler, scheduler, retention, recorder, operational, metrics, close };
}

export type HeraldWorker = ReturnType<typeof createWorker>;
