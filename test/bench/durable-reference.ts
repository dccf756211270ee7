import { buildEnvelope, buildHeaders, generateSecret } from "@herald/delivery";
import { newId } from "@herald/schema";
import { createTestDatabase, deletePrefix, freshQueuePrefix } from "@herald/testing";
import { type Job, Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import postgres from "postgres";
import { Agent } from "undici";
import { EVENT_TYPE, PAYLOAD } from "./payload.ts";
import { log, now, round, waitForReceived } from "./progress.ts";
import type { FastReceiver } from "./receiver.ts";
import { pgDelta, pgSnapshot, processCpuSeconds, processSyscalls, redisDelta, redisSnapshot, settledPgSnapshot } from "./service-stats.ts";
import { warmupOf } from "./sizes.ts";

/** Events per publish transaction, as Herald's batch route is driven by the throughput scenario. */
const PUBLISH_BATCH = 100;
/** Publish transactions in flight, as many as the throughput scenario has batch requests in flight. */
const PUBLISHERS = 4;
/** Herald's worker concurrency and its per-endpoint cap, which the reference mirrors. */
const WORKER_CONCURRENCY = 100;
const ENDPOINT_CONCURRENCY = 10;
/** Rows per group commit at most, as Herald's recorder. */
const MAX_FLUSH = 500;
const EVENT_CACHE_SIZE = 10_000;

export interface DurableReferenceResult {
  scenario: "reference.durable";
  endpoints: number;
  events: number;
  deliveries: number;
  /** min(100, 10 × endpoints): Herald's concurrency, capped as Herald caps each endpoint at 10 in flight. */
  concurrency: number;
  received: number;
  signed: number;
  attemptsRecorded: number;
  succeeded: number;
  seconds: number;
  deliveriesPerSecond: number;
  perDelivery: {
    redisCommands: number;
    /** EVALSHA + EVAL from INFO commandstats: BullMQ's scripts. */
    redisScriptCalls: number;
    redisCommandsByName: Record<string, number>;
    pgTransactions: number;
    pgRowsWritten: number;
    /** WAL records PostgreSQL wrote (the whole server's, see PgSnapshot.walRecords). */
    pgWalRecords: number;
    /** WAL flushes to disk (the whole server's, see PgSnapshot.walSyncs). */
    pgWalSyncs: number;
    /** CPU of this process, which publishes and delivers: compare with Herald's API + worker CPU. */
    cpuMs: number;
    /**
     * Read and write system calls of this process (its sockets to Redis, PostgreSQL and the receiver), against
     * Herald's API + worker. This process also polls the receiver's count while it waits (about ten messages a
     * second), which Herald's side does from the bench process instead: a few calls in a run, not per delivery.
     */
    appSyscalls: number;
    /** This process, Redis, the PostgreSQL backends and the receiver. */
    totalCpuMs: number;
    redisCpuMs: number;
    pgCpuMs: number;
    receiverCpuMs: number;
  };
}

interface ReferenceJob {
  deliveryId: string;
  eventId: string;
  endpointId: string;
  tenantId: string;
}

interface AttemptRow {
  deliveryId: string;
  endpointId: string;
  attemptNumber: number;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  errorKind: string | null;
  requestHeaders: Record<string, string>;
  responseBody: string | null;
  status: "succeeded" | "failed" | "exhausted";
}

const JOB_ATTEMPTS = 3;

/**
 * Event envelopes by id: the ids asked for in one turn of the event loop are
 * loaded with one query, and kept (a fan-out's deliveries share one event).
 */
function createEventBodies(sql: postgres.Sql) {
  const cache = new Map<string, Promise<string>>();
  let batch = new Map<string, { resolve: (body: string) => void; reject: (error: unknown) => void }>();

  function flush(): void {
    const asked = batch;
    batch = new Map();
    sql<{ id: string; eventType: string; payload: string; createdAt: Date }[]>`
      select id, event_type as "eventType", payload, created_at as "createdAt" from events where id = any(${[...asked.keys()]}::text[])`.then(
      (rows) => {
        const found = new Map(rows.map((row) => [row.id, buildEnvelope(row.eventType, new Date(row.createdAt), row.payload)]));
        for (const [id, waiter] of asked) {
          const body = found.get(id);
          if (body === undefined) waiter.reject(new Error(`event ${id} not found`));
          else waiter.resolve(body);
        }
      },
      (error) => {
        for (const waiter of asked.values()) waiter.reject(error);
      },
    );
  }

  return (id: string): Promise<string> => {
    const known = cache.get(id);
    if (known) return known;
    const loading = new Promise<string>((resolve, reject) => {
      if (batch.size === 0) setImmediate(flush);
      batch.set(id, { resolve, reject });
    });
    loading.catch(() => cache.delete(id));
    cache.set(id, loading);
    if (cache.size > EVENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
    return loading;
  };
}

/**
 * Group commit: attempts recorded while a write is out go together in the
 * next one, a single statement that inserts the attempt rows and sets each
 * delivery's status. Each caller resolves once its row is committed.
 */
function createAttemptWriter(sql: postgres.Sql) {
  let queue: { row: AttemptRow; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let writing = false;

  async function drain(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const items = queue.slice(0, MAX_FLUSH);
      queue = queue.slice(items.length);
      const rows = items.map((item) => item.row);
      const col = <T>(pick: (row: AttemptRow) => T) => rows.map(pick);
      try {
        await sql`
          with recorded as (
            insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms, status_code, error_kind,
                                  request_headers, response_body)
            select * from unnest(
              ${col(() => newId("attempt"))}::text[], ${col((r) => r.deliveryId)}::text[], ${col((r) => r.endpointId)}::text[],
              ${col((r) => r.attemptNumber)}::int[], ${col((r) => r.startedAt.toISOString())}::timestamptz[],
              ${col((r) => r.durationMs)}::int[], ${col((r) => r.statusCode)}::int[], ${col((r) => r.errorKind)}::text[],
              ${col((r) => JSON.stringify(r.requestHeaders))}::jsonb[], ${col((r) => r.responseBody)}::text[])
          )
          update deliveries d set status = v.status, attempts = d.attempts + 1, last_status_code = v.code,
            next_attempt_at = case when v.status = 'failed' then now() end, updated_at = now()
          from unnest(${col((r) => r.deliveryId)}::text[], ${col((r) => r.status)}::text[], ${col((r) => r.statusCode)}::int[])
               as v(id, status, code)
          where d.id = v.id`;
        for (const item of items) item.resolve();
      } catch (error) {
        for (const item of items) item.reject(error);
      }
    }
    writing = false;
  }

  return (row: AttemptRow): Promise<void> =>
    new Promise((resolve, reject) => {
      queue.push({ row, resolve, reject });
      if (!writing && queue.length === 1) setImmediate(() => void drain());
    });
}

/**
 * The durable reference: the least work a durable, signed BullMQ fan-out
 * does for each delivery, written plainly in this process. Publishing stores
 * each batch of 100 events and their deliveries in Herald's own tables with
 * one statement (one transaction), then adds ids-only jobs (job id =
 * delivery id) in one bulk call. One BullMQ worker loads event bodies in
 * batches, keeps endpoints in memory, signs (Standard Webhooks, Herald's
 * signing code), POSTs with undici, and group-commits the attempt and the
 * delivery's status before its job completes. No endpoint guard, no retries
 * beyond BullMQ's own; its concurrency is min(100, 10 × endpoints), so it
 * keeps no more requests in flight per endpoint than Herald does.
 *
 * The clock runs as the throughput scenario's does: from the first publish
 * until every delivery was received and recorded as succeeded.
 */
export async function durableReference(
  ctx: { receiver: FastReceiver; redisUrl: string },
  {
    events,
    endpoints,
    timeoutMs,
    window,
    warmupDeliveries = 0,
  }: {
    events: number;
    endpoints: number;
    timeoutMs: number;
    /** Deliveries made before the measured window, as Herald's side makes them (see Sizes.warmupDeliveries). */
    warmupDeliveries?: number;
    /** Called just inside the measured window, e.g. to watch every Redis command of it. */
    window?: { start(): Promise<void>; stop(): Promise<void> };
  },
): Promise<DurableReferenceResult> {
  const deliveries = events * endpoints;
  const concurrency = Math.min(WORKER_CONCURRENCY, ENDPOINT_CONCURRENCY * endpoints);
  const database = await createTestDatabase();
  const sql = postgres(database.url, { max: 10, onnotice: () => {} });
  const stats = postgres(database.url, { max: 1, onnotice: () => {} });
  const prefix = freshQueuePrefix();
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue<ReferenceJob>("durable", { connection, prefix });
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  let worker: Worker<ReferenceJob> | undefined;
  try {
    const tenantId = newId("tenant");
    await sql`insert into tenants (id, name) values (${tenantId}, 'durable reference')`;
    const targets = Array.from({ length: endpoints }, (_, i) => ({
      id: newId("endpoint"),
      path: `/d/${i}`,
      secret: generateSecret(),
    }));
    for (const target of targets) {
      await sql`insert into endpoints (id, tenant_id, name, url, secret)
                values (${target.id}, ${tenantId}, ${target.path}, ${ctx.receiver.url + target.path}, ${target.secret})`;
    }
    const byId = new Map(targets.map((target) => [target.id, target]));
    const eventBody = createEventBodies(sql);
    const recordAttempt = createAttemptWriter(sql);

    async function deliver(job: Job<ReferenceJob>): Promise<void> {
      const { deliveryId, eventId, endpointId } = job.data;
      const endpoint = byId.get(endpointId);
      if (!endpoint) throw new Error(`unknown endpoint ${endpointId}`);
      const body = await eventBody(eventId);
      const startedAt = new Date();
      const headers = buildHeaders(eventId, body, [endpoint.secret], {}, Math.floor(startedAt.getTime() / 1000));
      let statusCode: number | null = null;
      let responseBody: string | null = null;
      let errorKind: string | null = null;
      try {
        const response = await agent.request({ origin: ctx.receiver.url, path: endpoint.path, method: "POST", headers, body });
        statusCode = response.statusCode;
        responseBody = (await response.body.text()).slice(0, 4096);
        if (statusCode < 200 || statusCode >= 300) errorKind = "http_status";
      } catch {
        errorKind = "connection";
      }
      const ok = errorKind === null;
      const attemptNumber = job.attemptsMade + 1;
      const { "webhook-signature": _signature, ...shown } = headers;
      await recordAttempt({
        deliveryId,
        endpointId,
        attemptNumber,
        startedAt,
        durationMs: Date.now() - startedAt.getTime(),
        statusCode,
        errorKind,
        requestHeaders: { ...shown, "webhook-signature": "(redacted)" },
        responseBody,
        status: ok ? "succeeded" : attemptNumber >= JOB_ATTEMPTS ? "exhausted" : "failed",
      });
      if (!ok) throw new Error(`attempt failed: ${errorKind} ${statusCode ?? ""}`);
    }

    let completed = 0;
    let failed = 0;
    let awaited: { count: number; resolve: () => void } | undefined;
    const untilCompleted = (count: number) =>
      completed >= count ? Promise.resolve() : new Promise<void>((resolve) => (awaited = { count, resolve }));
    worker = new Worker<ReferenceJob>("durable", deliver, { connection, prefix, concurrency, removeOnComplete: { count: 0 } });
    worker.on("completed", () => {
      if (++completed >= (awaited?.count ?? Number.POSITIVE_INFINITY)) awaited?.resolve();
    });
    worker.on("failed", () => {
      failed++;
    });
    await worker.waitUntilReady();

    async function publishBatch(size: number): Promise<void> {
      const eventIds = Array.from({ length: size }, () => newId("event"));
      const payloads = eventIds.map(() => JSON.stringify(PAYLOAD));
      const jobs: ReferenceJob[] = eventIds.flatMap((eventId) =>
        targets.map((target) => ({ deliveryId: newId("delivery"), eventId, endpointId: target.id, tenantId })),
      );
      await sql`
        with stored as (
          insert into events (id, tenant_id, event_type, payload)
          select e.id, ${tenantId}, ${EVENT_TYPE}, e.payload from unnest(${eventIds}::text[], ${payloads}::text[]) as e(id, payload)
        )
        insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at)
        select d.id, ${tenantId}, d.event_id, d.endpoint_id, 'pending', now()
        from unnest(${jobs.map((j) => j.deliveryId)}::text[], ${jobs.map((j) => j.eventId)}::text[], ${jobs.map((j) => j.endpointId)}::text[])
             as d(id, event_id, endpoint_id)`;
      await queue.addBulk(
        jobs.map((data) => ({
          name: "deliver",
          data,
          opts: {
            jobId: data.deliveryId,
            attempts: JOB_ATTEMPTS,
            backoff: { type: "exponential", delay: 1000 },
            removeOnComplete: true,
            removeOnFail: true,
          },
        })),
      );
    }

    const label = `durable reference, ${endpoints} endpoint${endpoints > 1 ? "s" : ""}`;
    const { events: warmupEvents, deliveries: warmup } = warmupOf(warmupDeliveries, endpoints);
    if (warmup > 0) {
      log(`${label}: warming up with ${warmup} deliveries (not measured)`);
      await ctx.receiver.reset();
      for (let published = 0; published < warmupEvents; published += PUBLISH_BATCH) {
        await publishBatch(Math.min(PUBLISH_BATCH, warmupEvents - published));
      }
      await untilCompleted(warmup);
    }
    const done = untilCompleted(warmup + deliveries);
    await ctx.receiver.reset();
    const redisBefore = await redisSnapshot(ctx.redisUrl);
    await window?.start();
    const pgBefore = await pgSnapshot(stats, database.name);
    const receiverCpu = processCpuSeconds(ctx.receiver.pid);
    const cpu = process.cpuUsage();
    const syscalls = processSyscalls(process.pid);
    log(`${label}: publishing ${events} events × ${endpoints} (concurrency ${concurrency})`);
    const started = now();
    let next = 0;
    const publishing = Promise.all(
      Array.from({ length: PUBLISHERS }, async () => {
        while (next < events) {
          const size = Math.min(PUBLISH_BATCH, events - next);
          next += size;
          await publishBatch(size);
        }
      }),
    );
    const { counters, complete } = await waitForReceived(ctx.receiver, deliveries, { label, timeoutMs });
    await publishing;
    if (complete) await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    const ended = now();
    const used = process.cpuUsage(cpu);
    const syscallsAfter = processSyscalls(process.pid);
    const receiverUsed = processCpuSeconds(ctx.receiver.pid) - receiverCpu;
    const redis = redisDelta(redisBefore, await redisSnapshot(ctx.redisUrl));
    await window?.stop();
    const pg = pgDelta(pgBefore, await settledPgSnapshot(stats, database.name));
    const [recorded] = await stats<{ attempts: number; succeeded: number }[]>`
      select (select count(*)::int - ${warmup}::int from attempts) as attempts,
             (select count(*)::int - ${warmup}::int from deliveries where status = 'succeeded') as succeeded`;
    if (failed > 0) log(`${label}: ${failed} attempts failed`);

    const seconds = (ended - started) / 1000;
    const per = (value: number) => value / deliveries;
    const cpuSeconds = (used.user + used.system) / 1e6;
    const scriptCalls = (redis.byCommand.evalsha ?? 0) + (redis.byCommand.eval ?? 0);
    return {
      scenario: "reference.durable",
      endpoints,
      events,
      deliveries,
      concurrency,
      received: counters.count,
      signed: counters.signed,
      attemptsRecorded: recorded?.attempts ?? 0,
      succeeded: recorded?.succeeded ?? 0,
      seconds: round(seconds, 3),
      deliveriesPerSecond: round(completed - warmup >= deliveries ? deliveries / seconds : (completed - warmup) / seconds),
      perDelivery: {
        redisCommands: round(per(redis.total), 2),
        redisScriptCalls: round(per(scriptCalls), 2),
        redisCommandsByName: Object.fromEntries(Object.entries(redis.byCommand).map(([k, v]) => [k, round(per(v), 3)])),
        pgTransactions: round(per(pg.transactions), 4),
        pgRowsWritten: round(per(pg.rowsWritten), 2),
        pgWalRecords: round(per(pg.walRecords), 2),
        pgWalSyncs: round(per(pg.walSyncs), 3),
        cpuMs: round(per(cpuSeconds * 1000), 4),
        appSyscalls: round(per(syscallsAfter.reads + syscallsAfter.writes - syscalls.reads - syscalls.writes), 2),
        totalCpuMs: round(per((cpuSeconds + redis.cpuSeconds + pg.backendCpuSeconds + receiverUsed) * 1000), 4),
        redisCpuMs: round(per(redis.cpuSeconds * 1000), 4),
        pgCpuMs: round(per(pg.backendCpuSeconds * 1000), 4),
        receiverCpuMs: round(per(receiverUsed * 1000), 4),
      },
    };
  } finally {
    await worker?.close();
    await queue.close();
    connection.disconnect();
    await agent.close();
    await sql.end({ timeout: 1 });
    await stats.end({ timeout: 1 });
    await deletePrefix(prefix, ctx.redisUrl);
    await database.drop();
  }
}
