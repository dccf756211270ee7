import { type JobType, Queue, type Telemetry } from "bullmq";
import { parkedWindow } from "./endpoint-guard.ts";
import { BACKLOG_QUEUE, DELIVERY_QUEUE, type DeliveryJob, deliveryJobEntry } from "./jobs.ts";
import { createKeys } from "./keys.ts";
import type { RedisClient } from "./redis.ts";

export interface DeliveryQueuesOptions {
  /** BullMQ and Herald's own keys; a Cluster client when the queue spreads over a Redis Cluster. */
  redis: RedisClient;
  /** HERALD_QUEUE_PREFIX. */
  prefix: string;
  /** HERALD_QUEUE_SHARDS. */
  shards: number;
  /** HERALD_ENDPOINT_CONCURRENCY: an endpoint has at most twice this many jobs in the queue; the rest wait parked. */
  endpointConcurrency?: number;
  /** How long an endpoint's count of jobs in the queue outlives its last change (a dead worker's jobs are forgotten). */
  queuedTtlMs?: number;
  /** BullMQ's tracing hook (bullmq-otel) when OpenTelemetry is on. */
  telemetry?: Telemetry | undefined;
}

// KEYS: the shard's parked set, then each endpoint's queued count. ARGV: window, count TTL ms, now ms, then each
// endpoint's id and how many new deliveries it has. Answers how many of each may go into the queue: none while
// the endpoint is parked, else as many as fit its window; the rest are parked, and the endpoint joins the parked set.
const ADMIT = `
local window, ttl, now = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local admitted = {}
for i = 2, #KEYS do
  local id, count = ARGV[2 + (i - 1) * 2], tonumber(ARGV[3 + (i - 1) * 2])
  local n = 0
  if not redis.call('ZSCORE', KEYS[1], id) then
    local queued = tonumber(redis.call('GET', KEYS[i])) or 0
    n = math.max(0, math.min(count, window - queued))
    if n > 0 then
      redis.call('INCRBY', KEYS[i], n)
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
  if n < count then redis.call('ZADD', KEYS[1], 'NX', now, id) end
  admitted[#admitted + 1] = n
end
return admitted
`;

/**
 * Jobs per bulk call. BullMQ builds a few kilobytes of objects per job while a
 * bulk call is out; calls of 500, one after another, keep that garbage young.
 */
const ENQUEUE_CHUNK = 500;

function groupByShard<T extends { endpointId: string }>(items: T[], shardFor: (endpointId: string) => number): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const shard = shardFor(item.endpointId);
    const group = groups.get(shard);
    if (group) group.push(item);
    else groups.set(shard, [item]);
  }
  return groups;
}

/**
 * The delivery queue: one BullMQ queue per shard, and the operations the API
 * and the worker need on it. Nothing outside this package knows a key or a
 * BullMQ job state.
 */
