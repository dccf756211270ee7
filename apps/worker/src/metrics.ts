import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** The worker's Prometheus metrics, in a registry of its own (no global state). */
export function createWorkerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "herald_worker_" });
  const deliveries = new Counter({
    name: "herald_deliveries_total",
    help: "Delivery jobs by what became of the delivery: succeeded, failed (retry scheduled), exhausted, held, parked, skipped, malformed.",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });
  const attemptDuration = new Histogram({
    name: "herald_attempt_duration_seconds",
    help: "Duration of one HTTP attempt, by error kind (ok for 2xx).",
    labelNames: ["kind"] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "herald_deliveries_in_flight",
    help: "HTTP attempts this worker has in flight.",
    registers: [registry],
  });
  const delayed = new Counter({
    name: "herald_deliveries_delayed_total",
    help: "Deliveries parked without an attempt (they wait in PostgreSQL until their endpoint can take them), by reason: circuit_open, circuit_probe, concurrency, rate_limit, paused.",
    labelNames: ["reason"] as const,
    registers: [registry],
  });
  const publishToDelivery = new Histogram({
    name: "herald_publish_to_delivery_seconds",
    help: "From the event's publish to its delivery's successful attempt (retries and waits included).",
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600, 3 * 24 * 3600],
    registers: [registry],
  });
  const circuitsOpened = new Counter({
    name: "herald_circuits_opened_total",
    help: "Endpoint circuits this worker opened (consecutive failures reached HERALD_CIRCUIT_THRESHOLD).",
    registers: [registry],
  });
  const reconcilerEnqueued = new Counter({
    name: "herald_reconciler_enqueued_total",
    help: "Overdue deliveries the reconciler found without a job in Redis and enqueued again.",
    registers: [registry],
  });
  let recorderPending: () => number = () => 0;
  new Gauge({
    name: "herald_recorder_pending_records",
    help: "Attempt, park and hold records waiting for the batch writer's next group commit.",
    registers: [registry],
    collect() {
      this.set(recorderPending());
    },
  });
  /** Reads the batch writer's backlog at scrape time. */
  const watchRecorder = (pending: () => number) => {
    recorderPending = pending;
  };
  const storageBytes = new Gauge({
    name: "herald_storage_bytes",
    help: "Bytes on disk of a partitioned table (all partitions, indexes and TOAST), as of the last maintenance pass.",
    labelNames: ["table"] as const,
    registers: [registry],
  });
  const storagePartitions = new Gauge({
    name: "herald_storage_partitions",
    help: "Partitions of a table, as of the last maintenance pass.",
    labelNames: ["table"] as const,
    registers: [registry],
  });
  const oldestRowAge = new Gauge({
    name: "herald_storage_oldest_age_seconds",
    help: "Age of the oldest row of a table (from its id): what the oldest partition holds. Stays under the retention plus a day while retention runs.",
    labelNames: ["table"] as const,
    registers: [registry],
  });
  return {
    registry,
    deliveries,
    attemptDuration,
    inFlight,
    delayed,
    publishToDelivery,
    circuitsOpened,
    reconcilerEnqueued,
    watchRecorder,
    storageBytes,
    storagePartitions,
    oldestRowAge,
  };
}

export type WorkerMetrics = ReturnType<typeof createWorkerMetrics>;

/** Serves GET /metrics; answers the address it listens on. */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<{ url: string; server: Server }> {
  const server = createServer(async (req, res) => {
    // A liveness probe: the process and its event loop answer.
    if (req.method === "GET" && req.url === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("ok");
      return;
    }
    if (req.method === "GET" && req.url === "/metrics") {
      const body = await registry.metrics();
      res.writeHead(200, { "content-type": registry.contentType });
      res.end(body);
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found");
  });
  server.listen(port, host);
  await once(server, "listening");
  const address = server.address() as AddressInfo;
  return { url: `http://${host}:${address.port}/metrics`, server };
}
