import { once } from "node:events";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { createDeliveryQueues, createKeys } from "@herald/queue";
import { idFloor } from "@herald/schema";
import { Redis } from "ioredis";
import { type BenchHerald, type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { PAYLOAD } from "../payload.ts";
import { log, now, pollUntil, round, waitForReceived } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import { processCpuSeconds, redisDelta, redisSnapshot } from "../service-stats.ts";
import type { Sizes } from "../sizes.ts";
import { median } from "./durable.ts";
import { latency } from "./latency.ts";

const DEAD_ENDPOINTS = 10;
const HEALTHY_ENDPOINTS = 5;
/** How long a revived dead endpoint takes to answer: its cap, not Herald's CPU, should set the drain's pace. */
const REVIVED_LATENCY_MS = 250;
const CAP = 10;

export interface BacklogSizes {
  /** Deliveries stuck behind the dead endpoints. */
  stuck: number;
  /** Events published to the healthy endpoints in each throughput run. */
  events: number;
  idleSeconds: number;
  latencySeconds: number;
  /** Clean / backlog pairs of healthy runs, alternating which goes first; the ratios are of their medians. */
  pairs: number;
  timeoutMs: number;
}

export const backlogSizes = (full: boolean): BacklogSizes =>
  full
    ? { stuck: 1_000_000, events: 2_000, idleSeconds: 30, latencySeconds: 20, pairs: 3, timeoutMs: 180_000 }
    : { stuck: 100_000, events: 1_000, idleSeconds: 10, latencySeconds: 10, pairs: 2, timeoutMs: 120_000 };

interface HealthyRun {
  deliveriesPerSecond: number;
  p99Ms: number;
  p50Ms: number;
  /** PostgreSQL's write-ahead log per healthy delivery in the throughput part, and its full-page images (machine-independent counts). */
  walBytesPerDelivery: number;
  fullPageImagesPerDelivery: number;
  /** Checkpoints PostgreSQL made during the throughput part (the whole server's). */
  checkpoints: number;
}

interface WalStats {
  walBytes: number;
  fpi: number;
  checkpoints: number;
}

async function walStats(bench: BenchHerald): Promise<WalStats> {
  const [row] = await bench.sql<WalStats[]>`
    select w.wal_bytes::float8 as "walBytes", w.wal_fpi::float8 as fpi,
           (b.checkpoints_timed + b.checkpoints_req)::float8 as checkpoints
    from pg_stat_wal w, pg_stat_bgwriter b`;
  return row as WalStats;
}

export interface BacklogResult {
  scenario: "backlog";
  stuck: number;
  deadEndpoints: number;
  healthyEndpoints: number;
  loadSeconds: number;
  /** Medians of the clean runs and of the runs beside the backlog. */
  clean: HealthyRun;
  withBacklog: HealthyRun;
  /** Every healthy run, in the order they ran. */
  runs: (HealthyRun & { kind: "clean" | "with backlog" })[];
  /** withBacklog ÷ clean (medians), deliveries/s and p99. */
  throughputRatio: number;
  latencyRatio: number;
  idle: {
    seconds: number;
    redisCommandsPerSecond: number;
    redisBytesPerStuckDelivery: number;
    workerCpuPercent: number;
    jobsInRedis: number;
  };
  drain: {
    seconds: number;
    deliveriesPerSecond: number;
    /** DEAD_ENDPOINTS × cap ÷ the revived receiver's latency. */
    capLimitPerSecond: number;
    /** Half the clean throughput, offered to the healthy endpoints open loop while the backlog drains. */
    healthyOfferedPerSecond: number;
    healthyDeliveriesPerSecond: number;
    /** healthy delivered ÷ offered: 1 means they kept up. */
    healthyRatio: number;
    healthyP99Ms: number;
  };
}

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no free port");
  return address.port;
}

