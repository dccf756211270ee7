import { createKeys } from "@herald/queue";
import { type Receiver, respondWith, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

/** Per-tenant limits, with small defaults so the test reaches them quickly. */
let t: TestApp;
let receiver: Receiver;
let acmeKey: string;

beforeAll(async () => {
  receiver = await startReceiver(respondWith(200, "ok"));
  t = await createTestApp({
    HERALD_TENANT_MAX_ENDPOINTS: "3",
    HERALD_TENANT_TEST_SENDS_PER_MINUTE: "2",
    HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH: "5",
  });
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/tenants", { body: { name: "Beta", uid: "beta" } });
  await t.call("POST", "/v1/event-types", { body: { name: "limit.test", description: "x", example: {} } });
  acmeKey = (await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "tenant" } })).body.key;
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

const endpoint = (tenant: string, token?: string) =>
  t.call("POST", `/v1/tenants/${tenant}/endpoints`, { body: { name: "E", url: receiver.url }, ...(token ? { token } : {}) });

describe("per-tenant limits", () => {
  it("shows the tenant's effective limits", async () => {
    const tenant = await t.call("GET", "/v1/tenants/acme", { token: acmeKey });
    expect(tenant.body.limits).toEqual({ maxEndpoints: 3, testSendsPerMinute: 2, maxDeliveriesPerPublish: 5, publishPerSecond: null });
  });

  it("refuses an endpoint past the tenant's maximum with a 422 naming the limit", async () => {
    for (let i = 0; i < 3; i++) expect((await endpoint("acme", acmeKey)).status).toBe(201);
    const refused = await endpoint("acme", acmeKey);
    expectProblem(refused, 422, "limit_exceeded");
    expect(refused.body.detail).toContain("3 endpoints");
    // Another tenant has its own count.
    expect((await endpoint("beta")).status).toBe(201);
  });

  it("refuses a batch whose fan-out would write more deliveries than the limit, storing nothing", async () => {
    const events = Array.from({ length: 2 }, () => ({ eventType: "limit.test", payload: {} }));
    const refused = await t.call("POST", "/v1/tenants/acme/events/batch", { body: { events }, token: acmeKey });
    expectProblem(refused, 422, "limit_exceeded");
    expect(refused.body.detail).toContain("6 deliveries");
    expect((await t.call("GET", "/v1/tenants/acme/events")).body.data).toEqual([]);
    const one = await t.call("POST", "/v1/tenants/acme/events/batch", { body: { events: events.slice(0, 1) }, token: acmeKey });
    expect(one.status).toBe(202);
  });

  it("limits test sends per minute with a 429 and Retry-After", async () => {
    const [first] = (await t.call("GET", "/v1/tenants/acme/endpoints")).body.data;
    const send = () => t.call("POST", `/v1/tenants/acme/endpoints/${first.id}/test`, { body: {}, token: acmeKey });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expectProblem(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("lets the admin raise a tenant's limits, and only the admin", async () => {
    const denied = await t.call("PATCH", "/v1/tenants/acme", { body: { limits: { maxEndpoints: 10 } }, token: acmeKey });
    expectProblem(denied, 403, "forbidden");
    const raised = await t.call("PATCH", "/v1/tenants/acme", { body: { limits: { maxEndpoints: 4, testSendsPerMinute: 5 } } });
    expect(raised.status).toBe(200);
    expect(raised.body.limits).toEqual({ maxEndpoints: 4, testSendsPerMinute: 5, maxDeliveriesPerPublish: 5, publishPerSecond: null });
    expect((await endpoint("acme", acmeKey)).status).toBe(201);
    expectProblem(await endpoint("acme", acmeKey), 422, "limit_exceeded");
    const [first] = (await t.call("GET", "/v1/tenants/acme/endpoints")).body.data;
    expect((await t.call("POST", `/v1/tenants/acme/endpoints/${first.id}/test`, { body: {}, token: acmeKey })).status).toBe(200);
    // null returns a limit to the deployment's default.
    const reset = await t.call("PATCH", "/v1/tenants/acme", { body: { limits: { maxEndpoints: null } } });
    expect(reset.body.limits.maxEndpoints).toBe(3);
    expectProblem(await t.call("PATCH", "/v1/tenants/acme", { body: { limits: { maxEndpoints: 0 } } }), 400, "validation_failed");
  });

  it("holds a tenant to a publish rate when the admin sets one, counted across API processes, with a 429 and Retry-After", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "Gamma", uid: "gamma" } });
    const set = await t.call("PATCH", "/v1/tenants/gamma", { body: { limits: { publishPerSecond: 3 } } });
    expect(set.body.limits.publishPerSecond).toBe(3);
    const gamma = set.body.id as string;
    const publish = () => t.call("POST", "/v1/tenants/gamma/events", { body: { eventType: "limit.test", payload: {} } });
    const batch = (n: number) =>
      t.call("POST", "/v1/tenants/gamma/events/batch", {
        body: { events: Array.from({ length: n }, () => ({ eventType: "limit.test", payload: {} })) },
      });
    // More than a second's worth in one request can never pass.
    const tooBig = await batch(4);
    expectProblem(tooBig, 422, "limit_exceeded");
    expect(tooBig.body.detail).toContain("4 events");
    // Other API processes used up this second and the next ones (the count lives in Redis): refused, nothing stored.
    const keys = createKeys(t.prefix, 1);
    const second = Math.floor(Date.now() / 1000);
    const seconds = Array.from({ length: 30 }, (_, i) => keys.published(gamma, second + i));
    for (const key of seconds) await t.redis.set(key, "3", "EX", 60);
    const refused = await publish();
    expectProblem(refused, 429, "rate_limited");
    expect(Number(refused.headers.get("retry-after"))).toBe(1);
    expect((await t.call("GET", "/v1/tenants/gamma/events")).body.data).toEqual([]);
    // A fresh second: a full second's worth passes, and is counted.
    await t.redis.del(...seconds);
    expect((await batch(3)).status).toBe(202);
    const counted = await Promise.all(seconds.map((key) => t.redis.get(key)));
    expect(counted.reduce((sum, value) => sum + Number(value ?? 0), 0)).toBe(3);
    // Other tenants have no rate unless one is set.
    for (let i = 0; i < 5; i++)
      expect((await t.call("POST", "/v1/tenants/beta/events", { body: { eventType: "limit.test", payload: {} } })).status).toBe(202);
  });
});
