import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  eventually,
  freePort,
  type Herald,
  type OtlpReceiver,
  REPO_ROOT,
  type ReceivedSpan,
  type Receiver,
  startHerald,
  startOtlpReceiver,
  startReceiver,
} from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// One Herald serves both halves of this file (traces, then a real Prometheus scraping it): a start-up is most of its time.

// The real OTLP/HTTP exporter of each process sends to a receiver this test runs on loopback.
let otlp: OtlpReceiver;
let herald: Herald;
let receiver: Receiver;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  // The first answer fails, the second succeeds: one delivery, two attempts.
  receiver = await startReceiver((_request, index, res) => {
    res.writeHead(index === 0 ? 500 : 200);
    res.end(index === 0 ? "not yet" : "ok");
  });
  herald = await startHerald({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "200",
      OTEL_METRICS_EXPORTER: "none",
      OTEL_LOGS_EXPORTER: "none",
      HERALD_SEND_TRACEPARENT: "true",
      HERALD_RETRY_SCHEDULE: "0,200ms",
      HERALD_RETRY_JITTER: "0",
      HERALD_METRICS_PORT: "0",
    },
  });
  await herald.request("POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  await herald.request("POST", "/v1/event-types", { name: "payment.received", description: "A payment arrived" });
});

afterAll(async () => {
  prometheus?.kill("SIGKILL");
  if (prometheusDir) rmSync(prometheusDir, { recursive: true, force: true });
  await herald?.stop();
  await receiver?.close();
  await otlp?.close();
});

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN_ID = "00f067aa0ba902b7";

describe("OpenTelemetry traces", () => {
  it("follows one publish through every attempt, with the attributes an operator searches by", async () => {
    const endpoint = await herald.request("POST", "/v1/tenants/acme/endpoints", {
      name: "billing",
      url: `${receiver.url}/hook?token=s3cret-in-the-url`,
    });
    expect(endpoint.status).toBe(201);
    const published = await herald.request(
      "POST",
      "/v1/tenants/acme/events",
      { eventType: "payment.received", payload: { amount: 4200 } },
      { traceparent: `00-${TRACE_ID}-${CALLER_SPAN_ID}-01` },
    );
    expect(published.status).toBe(202);
    const eventId = published.body.id as string;

    // The caller's traceparent is honoured: the API's server span is its child, the publish span the server span's.
    const server = await otlp.waitForSpan((s) => s.traceId === TRACE_ID && s.parentSpanId === CALLER_SPAN_ID, { what: "API server span" });
    expect(server.service).toBe("herald-api");
    const publish = await otlp.waitForSpan((s) => s.name === "herald.publish" && s.attributes["herald.event.id"] === eventId, {
      what: "publish span",
    });
    expect(publish).toMatchObject({
      traceId: TRACE_ID,
      parentSpanId: server.spanId,
      attributes: { "herald.tenant.id": endpoint.body.tenantId, "herald.event.type": "payment.received", "herald.deliveries": 1 },
    });
    // PostgreSQL's statement, the Redis admission script and BullMQ's enqueue appear inside the publish.
    await otlp.waitForSpan((s) => s.name === "insert events" && s.parentSpanId === publish.spanId, { what: "PostgreSQL span" });
    await otlp.waitForSpan((s) => s.name === "evalsha" && s.parentSpanId === publish.spanId, { what: "Redis span of the publish" });
    await otlp.waitForSpan((s) => s.name === "addBulk deliveries" && s.parentSpanId === publish.spanId, { what: "BullMQ enqueue span" });

    const attempt = (n: number) =>
      otlp.waitForSpan(
        (s) => s.name === "herald.attempt" && s.attributes["herald.event.id"] === eventId && s.attributes["herald.attempt.number"] === n,
        {
          what: `span of attempt ${n}`,
        },
      );
    const [first, second] = await Promise.all([attempt(1), attempt(2)]);
    const delivery = await herald.request("GET", `/v1/tenants/acme/events/${eventId}`);
    const deliveryId = delivery.body.deliveries[0].id as string;
    for (const span of [first, second]) {
      expect(span).toMatchObject({
        service: "herald-worker",
        traceId: TRACE_ID,
        parentSpanId: publish.spanId,
        attributes: {
          "herald.delivery.id": deliveryId,
          "herald.endpoint.id": endpoint.body.id,
          "herald.tenant.id": endpoint.body.tenantId,
          "herald.event.type": "payment.received",
        },
      });
    }
    expect(first.attributes).toMatchObject({
      "http.response.status_code": 500,
      "error.type": "http_status",
      "herald.delivery.outcome": "failed",
    });
    expect(first.status.code).toBe(2);
    expect(second.attributes).toMatchObject({ "http.response.status_code": 200, "herald.delivery.outcome": "succeeded" });
    expect(second.attributes["error.type"]).toBeUndefined();

    // The outgoing HTTP request and the Redis commands of each attempt are its children.
    const http = (parent: ReceivedSpan) =>
      otlp.waitForSpan((s) => s.parentSpanId === parent.spanId && s.kind === 3 && s.attributes["http.request.method"] === "POST", {
        what: "outgoing HTTP span",
      });
    const [firstHttp, secondHttp] = await Promise.all([http(first), http(second)]);
    expect(secondHttp.attributes["http.response.status_code"]).toBe(200);
    // A token in the receiver's URL stays out of the trace backend.
    expect(secondHttp.attributes["url.full"]).toBe(`${receiver.url}/hook?token=REDACTED`);
    expect(JSON.stringify(otlp.spans)).not.toContain("s3cret-in-the-url");
    await otlp.waitForSpan((s) => s.parentSpanId === second.spanId && s.attributes["db.system.name"] === "redis", { what: "Redis span" });

    // Opted in: the receiver got each attempt's traceparent, naming the HTTP span of that attempt.
    const requests = await receiver.waitForMatching(eventId, 2);
    expect(requests.map((r) => r.headers.traceparent)).toEqual([
      `00-${TRACE_ID}-${firstHttp.spanId}-01`,
      `00-${TRACE_ID}-${secondHttp.spanId}-01`,
    ]);
  });
});