async function redisMemory(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return Number((await redis.info("memory")).match(/^used_memory:(\d+)/m)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

/**
 * A million deliveries stuck behind ten dead endpoints must cost nothing while
 * they wait and must not slow the healthy endpoints. On a Herald with five
 * healthy endpoints, the backlog's rows are loaded straight into PostgreSQL as
 * Herald leaves them (parked first attempts, parked failed ones, failed ones
 * whose retry is hours away) and the dead endpoints put in the parked set; the
 * idle cost is measured; then healthy runs (throughput, then latency at half
 * of it) alternate in pairs with the same runs on a clean Herald started
 * beside it; then the dead endpoints come back (answering after
 * REVIVED_LATENCY_MS) and drain while the healthy endpoints keep publishing.
 */
export async function backlog(options: BenchOptions, receiver: FastReceiver, sizes: BacklogSizes): Promise<BacklogResult> {
  const latencySizes = { endpoints: HEALTHY_ENDPOINTS, latencySeconds: sizes.latencySeconds, timeoutMs: sizes.timeoutMs } as Sizes;
  return withHerald(async (bench) => {
    const tenantId = await healthyTenant(bench);
    const deadPort = await freePort();
    const bigTenant = await bench.createTenant("big-customer");
    const deadIds = await bench.addEndpoints(
      bigTenant,
      Array.from({ length: DEAD_ENDPOINTS }, (_, i) => `http://127.0.0.1:${deadPort}/dead/${i}`),
    );
    const memoryBefore = await redisMemory(options.redisUrl);
    const loadStarted = now();
    await load(bench, bigTenant, deadIds, sizes.stuck);
    const queueRedis = new Redis(options.redisUrl);
    const queues = createDeliveryQueues({ redis: queueRedis, prefix: bench.herald.queuePrefix, shards: 1 });
    await queues.markParked(deadIds, Date.now());
    // Settled: every dead endpoint's circuit is open and no job of theirs is left in Redis.
    const keys = createKeys(bench.herald.queuePrefix, 1);
    const probe = new Redis(options.redisUrl);
    await pollUntil(
      async () => {
        const open = await Promise.all(deadIds.map((id) => probe.hget(keys.endpoint(id, "circuit"), "openUntil")));
        return open.every((value) => Number(value ?? 0) > 0) && (await jobsInRedis(probe, bench.herald.queuePrefix)) <= DEAD_ENDPOINTS;
      },
      { timeoutMs: sizes.timeoutMs, intervalMs: 200 },
    );
    const loadSeconds = (now() - loadStarted) / 1000;
    log(
      `backlog: ${sizes.stuck} deliveries stuck behind ${DEAD_ENDPOINTS} dead endpoints, loaded and settled in ${round(loadSeconds, 1)} s`,
    );

    // Idle: nothing published; what does the backlog cost while it waits?
    const workerPid = bench.herald.workers[0]?.child.pid ?? 0;
    const idleRedis = await redisSnapshot(options.redisUrl);
    const idleCpu = processCpuSeconds(workerPid);
    const idleStarted = now();
    await new Promise((resolve) => setTimeout(resolve, sizes.idleSeconds * 1000));
    const idleSeconds = (now() - idleStarted) / 1000;
    const idleCommands = redisDelta(idleRedis, await redisSnapshot(options.redisUrl)).total;
    const idleWorkerCpu = processCpuSeconds(workerPid) - idleCpu;
    const memoryAfter = await redisMemory(options.redisUrl);
    const idle = {
      seconds: round(idleSeconds, 1),
      redisCommandsPerSecond: round(idleCommands / idleSeconds, 1),
      redisBytesPerStuckDelivery: round(Math.max(0, memoryAfter - memoryBefore) / sizes.stuck, 2),
      workerCpuPercent: round((idleWorkerCpu / idleSeconds) * 100, 1),
      jobsInRedis: await jobsInRedis(probe, bench.herald.queuePrefix),
    };
    log(`backlog idle: ${JSON.stringify(idle)}`);

    // The healthy runs alternate between this Herald and a clean one started beside it now (clean first, then
    // backlog first, …), and the ratios are of their medians: whatever else the machine does during one pair, it
    // does to both sides.
    const runs = await withHerald(async (cleanBench) => {
      const cleanTenant = await healthyTenant(cleanBench);
      const done: BacklogResult["runs"] = [];
      for (let pair = 1; pair <= sizes.pairs; pair++) {
        const order = pair % 2 === 1 ? (["clean", "with backlog"] as const) : (["with backlog", "clean"] as const);
        for (const kind of order) {
          const run =
            kind === "clean"
              ? await healthyRun(cleanBench, cleanTenant, `clean ${pair}`)
              : await healthyRun(bench, tenantId, `with backlog ${pair}`);
          done.push({ kind, ...run });
        }
      }
      return done;
    });
    const clean = medianRun(runs.filter((run) => run.kind === "clean"));
    const withBacklog = medianRun(runs.filter((run) => run.kind === "with backlog"));

    // The dead endpoints come back: once each one's next probe has succeeded they drain at their cap, measured
    // while the healthy endpoints keep publishing.
    let revived = 0;
    const answered = new Set<string>();
    let allRevived: (() => void) | undefined;
    const probed = new Promise<void>((resolve) => {
      allRevived = resolve;
    });
    const server: Server = createServer((req, res) => {
      req.resume();
      req.on("end", () =>
        setTimeout(() => {
          revived++;
          answered.add(req.url ?? "");
          if (answered.size >= DEAD_ENDPOINTS) allRevived?.();
          res.writeHead(200);
          res.end();
        }, REVIVED_LATENCY_MS),
      );
    });
    server.listen(deadPort, "127.0.0.1");
    await once(server, "listening");
    // The probes come when the circuits' cool-downs (30 s) end, which the circuits reached at different moments:
    // the drain is measured once every dead endpoint has answered its probe, so that all of them are draining.
    await probed;
    const drainedBefore = revived;
    // The healthy endpoints get half the clean throughput, open loop, as in the latency runs: do they keep up, and
    // how does their tail move, while the backlog drains beside them?
    const drainStarted = now();
    const offered = clean.deliveriesPerSecond / 2;
    const during = await latency(bench, tenantId, receiver, latencySizes, offered);
    const drainSeconds = (now() - drainStarted) / 1000;
    const drainedCount = revived - drainedBefore;
    server.closeAllConnections();
    server.close();
    probe.disconnect();
    await queues.close();
    queueRedis.disconnect();
    const healthyPerSecond = during.received / drainSeconds;
    const drain = {
      seconds: round(drainSeconds, 1),
      deliveriesPerSecond: round(drainedCount / drainSeconds),
      capLimitPerSecond: round((DEAD_ENDPOINTS * CAP * 1000) / REVIVED_LATENCY_MS),
      healthyOfferedPerSecond: round(offered),
      healthyDeliveriesPerSecond: round(healthyPerSecond),
      healthyRatio: round(healthyPerSecond / offered, 3),
      healthyP99Ms: during.p99Ms,
    };
    log(`backlog drain: ${JSON.stringify(drain)}`);
    return {
      scenario: "backlog" as const,
      stuck: sizes.stuck,
      deadEndpoints: DEAD_ENDPOINTS,
      healthyEndpoints: HEALTHY_ENDPOINTS,
      loadSeconds: round(loadSeconds, 1),
      clean,
      withBacklog,
      runs,
      throughputRatio: round(withBacklog.deliveriesPerSecond / clean.deliveriesPerSecond, 3),
      latencyRatio: round(withBacklog.p99Ms / clean.p99Ms, 3),
      idle,
      drain,
    };
  });

  async function withHerald<T>(body: (bench: BenchHerald) => Promise<T>): Promise<T> {
    const bench = await startBenchHerald(options, {
      env: { HERALD_ENDPOINT_CONCURRENCY: String(CAP), HERALD_CIRCUIT_THRESHOLD: "10", HERALD_CIRCUIT_COOLDOWN: "30s" },
    });
    try {
      return await body(bench);
    } finally {
      await bench.stop();
    }
  }

  async function healthyTenant(bench: BenchHerald): Promise<string> {
    const tenantId = await bench.createTenant("healthy");
    await bench.addEndpoints(
      tenantId,
      Array.from({ length: HEALTHY_ENDPOINTS }, (_, i) => `${receiver.url}/healthy/${i}`),
    );
    return tenantId;
  }

  async function healthyRun(bench: BenchHerald, tenantId: string, label: string): Promise<HealthyRun> {
    const deliveries = sizes.events * HEALTHY_ENDPOINTS;
    await receiver.reset();
    const walBefore = await walStats(bench);
    const started = now();
    const publishing = bench.publishMany(tenantId, sizes.events);
    await waitForReceived(receiver, deliveries, { label: `backlog, ${label}`, timeoutMs: sizes.timeoutMs });
    await publishing;
    const seconds = (now() - started) / 1000;
    const walAfter = await walStats(bench);
    const deliveriesPerSecond = deliveries / seconds;
    const timed = await latency(bench, tenantId, receiver, latencySizes, deliveriesPerSecond / 2);
    const wal = {
      walBytesPerDelivery: round((walAfter.walBytes - walBefore.walBytes) / deliveries),
      fullPageImagesPerDelivery: round((walAfter.fpi - walBefore.fpi) / deliveries, 2),
      checkpoints: walAfter.checkpoints - walBefore.checkpoints,
    };
    log(`backlog, ${label}: ${round(deliveriesPerSecond)} deliveries/s, p99 ${timed.p99Ms} ms, ${JSON.stringify(wal)}`);
    return { deliveriesPerSecond: round(deliveriesPerSecond), p50Ms: timed.p50Ms, p99Ms: timed.p99Ms, ...wal };
  }
}

/** Each figure's median over the runs. */
function medianRun(runs: HealthyRun[]): HealthyRun {
  const mid = (pick: (run: HealthyRun) => number, digits = 1) => round(median(runs.map(pick)), digits);
  return {
    deliveriesPerSecond: mid((run) => run.deliveriesPerSecond, 0),
    p50Ms: mid((run) => run.p50Ms),
    p99Ms: mid((run) => run.p99Ms),
    walBytesPerDelivery: mid((run) => run.walBytesPerDelivery, 0),
    fullPageImagesPerDelivery: mid((run) => run.fullPageImagesPerDelivery, 2),
    checkpoints: mid((run) => run.checkpoints, 0),
  };
}

async function jobsInRedis(redis: Redis, prefix: string): Promise<number> {
  const counts = await Promise.all(
    ["deliveries", "backlog"].flatMap((queue) => [
      redis.llen(`${prefix}:${queue}:wait`),
      redis.llen(`${prefix}:${queue}:active`),
      redis.zcard(`${prefix}:${queue}:delayed`),
      redis.zcard(`${prefix}:${queue}:prioritized`),
    ]),
  );
  return counts.reduce((sum, n) => sum + n, 0);
}

/**
 * The rows a backlog leaves, written straight into PostgreSQL in large
 * statements: events of the big tenant, each with one delivery per dead
 * endpoint; 80 % parked before any attempt, 10 % parked after a failed one,
 * 10 % failed with a retry hours away (waiting in the due index, not parked).
 */
async function load(bench: BenchHerald, tenantId: string, endpointIds: string[], stuck: number): Promise<void> {
  const events = Math.ceil(stuck / endpointIds.length);
  const chunk = 10_000;
  const payload = JSON.stringify(PAYLOAD);
  // Published over the last hour, as a backlog is: ids carry their creation time.
  const start = Date.now() - 3_600_000;
  let serial = 0;
  const idAt = (kind: "event" | "delivery", time: number) =>
    `${idFloor(kind, new Date(time)).slice(0, -7)}${(serial++ % 10_000_000).toString().padStart(7, "0")}`;
  for (let offset = 0; offset < events; offset += chunk) {
    const times = Array.from({ length: Math.min(chunk, events - offset) }, (_, n) => start + ((offset + n) * 3_600_000) / events);
    const eventIds = times.map((time) => idAt("event", time));
    await bench.sql`
      insert into events (id, tenant_id, event_type, payload)
      select e.id, ${tenantId}, 'order.paid', ${payload}::jsonb from unnest(${eventIds}::text[]) as e(id)`;
    const deliveryIds: string[] = [];
    const deliveryEvents: string[] = [];
    const deliveryEndpoints: string[] = [];
    const kinds: number[] = [];
    eventIds.forEach((eventId, n) => {
      for (const endpointId of endpointIds) {
        deliveryIds.push(idAt("delivery", times[n] as number));
        deliveryEvents.push(eventId);
        deliveryEndpoints.push(endpointId);
        // By event, so that every endpoint gets each kind in the same proportion.
        kinds.push((offset + n) % 10);
      }
    });
    await bench.sql`
      insert into deliveries (id, tenant_id, event_id, endpoint_id, status, attempts, parked, next_attempt_at, last_error)
      select d.id, ${tenantId}, d.event_id, d.endpoint_id,
             case when d.kind < 8 then 'pending' else 'failed' end,
             case when d.kind < 8 then 0 else 1 end,
             d.kind < 9,
             case when d.kind = 9 then now() + make_interval(hours => 1 + (d.kind * 7 + length(d.id)) % 20) else now() end,
             case when d.kind < 8 then null else 'connection refused' end
      from unnest(${deliveryIds}::text[], ${deliveryEvents}::text[], ${deliveryEndpoints}::text[], ${kinds}::int[])
           as d(id, event_id, endpoint_id, kind)`;
    if (offset % 100_000 === 0)
      log(`backlog: loading, ${Math.min(stuck, (offset + eventIds.length) * endpointIds.length)} of ${stuck} rows`);
  }
  // A real backlog builds up over an hour while autovacuum keeps up with it; right after a bulk load, autovacuum
  // would otherwise run during the measured runs and take CPU from them on this 2-core machine.
  await bench.sql`vacuum (analyze) deliveries`;
  await bench.sql`vacuum (analyze) events`;
  // The load writes about a gigabyte of WAL at once, which forces a checkpoint; landing in the measured run, its
  // writes and the full-page images of every page first touched after it would be charged to the backlog. A
  // backlog built up over an hour spreads its checkpoints over that hour instead.
  await bench.sql`checkpoint`;
}
