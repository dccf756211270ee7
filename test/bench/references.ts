import { deletePrefix, freshQueuePrefix } from "@herald/testing";
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import postgres from "postgres";
import { Agent } from "undici";
import { ENVELOPE, REFERENCE_HEADERS } from "./payload.ts";
import { log, now, round, waitForReceived } from "./progress.ts";
import type { FastReceiver } from "./receiver.ts";
import { processCpuSeconds, redisDelta, redisSnapshot } from "./service-stats.ts";

/** What every reference point shares with Herald's worker: its concurrency and its connection count per origin. */
export interface ReferenceContext {
  receiver: FastReceiver;
  redisUrl: string;
  databaseUrl: string;
  concurrency: number;
  connections: number;
}

export interface ReferenceResult {
  scenario: string;
  jobs: number;
  seconds: number;
  perSecond: number;
  /** CPU time of this (the driver) process per job: comparable with Herald's worker CPU per delivery. */
  cpuMsPerJob: number;
  /** Redis commands per job (scripts' inner commands included), for the queue-based references. */
  redisCommandsPerJob?: number;
  /** CPU of everything the job touched per job: this process, the receiver and Redis (not PostgreSQL). */
  totalCpuMsPerJob: number;
}

const result = (
  scenario: string,
  jobs: number,
  started: number,
  ended: number,
  cpu: NodeJS.CpuUsage,
  serviceCpuSeconds: number,
): ReferenceResult => {
  const seconds = (ended - started) / 1000;
  return {
    scenario,
    jobs,
    seconds: round(seconds, 3),
    perSecond: round(jobs / seconds),
    cpuMsPerJob: round((cpu.user + cpu.system) / 1000 / jobs, 4),
    totalCpuMsPerJob: round(((cpu.user + cpu.system) / 1000 + serviceCpuSeconds * 1000) / jobs, 4),
  };
};

/** 1. The most POSTs/s this machine makes to the receiver with no queue at all. */
export async function httpLimit(ctx: ReferenceContext, requests: number): Promise<ReferenceResult> {
  const agent = new Agent({ connections: ctx.connections, keepAliveTimeout: 30_000 });
  await ctx.receiver.reset();
  let next = 0;
  const receiverCpu = processCpuSeconds(ctx.receiver.pid);
  const cpu = process.cpuUsage();
  const started = now();
  const loop = async () => {
    while (next < requests) {
      next++;
      const response = await agent.request({
        origin: ctx.receiver.url,
        path: "/http-limit",
        method: "POST",
        headers: REFERENCE_HEADERS,
        body: ENVELOPE,
      });
      await response.body.dump();
    }
  };
  await Promise.all(Array.from({ length: ctx.concurrency }, loop));
  const ended = now();
  const used = process.cpuUsage(cpu);
  const serviceCpu = processCpuSeconds(ctx.receiver.pid) - receiverCpu;
  await agent.close();
  return result("reference.http-limit", requests, started, ended, used, serviceCpu);
}

type Processor = (job: { data: unknown }) => Promise<void>;

/**
 * Fills a fresh queue with `jobs` jobs shaped like Herald's (ids only), then
 * times one BullMQ worker at the given concurrency draining them.
 */