describe("what traces keep out", () => {
  it("exports a portal link's path without its token", async () => {
    const link = await herald.request("POST", "/v1/tenants/acme/portal-links", {});
    expect(link.status).toBe(201);
    const url = link.body.url as string;
    const token = url.split("/").pop() as string;
    const opened = await fetch(url, { redirect: "manual" });
    await opened.arrayBuffer();
    const span = await otlp.waitForSpan((s) => s.service === "herald-api" && s.attributes["http.route"] === "/ui/portal/:token", {
      what: "the portal link's server span",
    });
    expect(span.attributes["url.full"]).toBe(`${herald.baseUrl}/ui/portal/REDACTED`);
    expect(JSON.stringify(otlp.spans)).not.toContain(token);
  });
});

let prometheus: ChildProcess | undefined;
let prometheusDir: string | undefined;

/** The PromQL of the alert and recording rules and of every dashboard panel, with Grafana's interval filled in. */
function expressions(): { where: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "infra/grafana/herald-dashboard.json"), "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
  };
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      where: `dashboard panel "${panel.title}"`,
      expr: target.expr.replaceAll("$__rate_interval", "1m"),
    })),
  );
}

async function query(base: string, expr: string) {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await response.json()) as { status: string; error?: string; data?: { result: unknown[] } };
}

describe("Prometheus rules and the Grafana dashboard against a real Prometheus scraping Herald", () => {
  it("scrapes the API and the worker, evaluates every rule without error, and every dashboard query returns data", async () => {
    const workerMetrics = herald.workers[0]?.output().match(/metrics on (http:\/\/[^\s]+)\/metrics/)?.[1];
    expect(workerMetrics, "the worker prints where its metrics are").toBeDefined();
    // The same port is the worker's health port (its Kubernetes probes).
    expect((await fetch(`${workerMetrics}/healthz`)).status).toBe(200);
    prometheusDir = mkdtempSync(join(tmpdir(), "herald-prometheus-"));
    const config = join(prometheusDir, "prometheus.yml");
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: "1s", evaluation_interval: "1s" },
        rule_files: [join(REPO_ROOT, "infra/prometheus/rules.yml")],
        scrape_configs: [
          { job_name: "herald-api", static_configs: [{ targets: [new URL(herald.baseUrl).host] }] },
          { job_name: "herald-worker", static_configs: [{ targets: [new URL(workerMetrics as string).host] }] },
        ],
      }),
    );
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      "prometheus",
      [`--config.file=${config}`, `--storage.tsdb.path=${join(prometheusDir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let log = "";
    prometheus.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
    });
    const spawned = await Promise.race([once(prometheus, "spawn").then(() => true), once(prometheus, "error").then(() => false)]);
    expect(spawned, "Debian's prometheus package must be installed (scripts/ensure-ops-tools.sh)").toBe(true);

    // Both targets up, and enough samples for rates over a minute.
    const ready = { timeoutMs: 60_000, intervalMs: 500 };
    await eventually(
      async () => {
        const up = await query(base, 'count(up{job=~"herald-api|herald-worker"} == 1) == 2').catch(() => undefined);
        return up?.data?.result.length === 1;
      },
      { ...ready, what: "both Herald targets up in Prometheus" },
    ).catch((error) => {
      throw new Error(`${error.message}\n${log.slice(-2000)}`);
    });
    await eventually(
      async () => {
        const scrapes = await query(base, 'count_over_time(up{job=~"herald-api|herald-worker"}[1m]) >= 2');
        return scrapes.data?.result.length === 2;
      },
      { ...ready, what: "two scrapes of each target, for rates" },
    );

    // Every rule has been evaluated, and none failed.
    const rules = await eventually(
      async () => {
        const body = (await (await fetch(`${base}/api/v1/rules`)).json()) as {
          data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] };
        };
        const all = body.data.groups.flatMap((group) => group.rules);
        return all.length > 0 && all.every((rule) => !rule.lastEvaluation.startsWith("0001")) && all;
      },
      { ...ready, what: "every rule evaluated" },
    );
    expect(rules.length).toBe(17);
    expect(rules.filter((rule) => rule.health !== "ok").map((rule) => `${rule.name}: ${rule.lastError}`)).toEqual([]);

    // Every dashboard query runs and returns data.
    const failures: string[] = [];
    for (const { where, expr } of expressions()) {
      const result = await query(base, expr);
      if (result.status !== "success") failures.push(`${where}: ${result.error}`);
      else if ((result.data?.result.length ?? 0) === 0) failures.push(`${where}: no data for ${expr}`);
    }
    expect(failures).toEqual([]);
  });
});
