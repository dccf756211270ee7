import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type IdKind, idFloor } from "@herald/schema";
import { createDayPartitions, DAY_MS, dropPartition, listPartitions, maintainPartitions, storageStats } from "@herald/schema/partitions";
import type postgres from "postgres";
import type { BenchHerald, BenchOptions } from "../herald-bench.ts";
import { PAYLOAD } from "../payload.ts";
import { log, now, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";
import { throughput } from "./throughput.ts";

export interface HistorySizes {
  /** Days of history, a partition each. */
  days: number;
  /** Events per day; each has one delivery per endpoint and one attempt per delivery. */
  eventsPerDay: number;
  /** Delivery-log list requests timed on the large history. */
  listRequests: number;
}

export const historySizes = (full: boolean): HistorySizes =>
  full ? { days: 30, eventsPerDay: 8_400, listRequests: 500 } : { days: 30, eventsPerDay: 850, listRequests: 200 };

export interface HistoryResult {
  scenario: "history";
  loaded: { events: number; deliveries: number; attempts: number; partitions: number; loadSeconds: number };
  empty: { deliveriesPerSecond: number };
  withHistory: { deliveriesPerSecond: number };
  /** withHistory ÷ empty deliveries/s (target ≥ 0.9). */
  throughputRatio: number;
  /** The maintenance pass run during the throughput run: one day dropped in the three tables, one day made ahead. */
  maintenance: { seconds: number; dropped: string[]; created: string[] };
  /** GET /v1/tenants/{t}/deliveries?limit=50 on the large history: first pages, pages deep in history, by status. */
  deliveryList: { requests: number; p50Ms: number; p99Ms: number };
  /** Tables and indexes of events, deliveries and attempts ÷ deliveries stored. */
  bytesPerDelivery: number;
}

/**
 * Throughput with an empty database against the same with weeks of history
 * (loaded with COPY into a day partition each), while a maintenance pass drops
 * the oldest day and makes a new one; then the delivery-log API's latency on
 * that history and the bytes each delivery costs on disk.
 */
export async function history(options: BenchOptions, receiver: FastReceiver, sizes: Sizes, hs: HistorySizes): Promise<HistoryResult> {
  const empty = await throughput(options, receiver, sizes, { name: "history (empty database)" });
  await empty.bench.stop();

  let loaded: HistoryResult["loaded"] | undefined;
  let maintenance: Promise<HistoryResult["maintenance"]> | undefined;
  const run = await throughput(options, receiver, sizes, {
    name: "history (with history)",
    prepare: async (bench, tenantId, endpointIds) => {
      loaded = await loadHistory(bench.sql, tenantId, endpointIds, hs);
      // Shortly after publishing starts: a day past a retention one day shorter than the history.
      maintenance = new Promise((resolve) => setTimeout(resolve, 500)).then(async () => {
        const started = now();
        const report = await maintainPartitions(bench.sql, { retentionMs: (hs.days - 1) * DAY_MS, aheadDays: 8 });
        return { seconds: round((now() - started) / 1000, 3), dropped: report.dropped, created: report.created };
      });
    },
  });
  try {
    const pass = await (maintenance as Promise<HistoryResult["maintenance"]>);
    const deliveryList = await listLatency(run.bench, run.tenantId, hs);
    const stats = await storageStats(run.bench.sql);
    const [count] = await run.bench.sql<{ n: number }[]>`select count(*)::int as n from deliveries`;
    const bytes = stats.reduce((sum, stat) => sum + stat.bytes, 0);
    const result: HistoryResult = {
      scenario: "history",
      loaded: loaded as HistoryResult["loaded"],
      empty: { deliveriesPerSecond: empty.result.deliveriesPerSecond },
      withHistory: { deliveriesPerSecond: run.result.deliveriesPerSecond },
      throughputRatio: round(run.result.deliveriesPerSecond / Math.max(empty.result.deliveriesPerSecond, 1e-9), 3),
      maintenance: pass,
      deliveryList,
      bytesPerDelivery: round(bytes / Math.max(count?.n ?? 1, 1), 1),
    };
    log(
      `history: ${result.throughputRatio}× deliveries/s with ${loaded?.attempts} attempts of history; maintenance ${pass.seconds} s; list p99 ${deliveryList.p99Ms} ms; ${result.bytesPerDelivery} bytes/delivery`,
    );
    return result;
  } finally {
    await run.bench.stop();
  }
}

/** An id of `kind` at time `ms`, with a counter where ids.ts has random bits: sortable and unique within a load. */
function makeId(kind: IdKind, ms: number, n: number): string {
  return idFloor(kind, new Date(ms)).slice(0, -16) + n.toString(32).padStart(16, "0");
}

async function copy(sql: postgres.Sql, statement: string, rows: () => Generator<string>): Promise<void> {
  const writable = await sql.unsafe(statement).writable();
  await pipeline(Readable.from(rows()), writable);
}

/**
 * Replaces the fresh database's first partition (empty, covering everything
 * before tomorrow) with a partition per past day, and fills them with COPY:
 * per day `eventsPerDay` events, each delivered once to every endpoint with one
 * successful attempt.
 */
async function loadHistory(sql: postgres.Sql, tenantId: string, endpointIds: string[], hs: HistorySizes): Promise<HistoryResult["loaded"]> {
  const started = now();
  for (const partition of await listPartitions(sql)) {
    if (partition.from === null) await dropPartition(sql, partition, "5000ms");
  }
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const days = Array.from({ length: hs.days + 1 }, (_, i) => new Date(today - (hs.days - i) * DAY_MS));
  await createDayPartitions(sql, days);

  const step = DAY_MS / hs.eventsPerDay;
  const payload = JSON.stringify(PAYLOAD);
  const times = function* () {
    for (let d = hs.days; d >= 1; d--) {
      for (let i = 0; i < hs.eventsPerDay; i++)
        yield { t: today - d * DAY_MS + Math.floor(i * step), n: (hs.days - d) * hs.eventsPerDay + i };
    }
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  log(`history: loading ${hs.days} days × ${hs.eventsPerDay} events × ${endpointIds.length} endpoints with COPY`);
  await copy(sql, "copy events (id, tenant_id, event_type, payload, created_at) from stdin", function* () {
    for (const { t, n } of times()) yield `${makeId("event", t, n)}\t${tenantId}\torder.paid\t${payload}\t${iso(t)}\n`;
  });
  await copy(
    sql,
    "copy deliveries (id, tenant_id, event_id, endpoint_id, status, attempts, last_status_code, created_at, updated_at) from stdin",
    function* () {
      for (const { t, n } of times()) {
        for (const [e, endpointId] of endpointIds.entries()) {
          const id = makeId("delivery", t, n * endpointIds.length + e);
          yield `${id}\t${tenantId}\t${makeId("event", t, n)}\t${endpointId}\tsucceeded\t1\t200\t${iso(t)}\t${iso(t + 80)}\n`;
        }
      }
    },
  );
  await copy(
    sql,
    "copy attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms, status_code, response_body) from stdin",
    function* () {
      for (const { t, n } of times()) {
        for (const [e, endpointId] of endpointIds.entries()) {
          const k = n * endpointIds.length + e;
          yield `${makeId("attempt", t + 20, k)}\t${makeId("delivery", t, k)}\t${endpointId}\t1\t${iso(t + 20)}\t35\t200\tok\n`;
        }
      }
    },
  );
  // A real history was vacuumed by autovacuum long ago, and its pages written out: so is this one, or the measured
  // run would pay for setting a month of hint bits and for the checkpoint of the load.
  await sql`vacuum (analyze) events, deliveries, attempts`;
  await sql`checkpoint`;
  const events = hs.days * hs.eventsPerDay;
  const result = {
    events,
    deliveries: events * endpointIds.length,
    attempts: events * endpointIds.length,
    partitions: (await listPartitions(sql)).length,
    loadSeconds: round((now() - started) / 1000, 1),
  };
  log(`history: loaded ${result.attempts} attempts in ${result.loadSeconds} s`);
  return result;
}

async function listLatency(bench: BenchHerald, tenantId: string, hs: HistorySizes): Promise<HistoryResult["deliveryList"]> {
  const base = `${bench.herald.baseUrl}/v1/tenants/${tenantId}/deliveries?limit=50`;
  const headers = { authorization: `Bearer ${bench.herald.env.HERALD_ADMIN_TOKEN}` };
  const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
  const durations: number[] = [];
  for (let i = 0; i < hs.listRequests; i++) {
    // A third first pages, a third pages deep in the history (a cursor some days back), a third filtered by status.
    const deep = idFloor("delivery", new Date(today - (1 + (i % hs.days)) * DAY_MS + 3_600_000));
    const url = [base, `${base}&cursor=${deep}`, `${base}&status=${i % 2 ? "succeeded" : "failed"}`][i % 3] as string;
    const started = now();
    const response = await fetch(url, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`delivery list answered ${response.status}`);
    durations.push(now() - started);
  }
  durations.sort((a, b) => a - b);
  const at = (q: number) => round(durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] ?? 0, 1);
  return { requests: durations.length, p50Ms: at(0.5), p99Ms: at(0.99) };
}