export function createDeliveryQueues(options: DeliveryQueuesOptions) {
  const { redis } = options;
  const keys = createKeys(options.prefix, options.shards);
  const window = parkedWindow(options.endpointConcurrency ?? 10);
  const queuedTtlMs = options.queuedTtlMs ?? 60_000;
  const commands = redis as RedisClient & { heraldAdmit(...keysThenArgs: (string | number)[]): Promise<number[]> };
  if (!("heraldAdmit" in redis)) redis.defineCommand("heraldAdmit", { lua: ADMIT });
  const { telemetry } = options;
  const queues = keys.prefixes.map((prefix) => new Queue<DeliveryJob>(DELIVERY_QUEUE, { connection: redis, prefix, telemetry }));
  const backlogQueues = keys.prefixes.map((prefix) => new Queue<DeliveryJob>(BACKLOG_QUEUE, { connection: redis, prefix, telemetry }));
  const queueOf = (shard: number, backlog = false) => (backlog ? backlogQueues : queues)[shard] as Queue<DeliveryJob>;

  /**
   * Adds jobs (job id = delivery id, so adding twice adds nothing), in bulk
   * calls per shard; `delayMs` per job; `backlog`: to the backlog queue (see BACKLOG_QUEUE).
   */
  async function enqueue(jobs: DeliveryJob[], options: { delayMs?: (job: DeliveryJob) => number; backlog?: boolean } = {}): Promise<void> {
    for (const [shard, group] of groupByShard(jobs, keys.shardFor)) {
      for (let offset = 0; offset < group.length; offset += ENQUEUE_CHUNK) {
        const chunk = group.slice(offset, offset + ENQUEUE_CHUNK);
        await queueOf(shard, options.backlog).addBulk(chunk.map((job) => deliveryJobEntry(job, options.delayMs?.(job) ?? 0)));
      }
    }
  }

  /**
   * Makes deliveries run now, whatever their job is doing. No job: one is
   * added. Delayed (a short retry): promoted. Waiting: it runs soon anyway.
   * Running: the delivery goes on the shard's `again` list, and the scheduler
   * enqueues it as soon as the running job is gone, so an operator's retry that
   * lands during an attempt is not lost and nobody polls the job's state.
   */
  async function enqueueNow(jobs: DeliveryJob[]): Promise<void> {
    const fresh: DeliveryJob[] = [];
    const again = new Map<number, DeliveryJob[]>();
    for (const [shard, group] of groupByShard(jobs, keys.shardFor)) {
      await Promise.all(
        group.map(async (data) => {
          const job = (await queueOf(shard).getJob(data.deliveryId)) ?? (await queueOf(shard, true).getJob(data.deliveryId));
          const state = job ? await job.getState() : "unknown";
          try {
            if (state === "delayed") await job?.promote();
            else if (state === "active") again.set(shard, [...(again.get(shard) ?? []), data]);
            else if (state === "completed" || state === "failed") {
              await job?.remove();
              fresh.push(data);
            } else if (state === "unknown") fresh.push(data);
          } catch {
            // The job moved on between the look and the change (a worker took it): the scheduler's again list catches it.
            again.set(shard, [...(again.get(shard) ?? []), data]);
          }
        }),
      );
    }
    for (const [shard, group] of again) {
      await redis.zadd(keys.again(shard), ...group.flatMap((job) => [Date.now(), JSON.stringify(job)]));
    }
    await enqueue(fresh);
  }

  /**
   * The scheduler's turn at a shard's again list: a delivery whose job has
   * finished is enqueued, one whose job is delayed is promoted, one whose job
   * still runs waits for the next pass. Answers how many were enqueued or promoted.
   */
  async function flushAgain(shard: number, limit = 1000): Promise<number> {
    const members = await redis.zrange(keys.again(shard), 0, limit - 1);
    if (members.length === 0) return 0;
    const fresh: DeliveryJob[] = [];
    const settled: string[] = [];
    for (const member of members) {
      const data = JSON.parse(member) as DeliveryJob;
      const job = (await queueOf(shard).getJob(data.deliveryId)) ?? (await queueOf(shard, true).getJob(data.deliveryId));
      const state = job ? await job.getState() : "unknown";
      if (state === "active") continue;
      settled.push(member);
      if (state === "delayed") await job?.promote().catch(() => undefined);
      else if (state === "unknown" || state === "completed" || state === "failed") {
        await job?.remove().catch(() => undefined);
        fresh.push(data);
      }
    }
    await enqueue(fresh);
    if (settled.length > 0) await redis.zrem(keys.again(shard), ...settled);
    return settled.length;
  }

  /** Of these jobs, the ones with no job in Redis (the reconciler's existence check), one pipeline per shard. */
  async function missing(jobs: DeliveryJob[]): Promise<DeliveryJob[]> {
    const absent: DeliveryJob[] = [];
    for (const [shard, group] of groupByShard(jobs, keys.shardFor)) {
      const pipeline = redis.pipeline();
      // One EXISTS with both keys: the job may be in the delivery queue or the backlog queue.
      for (const job of group) pipeline.exists(queueOf(shard).toKey(job.deliveryId), queueOf(shard, true).toKey(job.deliveryId));
      const answers = (await pipeline.exec()) ?? [];
      group.forEach((job, i) => {
        const [error, exists] = answers[i] ?? [null, 0];
        if (error) throw error;
        if (exists === 0) absent.push(job);
      });
    }
    return absent;
  }

  /**
   * How many of each endpoint's new deliveries go into the queue now (one
   * script call per shard): an endpoint keeps at most its window of jobs in
   * Redis, so a burst to one endpoint, or new deliveries behind a parked
   * backlog, wait parked in PostgreSQL instead of being fetched by workers only
   * to be put back. The caller parks the rest; the endpoint is in the parked
   * set by then, so the scheduler and the worker's refills release them.
   */
  async function admit(counts: Map<string, number>): Promise<Map<string, number>> {
    const admitted = new Map<string, number>();
    const entries = [...counts].map(([endpointId, count]) => ({ endpointId, count }));
    for (const [shard, group] of groupByShard(entries, keys.shardFor)) {
      const answer = await commands.heraldAdmit(
        1 + group.length,
        keys.parked(shard),
        ...group.map(({ endpointId }) => keys.endpoint(endpointId, "queued")),
        window,
        queuedTtlMs,
        Date.now(),
        ...group.flatMap(({ endpointId, count }) => [endpointId, count]),
      );
      group.forEach(({ endpointId }, i) => {
        admitted.set(endpointId, Number(answer[i] ?? 0));
      });
    }
    return admitted;
  }

  /** Every endpoint in a parked set, across shards. */
  async function parkedEndpoints(): Promise<Set<string>> {
    const lists = await Promise.all(keys.prefixes.map((_, shard) => redis.zrange(keys.parked(shard), 0, -1)));
    return new Set(lists.flat());
  }

  /**
   * Puts endpoints in the parked set, to be looked at by `wakeAt`. `LT`: an
   * earlier time than the one they have wins; `NX`: endpoints already there keep theirs.
   */
  async function markParked(endpointIds: string[], wakeAt: number, mode: "LT" | "NX" = "LT"): Promise<void> {
    for (const [shard, group] of groupByShard(
      endpointIds.map((endpointId) => ({ endpointId })),
      keys.shardFor,
    )) {
      const members = group.flatMap(({ endpointId }) => [Math.ceil(wakeAt), endpointId]);
      if (mode === "LT") await redis.zadd(keys.parked(shard), "LT", ...members);
      else await redis.zadd(keys.parked(shard), "NX", ...members);
    }
  }

  /**
   * Counts `n` events published by a tenant against `perSecond`, in a window of
   * one second shared by every API process. Answers 0 when they fit (and are
   * counted), else how many milliseconds until the next window.
   */
  async function takePublishes(tenantId: string, n: number, perSecond: number): Promise<number> {
    const now = Date.now();
    const key = keys.published(tenantId, Math.floor(now / 1000));
    const [[, count] = [null, 0]] = ((await redis.multi().incrby(key, n).pexpire(key, 2_000).exec()) ?? []) as [unknown, number][];
    if (count <= perSecond) return 0;
    // Refused: these events are not counted, so a tenant that retries after the window gets its full rate.
    await redis.decrby(key, n);
    return 1000 - (now % 1000);
  }

  return {
    shards: options.shards,
    shardFor: keys.shardFor,
    takePublishes,
    /** The BullMQ queue of each shard, and each shard's backlog queue. */
    queues,
    backlogQueues,
    enqueue,
    enqueueNow,
    flushAgain,
    missing,
    admit,
    parkedEndpoints,
    markParked,
    /** Endpoints of a shard whose time to be looked at has come. */
    dueParked: (shard: number, now: number, limit: number) => redis.zrangebyscore(keys.parked(shard), "-inf", now, "LIMIT", 0, limit),
    /** When the scheduler looks at a parked endpoint next. */
    async reschedule(endpointId: string, wakeAt: number): Promise<void> {
      await redis.zadd(keys.parked(keys.shardFor(endpointId)), "XX", Math.ceil(wakeAt), endpointId);
    },
    /** The endpoint's parked backlog is empty. */
    async unpark(endpointId: string): Promise<void> {
      await redis.zrem(keys.parked(keys.shardFor(endpointId)), endpointId);
    },
    /**
     * An operator says the endpoint is worth trying now (retry, recover,
     * re-enable): the circuit closes and a Retry-After pause ends, but the
     * slots it earned by answering stay, so a healthy endpoint keeps its pace.
     */
    async closeCircuit(endpointId: string): Promise<void> {
      await redis.hdel(keys.endpoint(endpointId, "circuit"), "failures", "openUntil", "probeUntil", "pausedUntil");
    },
    /** Jobs by state in each shard's queue, and each shard's parked endpoints. */
    async depth(
      states: readonly JobType[],
    ): Promise<{ shard: number; counts: Record<string, number>; backlog: Record<string, number>; parkedEndpoints: number }[]> {
      return Promise.all(
        queues.map(async (queue, shard) => ({
          shard,
          counts: await queue.getJobCounts(...states),
          backlog: await queueOf(shard, true).getJobCounts(...states),
          parkedEndpoints: await redis.zcard(keys.parked(shard)),
        })),
      );
    },
    /** Takes a lock shared by every process on this queue for `ttlMs`; true if this caller got it. */
    async tryLock(name: string, ttlMs: number): Promise<boolean> {
      return (await redis.set(keys.global(`lock:${name}`), String(process.pid), "PX", Math.max(1, Math.ceil(ttlMs)), "NX")) === "OK";
    },
    /** The scheduler's position in the due index, kept in Redis so that any worker can continue from it. */
    cursor: () => redis.get(keys.global("scheduler:cursor")),
    async setCursor(cursor: string): Promise<void> {
      await redis.set(keys.global("scheduler:cursor"), cursor);
    },
    async close(): Promise<void> {
      await Promise.all([...queues, ...backlogQueues].map((queue) => queue.close()));
    },
  };
}

export type DeliveryQueues = ReturnType<typeof createDeliveryQueues>;
