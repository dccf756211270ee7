import { once } from "node:events";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer, type Server, type Socket } from "node:net";
import { eventually, type Herald, type Receiver, respondWith, startHerald, startReceiver } from "@herald/testing";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpoint, createTenant, type Db, database, publish } from "./engine-support.ts";

/**
 * Each outcome class against a real receiver, Retry-After, 410, exhaustion,
 * operational events and the worker's metrics. One Herald for the file:
 * a three-attempt schedule, a 1 s deadline, a 2 s Retry-After bound.
 */

let herald: Herald;
let sql: Db;
let tenants = 0;
let operator: Receiver;
const closers: (() => unknown)[] = [];

beforeAll(async () => {
  operator = await startReceiver();
  herald = await startHerald({
    env: {
      HERALD_RETRY_SCHEDULE: "0,300ms,300ms",
      HERALD_RETRY_JITTER: "0",
      HERALD_DELIVERY_TIMEOUT: "1s",
      HERALD_CONNECT_TIMEOUT: "500ms",
      HERALD_RETRY_AFTER_MAX: "2s",
      HERALD_CIRCUIT_THRESHOLD: "1000",
      HERALD_METRICS_PORT: "0",
      // One request in flight per endpoint: the 410 case's other deliveries wait until the first answer is recorded.
      HERALD_ENDPOINT_CONCURRENCY: "1",
      HERALD_OPERATOR_WEBHOOK_URL: `${operator.url}/ops`,
    },
  });
  sql = database(herald);
});

afterAll(async () => {
  for (const close of closers) await close();
  await operator?.close();
  await sql?.end();
  await herald?.stop();
});

interface AttemptRow {
  attempt_number: number;
  status_code: number | null;
  error_kind: string | null;
  response_body: string | null;
  started_at: Date;
}

async function finished(deliveryOf: { eventId: string }) {
  return eventually(
    async () => {
      const [row] = await sql<{ id: string; status: string; attempts: number }[]>`
        select id, status, attempts from deliveries where event_id = ${deliveryOf.eventId}`;
      return row && !["pending", "failed"].includes(row.status) ? row : undefined;
    },
    { timeoutMs: 30_000, what: "the delivery to finish" },
  );
}

async function attemptsOf(deliveryId: string) {
  return sql<AttemptRow[]>`
    select attempt_number, status_code, error_kind, response_body, started_at from attempts
    where delivery_id = ${deliveryId} order by attempt_number`;
}

/** Every case has a tenant of its own, so its events reach its endpoint only. */
const freshTenant = () => createTenant(herald, `case-${++tenants}`);

/** One attempt only (maxAttempts 1), so each case reads exactly one classified attempt. */
async function deliverOnce(url: string) {
  const tenantId = await freshTenant();
  await createEndpoint(herald, tenantId, url, { maxAttempts: 1 });
  const eventId = await publish(herald, tenantId, { url });
  const delivery = await finished({ eventId });
  const attempts = await attemptsOf(delivery.id);
  return { delivery, attempts };
}

async function tcpServer(onSocket: (socket: Socket) => void): Promise<{ url: string; server: Server }> {
  const server = createTcpServer(onSocket);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  closers.push(() => server.close());
  return { url: `http://127.0.0.1:${port}`, server };
}

