import { JOB_NAMES } from "@herald/queue";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiMetrics } from "./metrics.ts";
import { createTestApp, type TestApp } from "./test-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "invoice.paid", description: "Paid" } });
  await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Hook", url: "https://example.com/hook" } });
});
afterAll(async () => {
  await t?.close();
});

/** The value of one sample of the Prometheus text format, or undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

const scrape = async () => {
  const response = await t.app.request("/metrics");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  return response.text();
};

describe("/metrics", () => {
  it("reports publishes, requests by route pattern, queue depth by state and the oldest due delivery", async () => {
    for (let i = 0; i < 3; i++) {
      await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: { i } } });
    }
    await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "k" } });
    await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "k" } });
    await t.call("POST", "/v1/tenants/acme/events/batch", { body: { events: [{ eventType: "invoice.paid", payload: {} }] } });
    await t.call("GET", "/v1/tenants/acme/events/evt_nope");
    await t.call("GET", "/v1/no/such/route");
    await t.queue.add(
      JOB_NAMES.deliver,
      { deliveryId: "dlv_x", eventId: "evt_x", endpointId: "ep_x", tenantId: "ten_x" },
      { jobId: "x", delay: 60_000 },
    );
    // The most overdue delivery has been due for an hour.
    await t.sql`update deliveries set next_attempt_at = now() - interval '1 hour'
                where id = (select id from deliveries order by id limit 1)`;

    const text = await scrape();
    expect(sample(text, "herald_events_published_total", { result: "published" })).toBe(5);
    expect(sample(text, "herald_events_published_total", { result: "replayed" })).toBe(1);
    expect(sample(text, "herald_http_requests_total", { method: "POST", route: "/v1/tenants/:tenantId/events", status: "202" })).toBe(4);
    expect(sample(text, "herald_http_requests_total", { method: "POST", route: "/v1/tenants/:tenantId/events", status: "200" })).toBe(1);
    expect(sample(text, "herald_http_requests_total", { method: "POST", route: "/v1/tenants/:tenantId/events/batch", status: "202" })).toBe(
      1,
    );
    expect(
      sample(text, "herald_http_requests_total", { method: "GET", route: "/v1/tenants/:tenantId/events/:eventId", status: "404" }),
    ).toBe(1);
    // Unknown paths share one label value, so scanners cannot blow up the series count.
    expect(sample(text, "herald_http_requests_total", { method: "GET", route: "unmatched", status: "404" })).toBe(1);
    expect(text).not.toContain("/v1/no/such/route");
    expect(sample(text, "herald_queue_jobs", { shard: "0", state: "waiting" })).toBe(5);
    expect(sample(text, "herald_queue_jobs", { shard: "0", state: "delayed" })).toBe(1);
    expect(sample(text, "herald_queue_jobs", { shard: "0", state: "active" })).toBe(0);
    expect(sample(text, "herald_queue_jobs", { shard: "0", state: "failed" })).toBe(0);
    const age = sample(text, "herald_oldest_pending_delivery_age_seconds") ?? 0;
    expect(age).toBeGreaterThanOrEqual(3600);
    expect(age).toBeLessThan(3600 + 600);
    expect(sample(text, "herald_api_process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("counts a delivery released from a parked backlog, still parked until its attempt, as due since its release", async () => {
    const [oldest] = await t.sql<{ id: string }[]>`select id from deliveries order by id limit 1`;
    await t.sql`update deliveries set next_attempt_at = now() where id = ${oldest?.id as string}`;
    const [released] = await t.sql<{ id: string }[]>`select id from deliveries order by id desc limit 1`;
    await t.sql`update deliveries set parked = true, released_at = now() - interval '2 hours' where id = ${released?.id as string}`;
    const age = async () => {
      // A reading of its own (the app's is cached).
      const metrics = createApiMetrics({ sql: t.sql, queues: t.queues, cacheMs: 0 });
      return sample(await metrics.registry.metrics(), "herald_oldest_pending_delivery_age_seconds") ?? 0;
    };
    expect(await age()).toBeGreaterThanOrEqual(7200);
    expect(await age()).toBeLessThan(7200 + 600);
    // Parked and not released: waiting behind its endpoint, not in the queue.
    await t.sql`update deliveries set released_at = null where id = ${released?.id as string}`;
    expect(await age()).toBeLessThan(600);
  });

  it("reuses the queue reading for a few seconds instead of asking Redis on every scrape", async () => {
    const before = sample(await scrape(), "herald_queue_jobs", { shard: "0", state: "waiting" });
    await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: {} } });
    const after = await scrape();
    expect(sample(after, "herald_queue_jobs", { shard: "0", state: "waiting" })).toBe(before);
    expect(sample(after, "herald_events_published_total", { result: "published" })).toBe(6);
  });

  it("needs no token and carries no tenant data", async () => {
    const response = await t.app.request("/metrics", { headers: { authorization: "Bearer wrong" } });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toMatch(/ten_|acme|example\.com/);
  });
});
