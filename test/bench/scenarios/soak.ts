import { createKeys, DELIVERY_QUEUE } from "@herald/queue";
import type { HeraldProcess } from "@herald/testing";
import { TEST_ADMIN_TOKEN } from "@herald/testing";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { type BenchHerald, type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { PUBLISH_BODY } from "../payload.ts";
import { log, now, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import { startBenchRedis } from "../redis-server.ts";
import { pgDelta, pgSnapshot, settledPgSnapshot } from "../service-stats.ts";
import type { Sizes } from "../sizes.ts";

/**
 * Short enough that every delivery reaches a final state within the run:
 * four attempts, so a delivery to the endpoint that fails 30 % of the time is
 * exhausted about once in 120 (0.3⁴). The reconciler runs often and soon, so
 * what a FLUSHALL loses comes back within seconds; the delivery timeout is
 * short, so a killed worker's jobs are taken back within about 30 s (two lock
 * durations of timeout + 10 s). `--env` overrides any of these.
 */
export const SOAK_ENV: Record<string, string> = {
  HERALD_RETRY_SCHEDULE: "0,1s,2s,5s",
  HERALD_RECONCILE_INTERVAL: "2s",
  HERALD_RECONCILE_GRACE: "5s",
  HERALD_DELIVERY_TIMEOUT: "5s",
};

/** Paths of the six endpoints: four that answer at once, one that fails 30 % of the time with 500, one that answers after 50 ms. */
const ENDPOINT_PATHS = ["/s/0", "/s/1", "/s/2", "/s/3", "/fail/30/s/4", "/slow/50/s/5"];
const WORKERS = 2;
/** Connections of the bench itself carry this name, so killing Herald's clients spares them. */
const BENCH_CLIENT_NAME = "bench-soak";
/** How long after the last publish was sent the soak still waits for the API's answers. */
const UNANSWERED_AFTER_MS = 60_000;
/**
 * After publishing stops, the soak waits for every delivery to reach a final
 * state while some keep finishing: it gives up when none has for STALL_MS
 * (longer than any retry delay, lock expiry or reconciler pass it runs with),
 * or after three times the soak's length, and at least CONVERGE_MIN_MS.
 */
const STALL_MS = 90_000;
const CONVERGE_MIN_MS = 180_000;

export const FAULT_KINDS = ["worker SIGKILL", "Redis clients killed", "Redis FLUSHALL", "PostgreSQL backends terminated"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface SoakFault {
  kind: FaultKind;
  /** Seconds since publishing started. */
  atSeconds: number;
  detail: string;
  /** Deliveries neither succeeded nor exhausted just before the fault: the backlog it hit. */
  openDeliveries: number;
}

export interface SoakResult {
  scenario: "soak";
  seconds: number;
  targetDeliveriesPerSecond: number;
  /** The fault rate asked for (`--soak-faults`); `faults` lists the ones injected. */
  faultsPerMinute: number;
  endpoints: number;
  workers: number;
  env: Record<string, string>;
  /** Events the API answered 202 for. */
  acceptedEvents: number;
  /** Publishes answered otherwise, by status (0: the request failed; "unanswered": no answer a minute after publishing stopped). */
  publishErrors: Record<string, number>;
  /** Accepted events × endpoints. */
  expectedDeliveries: number;
  /** Distinct webhook-id × endpoint the receiver answered 2xx, of accepted events. */
  delivered: number;
  /** Expected deliveries never answered 2xx, and exhausted by the retry policy in PostgreSQL. */
  exhausted: number;
  /** Expected deliveries neither delivered nor exhausted: must be 0. */
  lost: number;
  /** Of those, the ones still pending or failed in PostgreSQL when the soak stopped waiting (not given up, but never arrived). */
  lostStillOpen: number;
  /** The first few lost ones: endpoint path, event id and status in PostgreSQL ("missing": no row). */
  lostExamples: string[];
  /** 2xx answers beyond the first for the same webhook-id × endpoint. */
  duplicates: number;
  /** Deliveries of events whose publish was not answered 202 yet were stored (the answer was lost, the event was not). */
  deliveredUnacknowledged: number;
  attemptsRecorded: number;
  /** Requests the receiver answered 500 on purpose. */
  receiverFailures: number;
  deadlocks: number;
  /** Worker processes that exited without being told to (each was replaced). */
  workerCrashes: number;
  apiCrashed: boolean;
  /** What each process that exited unexpectedly printed last, outside its log lines. */
  crashOutput: string[];
  /** Error-level log lines of Herald's processes over the run, by process role and message, with counts. */
  errorsLogged: Record<string, number>;
  /** Deliveries neither succeeded nor exhausted when publishing stopped: what was left to converge. */
  openAtPublishingEnd: number;
  faults: SoakFault[];
  /** Every 5 s of publishing: events accepted and requests the receiver answered (2xx or 500) so far. */
  timeline: { atSeconds: number; accepted: number; answered: number }[];
  converged: boolean;
  /** Why the soak stopped waiting for the deliveries to converge, when they did not. */
  stoppedWaiting?: string | undefined;
  /**
   * When it did not converge, what the open deliveries look like: counts by
   * endpoint path, status in PostgreSQL and the state of their job in BullMQ;
   * a few of them in full; and each endpoint's guard state in Redis.
   */
  stuck?: { counts: Record<string, number>; examples: string[]; guards: Record<string, string> } | undefined;
  /** From the last fault until every delivery was succeeded or exhausted in PostgreSQL. */
  convergeSecondsAfterLastFault: number | null;
  /** The same, from the moment publishing stopped. */
  convergeSecondsAfterPublishing: number | null;
}

/**
 * Fault times: `perMinute` faults a minute (2 by default: each kind once per
 * two minutes), the kinds in turn, at least one of each kind, evenly spread
 * over the publishing.
 */
export function faultSchedule(seconds: number, perMinute = 2): { kind: FaultKind; atSeconds: number }[] {
  const count = Math.max(FAULT_KINDS.length, Math.round((seconds / 60) * perMinute));
  const every = seconds / (count + 1);
  return Array.from({ length: count }, (_, i) => ({
    kind: FAULT_KINDS[i % FAULT_KINDS.length] as FaultKind,
    atSeconds: round(every * (i + 1), 1),
  }));
}

/** What a process printed last outside its JSON log lines: an uncaught exception's message and stack. */
function lastWords(output: string): string {
  const lines = output.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("{"));
  return lines.slice(-8).join(" ⏎ ").slice(0, 1000);
}

/** Herald's ids inside error messages, so that one kind of error counts as one line of the summary. */
const IDS = /\b(dlv|evt|ep|ten|att|key)_[0-9a-z]+/g;

/**
 * Counts of the error-level lines (pino level 50 and up) in processes' output,
 * keyed by role and message (with the error's own message, when there is one).
 */
function errorsLogged(processes: readonly (readonly [string, HeraldProcess])[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const [role, started] of processes) {
    for (const line of started.output().split("\n")) {
      if (!line.startsWith("{")) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((entry.level ?? 0) < 50) continue;
        const detail = entry.err?.message?.split("\n")[0]?.replace(IDS, "<id>").slice(0, 160);
        const key = `${role}: ${entry.msg ?? ""}${detail ? ` (${detail})` : ""}`;
        counts[key] = (counts[key] ?? 0) + 1;
      } catch {
        // Not a log line (a stack trace, a start-up message).
      }
    }
  }
  return counts;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/**
 * Publishing at a steady rate to six endpoints (one failing 30 % of the time,
 * one slow) through two workers, while faults hit on a schedule: a worker
 * SIGKILLed (and replaced), Herald's Redis connections killed, Redis
 * flushed, Herald's PostgreSQL connections terminated. Then it waits until
 * every delivery is succeeded or exhausted in PostgreSQL, and checks what the
 * receiver got against what was accepted: nothing lost, duplicates counted.
 *
 * It runs on a redis-server of its own, whatever the suite uses, because it
 * flushes it and kills its clients.
 */
export async function soak(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<SoakResult> {
  const redis = await startBenchRedis(options.redisUrl);
  const redisUrl = redis.url;
  if (!redis.dedicated) {
    throw new Error("the soak needs a redis-server binary on the PATH: it flushes the Redis it uses and kills its clients");
  }
  const env = { ...SOAK_ENV, ...options.env };
  let bench: BenchHerald | undefined;
  const admin = new Redis(redis.url, { maxRetriesPerRequest: null, connectionName: BENCH_CLIENT_NAME });
  // Replacement workers still starting, and whether the soak is over: exits from then on are the bench's doing.
  const starting = new Set<Promise<void>>();
  let stopping = false;
  try {
    bench = await startBenchHerald({ ...options, redisUrl: redis.url, env }, { workers: WORKERS });
    return await run(bench, admin, env);
  } finally {
    stopping = true;
    admin.disconnect();
    await Promise.allSettled([...starting]);
    await bench?.stop();
    await redis.stop();
  }

  async function run(bench: BenchHerald, admin: Redis, env: Record<string, string>): Promise<SoakResult> {
    const { herald, sql } = bench;
    const tenantId = await bench.createTenant("soak");
    const endpointIds = await bench.addEndpoints(
      tenantId,
      ENDPOINT_PATHS.map((path) => receiver.url + path),
    );

    const openDeliveries = async () => {
      const [row] = await sql<{ open: number }[]>`
        select count(*)::int as open from deliveries where tenant_id = ${tenantId} and status not in ('succeeded', 'exhausted')`;
      return row?.open ?? 0;
    };

    // Exits nobody asked for are crashes; a crashed worker is replaced so two keep running.
    const expectedExits = new Set<number>();
    const crashOutput: string[] = [];
    let workerCrashes = 0;
    let apiCrashed = false;
    /** Starts a worker in place of one that died, without holding up the fault schedule. */
    const replace = (why: string) => {
      const since = now();
      const pending = herald.addWorker().then(
        (replacement) => {
          watch(replacement, "worker");
          log(`soak: replacement worker ${replacement.child.pid} (${why}) ready after ${Math.round(now() - since)} ms`);
        },
        (error: unknown) => {
          workerCrashes++;
          crashOutput.push(`a replacement worker (${why}) failed to start: ${String(error).slice(-2000)}`);
          log(`soak: a replacement worker (${why}) failed to start`);
        },
      );
      starting.add(pending);
      void pending.finally(() => starting.delete(pending));
    };
    const watch = (started: HeraldProcess, role: "api" | "worker") => {
      void started.exited.then((code) => {
        const pid = started.child.pid ?? 0;
        if (stopping || expectedExits.has(pid)) return;
        const how = code ?? started.child.signalCode;
        crashOutput.push(`${role} ${pid} exited with ${how}: ${lastWords(started.output())}`);
        log(`soak: ${role} ${pid} exited unexpectedly (${how})`);
        if (role === "api") {
          apiCrashed = true;
          return;
        }
        workerCrashes++;
        replace(`for crashed ${pid}`);
      });
    };
    watch(herald.api, "api");
    for (const worker of herald.workers) watch(worker, "worker");

    await receiver.reset(true);
    const pgBefore = await pgSnapshot(sql, herald.database.name);
    const eventsPerSecond = sizes.soakRate / ENDPOINT_PATHS.length;
    const totalEvents = Math.round(eventsPerSecond * sizes.soakSeconds);
    const schedule = faultSchedule(sizes.soakSeconds, sizes.soakFaultsPerMinute);
    log(
      `soak: ${round(eventsPerSecond, 1)} events/s × ${ENDPOINT_PATHS.length} endpoints for ${sizes.soakSeconds} s, ` +
        `${WORKERS} workers, faults at ${schedule.map((f) => `${f.atSeconds} s`).join(", ")}`,
    );

    const accepted = new Set<string>();
    const publishErrors: Record<string, number> = {};
    /** Set once the soak stops waiting for answers: a later answer changes nothing (its event counts as unacknowledged). */
    let gaveUp = false;
    const errorCount = () => Object.values(publishErrors).reduce((sum, count) => sum + count, 0);
    const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" };
    const publishOne = async () => {
      try {
        const response = await bench.api.request({ path: `/v1/tenants/${tenantId}/events`, method: "POST", headers, body: PUBLISH_BODY });
        const text = await response.body.text();
        if (gaveUp) return;
        if (response.statusCode === 202) accepted.add((JSON.parse(text) as { id: string }).id);
        else publishErrors[response.statusCode] = (publishErrors[response.statusCode] ?? 0) + 1;
      } catch {
        if (!gaveUp) publishErrors[0] = (publishErrors[0] ?? 0) + 1;
      }
    };

    const started = now();
    const elapsed = () => (now() - started) / 1000;
    const inFlight: Promise<void>[] = [];
    let sent = 0;
    const publishing = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const due = Math.min(totalEvents, Math.floor(elapsed() * eventsPerSecond) + 1);
        for (; sent < due; sent++) inFlight.push(publishOne());
        if (sent >= totalEvents) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
    });
    const timeline: SoakResult["timeline"] = [];
    const ticker = setInterval(async () => {
      const stats = await receiver.stats();
      timeline.push({ atSeconds: round(elapsed(), 1), accepted: accepted.size, answered: stats.count });
      log(
        `soak: ${round(elapsed())} s, ${accepted.size} events accepted (${sent - accepted.size - errorCount()} publishes awaiting an answer), ` +
          `${stats.count} requests answered (${stats.failed} with 500)`,
      );
    }, 5000);

    const faults: SoakFault[] = [];
    let lastFaultAt = started;
    try {
      for (const planned of schedule) {
        await sleep(planned.atSeconds * 1000 - (now() - started));
        const open = await openDeliveries();
        lastFaultAt = now();
        const detail = await inject(planned.kind);
        faults.push({ kind: planned.kind, atSeconds: round((lastFaultAt - started) / 1000, 1), detail, openDeliveries: open });
        log(`soak: ${planned.kind} at ${round(elapsed(), 1)} s: ${detail}`);
      }
      await publishing;
      // A publish the API has not answered a minute after the last one was sent counts as unanswered; the soak goes on.
      await Promise.race([Promise.all(inFlight), sleep(UNANSWERED_AFTER_MS)]);
    } finally {
      clearInterval(ticker);
    }
    gaveUp = true;
    const unanswered = sent - accepted.size - errorCount();
    if (unanswered > 0) publishErrors.unanswered = unanswered;
    const publishedAt = now();
    const openAtPublishingEnd = await openDeliveries();

    log(`soak: published ${accepted.size} events; waiting for every delivery to be succeeded or exhausted`);
    // Wait while deliveries keep finishing; stop when none has for a while, or at a bound that grows with the soak.
    const deadline = now() + Math.max(CONVERGE_MIN_MS, 3 * sizes.soakSeconds * 1000);
    let convergedAt: number | undefined;
    let stoppedWaiting: string | undefined;
    let lastOpen = -1;
    let lastChange = now();
    let reported = now();
    for (;;) {
      const open = await openDeliveries();
      if (open === 0) {
        convergedAt = now();
        break;
      }
      if (open !== lastOpen) {
        lastOpen = open;
        lastChange = now();
      }
      if (now() - lastChange > STALL_MS) {
        stoppedWaiting = `${open} deliveries open and none finished for ${STALL_MS / 1000} s`;
        break;
      }
      if (now() > deadline) {
        stoppedWaiting = `${open} deliveries still open ${round((now() - publishedAt) / 1000)} s after publishing stopped`;
        break;
      }
      if (now() - reported > 5000) {
        reported = now();
        log(`soak: ${open} deliveries neither succeeded nor exhausted yet`);
      }
      await sleep(250);
    }
    let stuck: SoakResult["stuck"];
    if (stoppedWaiting !== undefined) {
      log(`soak: stopped waiting: ${stoppedWaiting}`);
      stuck = await describeStuck();
    }

    const pg = pgDelta(pgBefore, await settledPgSnapshot(sql, herald.database.name));
    const rows = await sql<{ eventId: string; url: string; status: string }[]>`
      select d.event_id as "eventId", e.url, d.status from deliveries d join endpoints e on e.id = d.endpoint_id
      where d.tenant_id = ${tenantId}`;
    const [attempts] = await sql<{ n: number }[]>`
      select count(*)::int as n from attempts a join deliveries d on d.id = a.delivery_id where d.tenant_id = ${tenantId}`;
    const received = await receiver.delivered();
    const counters = await receiver.stats();

    const status = new Map(rows.map((row) => [`${new URL(row.url).pathname} ${row.eventId}`, row.status]));
    let delivered = 0;
    let exhausted = 0;
    const lostExamples: string[] = [];
    let lost = 0;
    let lostStillOpen = 0;
    for (const eventId of accepted) {
      for (const path of ENDPOINT_PATHS) {
        const key = `${path} ${eventId}`;
        if (received.has(key)) delivered++;
        else if (status.get(key) === "exhausted") exhausted++;
        else {
          lost++;
          if (["pending", "failed"].includes(status.get(key) ?? "")) lostStillOpen++;
          if (lostExamples.length < 10) lostExamples.push(`${key} ${status.get(key) ?? "missing"}`);
        }
      }
    }
    let duplicates = 0;
    let deliveredUnacknowledged = 0;
    for (const [key, count] of received) {
      duplicates += count - 1;
      if (!accepted.has(key.slice(key.lastIndexOf(" ") + 1))) deliveredUnacknowledged++;
    }

    return {
      scenario: "soak",
      seconds: sizes.soakSeconds,
      targetDeliveriesPerSecond: sizes.soakRate,
      faultsPerMinute: sizes.soakFaultsPerMinute,
      endpoints: ENDPOINT_PATHS.length,
      workers: WORKERS,
      env,
      acceptedEvents: accepted.size,
      publishErrors,
      expectedDeliveries: accepted.size * ENDPOINT_PATHS.length,
      delivered,
      exhausted,
      lost,
      lostStillOpen,
      lostExamples,
      duplicates,
      deliveredUnacknowledged,
      attemptsRecorded: attempts?.n ?? 0,
      receiverFailures: counters.failed,
      deadlocks: pg.deadlocks,
      workerCrashes,
      apiCrashed,
      crashOutput,
      errorsLogged: errorsLogged([["api", herald.api], ...herald.workers.map((worker) => ["worker", worker] as const)]),
      openAtPublishingEnd,
      faults,
      timeline,
      converged: convergedAt !== undefined,
      stoppedWaiting,
      stuck,
      convergeSecondsAfterLastFault: convergedAt === undefined ? null : round((convergedAt - lastFaultAt) / 1000, 1),
      convergeSecondsAfterPublishing: convergedAt === undefined ? null : round(Math.max(0, convergedAt - publishedAt) / 1000, 1),
    };

    async function describeStuck(): Promise<NonNullable<SoakResult["stuck"]>> {
      const open = await sql<
        {
          id: string;
          endpointId: string;
          url: string;
          status: string;
          attempts: number;
          nextAttemptAt: string | null;
          lastError: string | null;
        }[]
      >`
        select d.id, d.endpoint_id as "endpointId", e.url, d.status, d.attempts, d.next_attempt_at::text as "nextAttemptAt",
               d.last_error as "lastError"
        from deliveries d join endpoints e on e.id = d.endpoint_id
        where d.tenant_id = ${tenantId} and d.status not in ('succeeded', 'exhausted') order by d.id`;
      const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue(DELIVERY_QUEUE, { connection, prefix: herald.queuePrefix });
      try {
        const counts: Record<string, number> = {};
        const examples: string[] = [];
        for (const row of open) {
          const state = await queue.getJobState(row.id);
          const key = `${new URL(row.url).pathname} ${row.status}, job ${state}`;
          counts[key] = (counts[key] ?? 0) + 1;
          if (examples.length < 5) {
            examples.push(
              `${row.id} ${new URL(row.url).pathname} ${row.status} after ${row.attempts} attempts, next ${row.nextAttemptAt ?? "none"}, ` +
                `job ${state}${row.lastError ? `, last error ${row.lastError.slice(0, 120)}` : ""}`,
            );
          }
        }
        const guards: Record<string, string> = {};
        for (const [i, id] of endpointIds.entries()) {
          const keys = createKeys(herald.queuePrefix, 1);
          const circuit = await connection.hgetall(keys.endpoint(id, "circuit"));
          const slots = await connection.zcard(keys.endpoint(id, "slots"));
          guards[ENDPOINT_PATHS[i] ?? id] = `${slots} slots leased; circuit ${JSON.stringify(circuit)}`;
        }
        return { counts, examples, guards };
      } finally {
        await queue.close();
        connection.disconnect();
      }
    }

    async function inject(kind: FaultKind): Promise<string> {
      switch (kind) {
        case "worker SIGKILL": {
          const alive = herald.workers.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
          // The oldest worker alive: successive kills take each original worker in turn, then the replacements.
          const victim = alive[0];
          if (!victim) return "no worker alive to kill";
          const pid = victim.child.pid ?? 0;
          expectedExits.add(pid);
          victim.child.kill("SIGKILL");
          await victim.exited;
          replace(`for killed ${pid}`);
          return `worker ${pid} killed, a replacement started`;
        }
        case "Redis clients killed": {
          const own = await admin.client("ID");
          const list = (await admin.call("CLIENT", "LIST", "TYPE", "normal")) as string;
          const clients = list
            .split("\n")
            .filter(Boolean)
            .map((line) =>
              Object.fromEntries(line.split(" ").map((field) => [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)])),
            )
            .filter((client) => Number(client.id) !== own && !String(client.name ?? "").startsWith(BENCH_CLIENT_NAME));
          const pipeline = admin.pipeline();
          for (const client of clients) pipeline.client("KILL", "ID", client.id as string);
          await pipeline.exec();
          const names = [...new Set(clients.map((client) => client.name || "(unnamed)"))];
          return `${clients.length} connections killed (${names.join(", ")})`;
        }
        case "Redis FLUSHALL": {
          const keys = await admin.dbsize();
          await admin.flushall();
          return `${keys} keys flushed`;
        }
        case "PostgreSQL backends terminated": {
          // Materialized, so that the backends are chosen before any is terminated: only Herald's, of this run's database.
          const terminated = await sql<{ applicationName: string }[]>`
            with herald as materialized (
              select pid, application_name from pg_stat_activity
              where datname = ${herald.database.name} and application_name like 'herald%' and pid <> pg_backend_pid()
            )
            select application_name as "applicationName" from herald where pg_terminate_backend(pid)`;
          const names = [...new Set(terminated.map((row) => row.applicationName))];
          return `${terminated.length} backends terminated (${names.join(", ")})`;
        }
      }
    }
  }
}
