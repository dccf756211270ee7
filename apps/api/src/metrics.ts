import type { DeliveryQueues } from "@herald/queue";
import type { Sql } from "@herald/schema/client";
import type { MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const QUEUE_STATES = ["waiting", "delayed", "active", "failed", "prioritized"] as const;

export interface MetricsDeps {
  queues: DeliveryQueues;
  sql: Sql;
  /** How long a reading of queue depth and backlog age is reused; scrapers may be many. */
  cacheMs?: number;
}

/**
 * The API's Prometheus metrics, in a registry of its own (no global state, so
 * several apps can live in one test process). Queue depth and the age of the
 * oldest due delivery are read from BullMQ and PostgreSQL at scrape time and
 * cached briefly, so every API copy reports the same cluster-wide numbers
 * without a background poller.
 */
export function createApiMetrics(deps: MetricsDeps) {
  const cacheMs = deps.cacheMs ?? 5000;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "herald_api_" });

  const httpRequests = new Counter({
    name: "herald_http_requests_total",
    help: "HTTP requests by method, route pattern and status code.",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: "herald_http_request_duration_seconds",
    help: "HTTP request duration by method and route pattern.",
    labelNames: ["method", "route"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const eventsPublished = new Counter({
    name: "herald_events_published_total",
    help: "Events accepted by the API: published (stored and queued) or replayed (an idempotency key seen within 24 h).",
    labelNames: ["result"] as const,
    registers: [registry],
  });

  let reading:
    | Promise<{ shards: Awaited<ReturnType<DeliveryQueues["depth"]>>; oldestDueSeconds: number; disabledEndpoints: number }>
    | undefined;
  let readAt = 0;
  function read() {
    if (!reading || Date.now() - readAt > cacheMs) {
      readAt = Date.now();
      reading = (async () => {
        const [shards, [row], [disabled]] = await Promise.all([
          deps.queues.depth(QUEUE_STATES),
          // Due and not parked (the due index's first row), or released from a parked backlog and not attempted
          // yet: such a delivery stays parked, and is its endpoint's oldest (releases go oldest first), so one probe
          // of the parked index per endpoint with a backlog finds it (a skip scan).
          deps.sql<{ age: string | number | null }[]>`
            with recursive heads as (
              (select endpoint_id, released_at from deliveries where parked order by endpoint_id, id limit 1)
              union all
              select h.endpoint_id, h.released_at from heads, lateral (
                select d.endpoint_id, d.released_at from deliveries d
                where d.parked and d.endpoint_id > heads.endpoint_id order by d.endpoint_id, d.id limit 1
              ) as h
            )
            select extract(epoch from now() - least(
              (select min(next_attempt_at) from deliveries
               where status in ('pending', 'failed') and not parked and next_attempt_at <= now()),
              (select min(released_at) from heads))) as age`,
          deps.sql<{ n: number }[]>`select count(*)::int as n from endpoints where disabled`,
        ]);
        return { shards, oldestDueSeconds: Math.max(0, Number(row?.age ?? 0)), disabledEndpoints: disabled?.n ?? 0 };
      })();
      // A failed reading must not be cached; the next scrape tries again.
      reading.catch(() => {
        readAt = 0;
      });
    }
    return reading;
  }

  new Gauge({
    name: "herald_queue_jobs",
    help: "Delivery jobs in the queue by shard and state (cluster-wide, cached for a few seconds).",
    labelNames: ["shard", "state"] as const,
    registers: [registry],
    async collect() {
      const { shards } = await read();
      for (const { shard, counts } of shards)
        for (const state of QUEUE_STATES) this.set({ shard: String(shard), state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: "herald_backlog_jobs",
    help: "Jobs of deliveries released from parked backlogs, by shard and state (cluster-wide, cached for a few seconds).",
    labelNames: ["shard", "state"] as const,
    registers: [registry],
    async collect() {
      const { shards } = await read();
      for (const { shard, backlog } of shards)
        for (const state of QUEUE_STATES) this.set({ shard: String(shard), state }, backlog[state] ?? 0);
    },
  });
  new Gauge({
    name: "herald_parked_endpoints",
    help: "Endpoints whose deliveries wait in PostgreSQL (circuit open, paused, or at their cap with a backlog), by shard.",
    labelNames: ["shard"] as const,
    registers: [registry],
    async collect() {
      const { shards } = await read();
      for (const { shard, parkedEndpoints } of shards) this.set({ shard: String(shard) }, parkedEndpoints);
    },
  });
  new Gauge({
    name: "herald_oldest_pending_delivery_age_seconds",
    help: "How long the most overdue pending or failed delivery in the queue (not parked behind its endpoint, or released from its endpoint's backlog) has been due; 0 when nothing is waiting.",
    registers: [registry],
    async collect() {
      this.set((await read()).oldestDueSeconds);
    },
  });

  new Gauge({
    name: "herald_endpoints_disabled",
    help: "Endpoints disabled (by an operator, a 410 Gone, or failing for HERALD_DISABLE_AFTER); their deliveries are held.",
    registers: [registry],
    async collect() {
      this.set((await read()).disabledEndpoints);
    },
  });

  /** Counts every request by the route pattern it matched, never the raw path (bounded label values). */
  const middleware: MiddlewareHandler = async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const handler = matchedRoutes(c).findLast((route) => route.method !== "ALL");
      const route = handler?.path ?? "unmatched";
      httpRequests.inc({ method: c.req.method, route, status: String(c.res.status) });
      httpDuration.observe({ method: c.req.method, route }, (performance.now() - started) / 1000);
    }
  };

  return { registry, middleware, eventsPublished };
}

export type ApiMetrics = ReturnType<typeof createApiMetrics>;