async function drain(
  ctx: ReferenceContext,
  jobs: number,
  processor: Processor,
): Promise<{ started: number; ended: number; cpu: NodeJS.CpuUsage; redisCommands: number; serviceCpu: number }> {
  const prefix = freshQueuePrefix();
  const connection = new Redis(ctx.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue("reference", { connection, prefix });
  try {
    for (let offset = 0; offset < jobs; offset += 1000) {
      const size = Math.min(1000, jobs - offset);
      await queue.addBulk(
        Array.from({ length: size }, (_, i) => ({
          name: "deliver",
          data: { deliveryId: `dlv_${offset + i}`, eventId: "evt_reference", endpointId: "ep_reference", tenantId: "ten_reference" },
          opts: { removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    let completed = 0;
    let failed = 0;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const redisBefore = await redisSnapshot(ctx.redisUrl);
    const receiverCpu = processCpuSeconds(ctx.receiver.pid);
    const cpu = process.cpuUsage();
    const started = now();
    const worker = new Worker("reference", processor, { connection, prefix, concurrency: ctx.concurrency, removeOnComplete: { count: 0 } });
    const progress = setInterval(() => log(`  ${completed}/${jobs} jobs`), 1000);
    worker.on("completed", () => {
      if (++completed + failed >= jobs) resolveDone();
    });
    worker.on("failed", () => {
      if (completed + ++failed >= jobs) resolveDone();
    });
    await done;
    const ended = now();
    const used = process.cpuUsage(cpu);
    clearInterval(progress);
    await worker.close();
    if (failed > 0) throw new Error(`${failed} reference jobs failed`);
    const redis = redisDelta(redisBefore, await redisSnapshot(ctx.redisUrl));
    const serviceCpu = redis.cpuSeconds + processCpuSeconds(ctx.receiver.pid) - receiverCpu;
    return { started, ended, cpu: used, redisCommands: redis.total, serviceCpu };
  } finally {
    await queue.close();
    connection.disconnect();
    await deletePrefix(prefix, ctx.redisUrl);
  }
}

/** 2. The most jobs/s BullMQ and this Redis do: a no-op processor. */
export async function queueLimit(ctx: ReferenceContext, jobs: number): Promise<ReferenceResult> {
  const { started, ended, cpu, redisCommands, serviceCpu } = await drain(ctx, jobs, async () => {});
  return { ...result("reference.queue-limit", jobs, started, ended, cpu, serviceCpu), redisCommandsPerJob: round(redisCommands / jobs, 2) };
}

/** 3. The floor cost of queue + HTTP: each job POSTs with undici; nothing is recorded. */
export async function barePipeline(ctx: ReferenceContext, jobs: number): Promise<ReferenceResult> {
  const agent = new Agent({ connections: ctx.connections, keepAliveTimeout: 30_000 });
  await ctx.receiver.reset();
  const { started, ended, cpu, redisCommands, serviceCpu } = await drain(ctx, jobs, async () => {
    const response = await agent.request({
      origin: ctx.receiver.url,
      path: "/bare",
      method: "POST",
      headers: REFERENCE_HEADERS,
      body: ENVELOPE,
    });
    await response.body.dump();
  });
  await agent.close();
  await waitForReceived(ctx.receiver, jobs, { label: "bare pipeline", timeoutMs: 10_000 });
  return {
    ...result("reference.bare-pipeline", jobs, started, ended, cpu, serviceCpu),
    redisCommandsPerJob: round(redisCommands / jobs, 2),
  };
}

/** 4. What most teams write first: fetch, then one INSERT per attempt. */
export async function naiveBaseline(ctx: ReferenceContext, jobs: number): Promise<ReferenceResult> {
  const sql = postgres(ctx.databaseUrl, { max: 10, onnotice: () => {} });
  await sql`create table if not exists naive_attempts (
    id bigserial primary key, delivery_id text not null, status_code int not null, created_at timestamptz not null default now())`;
  await ctx.receiver.reset();
  try {
    const { started, ended, cpu, redisCommands, serviceCpu } = await drain(ctx, jobs, async (job) => {
      const response = await fetch(`${ctx.receiver.url}/naive`, { method: "POST", headers: REFERENCE_HEADERS, body: ENVELOPE });
      await response.text();
      const { deliveryId } = job.data as { deliveryId: string };
      await sql`insert into naive_attempts (delivery_id, status_code) values (${deliveryId}, ${response.status})`;
    });
    return {
      ...result("reference.naive-baseline", jobs, started, ended, cpu, serviceCpu),
      redisCommandsPerJob: round(redisCommands / jobs, 2),
    };
  } finally {
    await sql`drop table if exists naive_attempts`;
    await sql.end({ timeout: 1 });
  }
}
