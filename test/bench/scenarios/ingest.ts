import { TEST_ADMIN_TOKEN } from "@herald/testing";
import autocannon from "autocannon";
import { type BenchOptions, startBenchHerald } from "../herald-bench.ts";
import { EVENT_TYPE, PAYLOAD, PUBLISH_BODY } from "../payload.ts";
import { log, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import { processCpuSeconds } from "../service-stats.ts";
import type { Sizes } from "../sizes.ts";

export interface IngestRow {
  scenario: "ingest";
  mode: "single" | "single-at-rate" | "batch";
  /** Requests/s the load generator was held to; null when it sent as fast as answers came. */
  offeredRate: number | null;
  eventsPerSecond: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  /** CPU time of the API process per accepted event, from /proc. */
  apiCpuMsPerEvent: number | null;
  errors: number;
  /** Why a row has no numbers. */
  note?: string;
}

export const BATCH_SIZE = 100;
const CONNECTIONS = 32;

/**
 * Publishes through the API alone: no worker runs, so the API has the
 * machine to itself and deliveries wait in Redis. Each published event is
 * stored with one delivery row and one job, like a tenant with one endpoint.
 */
export async function ingest(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<IngestRow[]> {
  const bench = await startBenchHerald(options, { workers: 0 });
  try {
    const tenantId = await bench.createTenant("ingest");
    await bench.addEndpoints(tenantId, [`${receiver.url}/ingest`]);
    const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" };
    const url = `${bench.herald.baseUrl}/v1/tenants/${tenantId}/events`;
    const apiPid = bench.herald.api.child.pid ?? 0;
    let cpuSeconds = 0;
    const run = async (body: string, target: string, seconds: number, overallRate?: number) => {
      const before = processCpuSeconds(apiPid);
      const result = await autocannon({
        url: target,
        method: "POST",
        headers,
        body,
        connections: CONNECTIONS,
        // Tiny size (the smoke test) proves the scenario runs, on any machine: a fixed number of requests,
        // since a cold API on a busy machine may answer none of them within a one-second window.
        ...(sizes.mode === "tiny" ? { amount: CONNECTIONS * 2 } : { duration: seconds }),
        ...(overallRate ? { overallRate } : {}),
      });
      cpuSeconds = processCpuSeconds(apiPid) - before;
      return result;
    };
    const row = (mode: IngestRow["mode"], result: autocannon.Result, eventsPerRequest: number, offeredRate: number | null): IngestRow => {
      const events = result["2xx"] * eventsPerRequest;
      return {
        scenario: "ingest",
        mode,
        offeredRate,
        eventsPerSecond: round(events / result.duration),
        p50Ms: round(result.latency.p50, 1),
        p99Ms: round(result.latency.p99, 1),
        apiCpuMsPerEvent: events > 0 ? round((cpuSeconds * 1000) / events, 3) : null,
        errors: result.errors + result.non2xx,
      };
    };

    const rows: IngestRow[] = [];
    if (sizes.mode !== "tiny") await run(PUBLISH_BODY, url, 1); // warm-up: JIT and connection pools
    log(`ingest: single-event publishes, ${CONNECTIONS} connections, ${sizes.ingestSeconds} s`);
    rows.push(row("single", await run(PUBLISH_BODY, url, sizes.ingestSeconds), 1, null));
    log(`ingest: single-event publishes at 1000/s, ${sizes.ingestSeconds} s`);
    rows.push(row("single-at-rate", await run(PUBLISH_BODY, url, sizes.ingestSeconds, 1000), 1, 1000));

    const batchBody = JSON.stringify({ events: Array.from({ length: BATCH_SIZE }, () => ({ eventType: EVENT_TYPE, payload: PAYLOAD })) });
    const probe = await bench.herald.request("POST", `/v1/tenants/${tenantId}/events/batch`, JSON.parse(batchBody));
    if (probe.status >= 200 && probe.status < 300) {
      log(`ingest: batch publishes of ${BATCH_SIZE} events, ${sizes.ingestSeconds} s`);
      rows.push(row("batch", await run(batchBody, `${url}/batch`, sizes.ingestSeconds), BATCH_SIZE, null));
    } else {
      rows.push({
        scenario: "ingest",
        mode: "batch",
        offeredRate: null,
        eventsPerSecond: null,
        p50Ms: null,
        p99Ms: null,
        apiCpuMsPerEvent: null,
        errors: 0,
        note: `not yet available (POST /v1/tenants/{t}/events/batch answered ${probe.status})`,
      });
    }
    return rows;
  } finally {
    await bench.stop();
  }
}
