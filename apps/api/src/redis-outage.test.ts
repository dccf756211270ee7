import { spawn } from "node:child_process";
import { once } from "node:events";
import { type PrivateRedis, REPO_ROOT, startPrivateRedis, startSilentServer, TEST_ADMIN_URL } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

// The bounds the issue sets, and the slack a busy two-core CI machine needs on top.
const PUBLISH_BOUND_MS = 2_000;
const READY_BOUND_MS = 1_000;
const SLACK = 1.5;

let redis: PrivateRedis;
let t: TestApp;

beforeAll(async () => {
  redis = await startPrivateRedis();
  t = await createTestApp({ REDIS_URL: redis.url });
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "invoice.paid", description: "An invoice was paid" } });
  await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Billing", url: "https://example.com/hook" } });
});
afterAll(async () => {
  await t?.close();
  await redis?.stop("SIGKILL");
});

async function timed<T>(run: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const started = performance.now();
  const result = await run();
  return { ms: performance.now() - started, result };
}

const publish = () => t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: { amount: 1 } } });

/** With HERALD_OUTAGE_FIGURES set, the latencies measured go to the output, for the README and the figures. */
const figure = (what: string, ms: number) => {
  if (process.env.HERALD_OUTAGE_FIGURES) console.info(JSON.stringify({ [what]: Math.round(ms) }));
};

/** The event is in PostgreSQL with a pending delivery due now: what the worker's reconciler enqueues. */
async function expectStoredForReconciler(eventId: string) {
  const rows = await t.sql<{ status: string; nextAttemptAt: Date | null }[]>`
    select status, next_attempt_at as "nextAttemptAt" from deliveries where event_id = ${eventId}`;
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({ status: "pending", nextAttemptAt: expect.any(Date) });
}

describe("a Redis outage does not hang the API", () => {
  it("publishes and reports ready while Redis answers", async () => {
    const published = await publish();
    expect(published.status).toBe(202);
    expect(await t.queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
    expect((await t.call("GET", "/readyz")).body).toEqual({ status: "ok", postgres: "ok", redis: "ok" });
  });

  it("a Redis that hangs: publishes answer 202 within the bound and /readyz says so within a second", async () => {
    redis.freeze();
    try {
      const { ms, result } = await timed(publish);
      expect(result.status).toBe(202);
      expect(result.body.deliveries).toBe(1);
      expect(ms).toBeLessThan(PUBLISH_BOUND_MS * SLACK);
      await expectStoredForReconciler(result.body.id);

      const ready = await timed(() => t.call("GET", "/readyz"));
      expect(ready.result.status).toBe(503);
      expect(ready.result.body).toEqual({ status: "unavailable", postgres: "ok", redis: "unreachable" });
      expect(ready.ms).toBeLessThan(READY_BOUND_MS * SLACK);
      figure("publishWhileRedisHangsMs", ms);
      figure("readyzWhileRedisHangsMs", ready.ms);
    } finally {
      redis.thaw();
    }
    // Once Redis answers again, so does readiness; the producer connection never had to be rebuilt.
    for (;;) if ((await t.call("GET", "/readyz")).status === 200) break;
    expect((await publish()).status).toBe(202);
  });

  it("a Redis that is gone: publishes answer 202 at once, /readyz 503 naming Redis, and nothing else answers 500", async () => {
    await redis.stop("SIGKILL");
    const { ms, result } = await timed(publish);
    expect(result.status).toBe(202);
    expect(ms).toBeLessThan(PUBLISH_BOUND_MS * SLACK);
    await expectStoredForReconciler(result.body.id);

    const ready = await timed(() => t.call("GET", "/readyz"));
    expect(ready.result.status).toBe(503);
    expect(ready.result.body.redis).toBe("unreachable");
    expect(ready.ms).toBeLessThan(READY_BOUND_MS * SLACK);
    figure("publishWhileRedisIsGoneMs", ms);
    figure("readyzWhileRedisIsGoneMs", ready.ms);

    // A request that needs Redis itself (retrying a delivery enqueues it) is a 503 with Retry-After, not a 500.
    const [delivery] = await t.sql<{ id: string }[]>`select id from deliveries where event_id = ${result.body.id}`;
    const retried = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery?.id}/retry`);
    expect(retried.status).toBe(503);
    expect(retried.body).toMatchObject({ code: "service_unavailable", status: 503 });
    expect(retried.body.detail).toContain("Redis");
    expect(Number(retried.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});

describe("start-up against a Redis that accepts connections and never answers", () => {
  it("fails within 10 s with one line naming the URL", async () => {
    const silent = await startSilentServer();
    try {
      const url = `redis://127.0.0.1:${silent.port}`;
      const started = performance.now();
      const child = spawn(process.execPath, ["--import", "tsx", "apps/api/src/main.ts"], {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH ?? "",
          HERALD_ADMIN_TOKEN: "outage-test-token-0123456789",
          DATABASE_URL: TEST_ADMIN_URL,
          REDIS_URL: url,
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const [code] = await once(child, "exit");
      const elapsed = performance.now() - started;
      expect(code).toBe(1);
      const lines = output.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^herald: Redis is not answering at redis://127\\.0\\.0\\.1:${silent.port} \\(no answer within`));
      expect(elapsed).toBeLessThan(10_000 * SLACK);
      figure("startUpAgainstSilentRedisMs", elapsed);
    } finally {
      await silent.close();
    }
  }, 30_000);
});