describe("outcome classes", () => {
  it("2xx succeeds", async () => {
    const receiver = await startReceiver(respondWith(204));
    closers.push(() => receiver.close());
    const { delivery, attempts } = await deliverOnce(`${receiver.url}/ok`);
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 1 });
    expect(attempts).toMatchObject([{ status_code: 204, error_kind: null }]);
  });

  it("3xx is a failure and the redirect is not followed", async () => {
    const receiver = await startReceiver(respondWith(302, "moved", { location: "/elsewhere" }));
    closers.push(() => receiver.close());
    const { delivery, attempts } = await deliverOnce(`${receiver.url}/redirect`);
    expect(delivery).toMatchObject({ status: "exhausted", attempts: 1 });
    expect(attempts).toMatchObject([{ status_code: 302, error_kind: "redirect" }]);
    expect(receiver.requests.map((r) => r.path)).toEqual(["/redirect"]);
  });

  it("4xx and 5xx are failures with the status recorded", async () => {
    const receiver = await startReceiver((request, _i, res) => {
      res.writeHead(request.path === "/bad" ? 400 : 500);
      res.end(`answer of ${request.path}`);
    });
    closers.push(() => receiver.close());
    const bad = await deliverOnce(`${receiver.url}/bad`);
    expect(bad.attempts).toMatchObject([{ status_code: 400, error_kind: "http_status", response_body: "answer of /bad" }]);
    const broken = await deliverOnce(`${receiver.url}/broken`);
    expect(broken.attempts).toMatchObject([{ status_code: 500, error_kind: "http_status", response_body: "answer of /broken" }]);
  });

  it("a receiver that never answers times out", async () => {
    const held: Socket[] = [];
    const { url } = await tcpServer((socket) => {
      held.push(socket);
      socket.on("error", () => {});
    });
    closers.push(() => {
      for (const socket of held) socket.destroy();
    });
    const { delivery, attempts } = await deliverOnce(`${url}/black-hole`);
    expect(delivery.status).toBe("exhausted");
    expect(attempts).toMatchObject([{ status_code: null, error_kind: "timeout" }]);
  });

  it("a closed port is connection_refused", async () => {
    const { url, server } = await tcpServer(() => {});
    server.close();
    await once(server, "close");
    const { attempts } = await deliverOnce(`${url}/refused`);
    expect(attempts).toMatchObject([{ status_code: null, error_kind: "connection_refused" }]);
  });

  it("an unresolvable host is dns, a TLS handshake with a plain HTTP server is tls", async () => {
    const dns = await deliverOnce("http://no-such-host.invalid/hook");
    expect(dns.attempts).toMatchObject([{ status_code: null, error_kind: "dns" }]);
    const plain = await startReceiver();
    closers.push(() => plain.close());
    const tls = await deliverOnce(`https://127.0.0.1:${plain.port}/tls`);
    expect(tls.attempts).toMatchObject([{ status_code: null, error_kind: "tls" }]);
  });

  it("a connection reset mid-response is connection_reset", async () => {
    const { url } = await tcpServer((socket) => {
      socket.on("error", () => {});
      socket.once("data", () => {
        socket.write("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial");
        setImmediate(() => socket.resetAndDestroy());
      });
    });
    const { delivery, attempts } = await deliverOnce(`${url}/reset`);
    expect(delivery.status).toBe("exhausted");
    expect(attempts).toMatchObject([{ status_code: null, error_kind: "connection_reset" }]);
  });

  it("an endless response body is read only up to a bound; 4 KiB are stored", async () => {
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, "x");
    const server = createHttpServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      // Writes for as long as the client reads: an endless body ends only when Herald hangs up.
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once("drain", pump);
      };
      res.on("error", () => {});
      pump();
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    closers.push(() => server.close());
    const { delivery, attempts } = await deliverOnce(`http://127.0.0.1:${(server.address() as { port: number }).port}/huge`);
    expect(delivery.status).toBe("succeeded");
    expect(attempts[0]?.status_code).toBe(200);
    expect(attempts[0]?.response_body).toHaveLength(4096);
    // Herald hung up long before a gigabyte: what was written is socket buffers, not the body.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });
});

describe("retries", () => {
  it("waits at least what Retry-After asks, in seconds and as an HTTP date", async () => {
    const receiver = await startReceiver((request, index, res) => {
      if (index === 0) {
        res.writeHead(429, { "retry-after": "1" });
        res.end();
      } else if (index === 1) {
        res.writeHead(503, { "retry-after": new Date(Date.now() + 2000).toUTCString() });
        res.end();
      } else respondWith(200)(request, index, res);
    });
    closers.push(() => receiver.close());
    const tenantId = await freshTenant();
    await createEndpoint(herald, tenantId, `${receiver.url}/retry-after`);
    const eventId = await publish(herald, tenantId, {});
    const [first, second, third] = await receiver.waitForRequests(3, 30_000);
    const delivery = await finished({ eventId });
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 3 });
    // The schedule alone would retry after 300 ms.
    expect((second?.receivedAt ?? 0) - (first?.receivedAt ?? 0)).toBeGreaterThanOrEqual(950);
    // An HTTP date has whole seconds, so "now + 2 s" asks for between 1 and 2 s.
    expect((third?.receivedAt ?? 0) - (second?.receivedAt ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it("bounds Retry-After by HERALD_RETRY_AFTER_MAX", async () => {
    const receiver = await startReceiver((request, index, res) => {
      if (index === 0) {
        res.writeHead(429, { "retry-after": "86400" });
        res.end();
      } else respondWith(200)(request, index, res);
    });
    closers.push(() => receiver.close());
    const tenantId = await freshTenant();
    await createEndpoint(herald, tenantId, `${receiver.url}/day`);
    const eventId = await publish(herald, tenantId, {});
    const delivery = await finished({ eventId });
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 2 });
  });

  it("exhausts after the schedule, keeps everything, and emits a signed delivery.exhausted", async () => {
    const receiver = await startReceiver(respondWith(500, "down"));
    closers.push(() => receiver.close());
    const tenantId = await freshTenant();
    const endpointId = await createEndpoint(herald, tenantId, `${receiver.url}/down`);
    const eventId = await publish(herald, tenantId, {});
    const delivery = await finished({ eventId });
    expect(delivery).toMatchObject({ status: "exhausted", attempts: 3 });
    expect((await attemptsOf(delivery.id)).map((a) => a.attempt_number)).toEqual([1, 2, 3]);
    expect(receiver.requests).toHaveLength(3);

    const notice = await operator.waitFor((r) => {
      const body = JSON.parse(r.body);
      return body.type === "delivery.exhausted" && body.data.deliveryId === delivery.id;
    });
    const secret = await operatorSecret();
    const verified = new Webhook(secret).verify(notice.body, notice.headers as Record<string, string>) as { data: unknown };
    expect(verified.data).toMatchObject({ deliveryId: delivery.id, eventId, endpointId, tenantId, attempts: 3, lastStatusCode: 500 });
  });
});

