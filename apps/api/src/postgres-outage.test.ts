import { eventually, startTcpProxy, type TcpProxy } from "@herald/testing";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

// The bounds the issue sets, and the slack a busy two-core CI machine needs on top.
const READY_BOUND_MS = 1_000;
const SLACK = 1.5;
/** A request during the cut must be answered within the connect timeout (5 s), not wait for the database. */
const UNAVAILABLE_BOUND_MS = 5_000;

let proxy: TcpProxy;
let t: TestApp;

beforeAll(async () => {
  // The app reaches PostgreSQL only through a proxy this test owns; the shared server is never touched.
  const target = new URL(process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test");
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  t = await createTestApp(
    {},
    {
      databaseUrl: (url) => {
        const proxied = new URL(url);
        proxied.port = String(proxy.port);
        return proxied.toString();
      },
    },
  );
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "invoice.paid", description: "An invoice was paid" } });
  await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Billing", url: "https://example.com/hook" } });
});
afterAll(async () => {
  await proxy?.restore().catch(() => {});
  await t?.close();
  await proxy?.close();
});

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await run();
  return { ms: performance.now() - started, result };
}

const publish = () =>
  timed(() => t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: { amount: 1 } } }));

describe("a PostgreSQL outage", () => {
  it("answers 503 service_unavailable with Retry-After within a bounded time, and /readyz recovers within a second", async () => {
    expect((await publish()).result.status).toBe(202);

    // Publishers keep publishing through the cut, four at a time, as a backend would.
    const answers: { ms: number; status: number; during: boolean; body: Record<string, unknown>; retryAfter: string | null }[] = [];
    let cut = false;
    let running = true;
    const publishers = Array.from({ length: 4 }, async () => {
      while (running) {
        const during = cut;
        const { ms, result } = await publish();
        answers.push({ ms, status: result.status, during, body: result.body, retryAfter: result.headers.get("retry-after") });
      }
    });
    const unavailableSoFar = () => answers.filter((answer) => answer.status === 503).length;
    const wrongSoFar = () => answers.filter((answer) => answer.status !== 202 && answer.status !== 503);
    /** Waits while publishers run; a wrong answer (a 500, say) ends the wait, so the test fails on it rather than hanging. */
    const publishUntil = (done: () => boolean, what: string) =>
      eventually(async () => done() || wrongSoFar().length > 0, { intervalMs: 10, timeoutMs: 30_000, what });

    let readyAfterMs = 0;
    try {
      await proxy.cut();
      cut = true;
      // The cut lasts until the API has said so to publishers a few times and to readiness.
      for (;;) {
        const ready = await timed(() => t.call("GET", "/readyz"));
        expect(ready.ms).toBeLessThan(READY_BOUND_MS * SLACK);
        if (ready.result.status === 503) {
          expect(ready.result.body).toEqual({ status: "unavailable", postgres: "unreachable", redis: "ok" });
          break;
        }
      }
      const listed = await t.call("GET", "/v1/tenants/acme/events");
      expectProblem(listed, 503, "service_unavailable");
      await publishUntil(() => unavailableSoFar() >= 20, "20 publishes answered 503 during the cut");
      expect(wrongSoFar().map((answer) => [answer.status, answer.body])).toEqual([]);

      await proxy.restore();
      const restored = performance.now();
      for (;;) {
        const ready = await t.call("GET", "/readyz");
        if (ready.status === 200) {
          readyAfterMs = performance.now() - restored;
          break;
        }
      }
      cut = false;
      // Publishers see the database again too.
      const before = answers.length;
      await publishUntil(() => answers.slice(before).some((answer) => !answer.during && answer.status === 202), "a 202 after the cut");
    } finally {
      // Even when the test fails midway, the publishers stop, so nothing outlives it.
      running = false;
      await Promise.allSettled(publishers);
    }

    expect(readyAfterMs).toBeLessThan(READY_BOUND_MS * SLACK);
    expect(wrongSoFar().map((answer) => [answer.status, answer.body])).toEqual([]);
    for (const answer of answers.filter((a) => a.status === 503)) {
      expect(answer.body).toMatchObject({ status: 503, code: "service_unavailable" });
      expect(String(answer.body.detail)).toContain("PostgreSQL");
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
    }
    const slowest = Math.max(...answers.filter((a) => a.during).map((a) => a.ms));
    expect(slowest).toBeLessThan(UNAVAILABLE_BOUND_MS);
    // Every event a publisher was told is accepted is in PostgreSQL.
    const accepted = answers.filter((a) => a.status === 202).map((a) => String(a.body.id));
    const direct = postgres(t.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const stored = await direct<{ id: string }[]>`select id from events where id = any(${accepted}::text[])`;
      expect(stored).toHaveLength(accepted.length);
    } finally {
      await direct.end({ timeout: 1 });
    }
    if (process.env.HERALD_OUTAGE_FIGURES) {
      console.info(
        JSON.stringify({
          publishes: answers.length,
          unavailable: unavailableSoFar(),
          slowestDuringCutMs: Math.round(slowest),
          readyAfterMs: Math.round(readyAfterMs),
        }),
      );
    }
  }, 60_000);
});