async function operatorSecret(): Promise<string> {
  const endpoints = await herald.request("GET", "/v1/tenants/herald-operator/endpoints");
  expect(endpoints.status).toBe(200);
  const ops = endpoints.body.data.find((e: { url: string }) => e.url === `${operator.url}/ops`);
  const secret = await herald.request("GET", `/v1/tenants/herald-operator/endpoints/${ops.id}/secret`);
  return secret.body.secret as string;
}

describe("410 Gone", () => {
  it("disables the endpoint at once, holds its other deliveries and emits endpoint.disabled", async () => {
    const receiver = await startReceiver(respondWith(410, "gone"));
    closers.push(() => receiver.close());
    const tenantId = await freshTenant();
    // One at a time (HERALD_ENDPOINT_CONCURRENCY=1) and one a second: the others wait until the 410 is recorded,
    // however long that takes on a busy machine.
    const endpointId = await createEndpoint(herald, tenantId, `${receiver.url}/gone`, {
      rateLimit: 1,
    });
    const ids = await Promise.all([1, 2, 3].map((n) => publish(herald, tenantId, { n })));
    const statuses = await eventually(
      async () => {
        const rows = await sql<{ status: string }[]>`
          select status from deliveries where endpoint_id = ${endpointId} and event_id = any(${ids})`;
        return rows.length === 3 && rows.every((r) => r.status === "held") ? rows : undefined;
      },
      { what: "all three deliveries to be held" },
    );
    expect(statuses).toHaveLength(3);
    expect(receiver.requests).toHaveLength(1);

    const endpoint = await herald.request("GET", `/v1/tenants/${tenantId}/endpoints/${endpointId}`);
    expect(endpoint.body).toMatchObject({ disabled: true, disabledReason: "the receiver answered 410 Gone" });

    // Published while disabled: stored, held, recoverable.
    const later = await publish(herald, tenantId, { n: 4 });
    const [held] = await sql<{ status: string }[]>`select status from deliveries where event_id = ${later} and endpoint_id = ${endpointId}`;
    expect(held?.status).toBe("held");

    const notice = await operator.waitFor((r) => {
      const body = JSON.parse(r.body);
      return body.type === "endpoint.disabled" && body.data.endpointId === endpointId;
    });
    expect(JSON.parse(notice.body).data).toMatchObject({ tenantId, reason: "the receiver answered 410 Gone" });
    // The operational event is an ordinary event of the operator tenant, visible in the API.
    const listed = await herald.request("GET", "/v1/tenants/herald-operator/events");
    expect(listed.body.data.map((e: { eventType: string }) => e.eventType)).toContain("endpoint.disabled");
  });
});

describe("metrics", () => {
  it("serves deliveries by outcome, attempt durations and in-flight on HERALD_METRICS_PORT", async () => {
    const url = herald.workers[0]?.output().match(/metrics on (http:\/\/\S+)/)?.[1];
    expect(url).toBeDefined();
    const text = await (await fetch(url as string)).text();
    expect(text).toMatch(/herald_deliveries_total\{outcome="succeeded"\} [1-9]/);
    expect(text).toMatch(/herald_deliveries_total\{outcome="exhausted"\} [1-9]/);
    expect(text).toMatch(/herald_attempt_duration_seconds_count\{kind="timeout"\} [1-9]/);
    expect(text).toContain("herald_deliveries_in_flight 0");
  });
});
