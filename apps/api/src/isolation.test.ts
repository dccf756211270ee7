import { type Receiver, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

/**
 * Every tenant-scoped route, called with tenant A's key on tenant B's
 * resources, must answer 404 as if B did not exist. Add a row for each new
 * route: the coverage test below fails for a /v1 route without one. Bodies are
 * valid so that validation cannot answer before the tenant check does.
 */
type Row = [method: string, path: string, body?: unknown];

const TENANT_ROWS: Row[] = [
  ["GET", "/v1/tenants/{tenantId}"],
  ["PATCH", "/v1/tenants/{tenantId}", { name: "Taken over" }],
  ["GET", "/v1/tenants/{tenantId}/api-keys"],
  ["POST", "/v1/tenants/{tenantId}/api-keys", { name: "intruder" }],
  ["DELETE", "/v1/tenants/{tenantId}/api-keys/{keyId}"],
  ["GET", "/v1/tenants/{tenantId}/endpoints"],
  ["POST", "/v1/tenants/{tenantId}/endpoints", { name: "Intruder", url: "https://example.com/steal" }],
  ["GET", "/v1/tenants/{tenantId}/endpoints/{endpointId}"],
  ["PATCH", "/v1/tenants/{tenantId}/endpoints/{endpointId}", { url: "https://example.com/steal" }],
  ["DELETE", "/v1/tenants/{tenantId}/endpoints/{endpointId}"],
  ["GET", "/v1/tenants/{tenantId}/endpoints/{endpointId}/secret"],
  ["POST", "/v1/tenants/{tenantId}/endpoints/{endpointId}/secret/rotate", {}],
  ["POST", "/v1/tenants/{tenantId}/endpoints/{endpointId}/test", {}],
  ["POST", "/v1/tenants/{tenantId}/endpoints/{endpointId}/recover", { since: "2020-01-01T00:00:00.000Z" }],
  ["GET", "/v1/tenants/{tenantId}/events"],
  ["POST", "/v1/tenants/{tenantId}/events", { eventType: "order.created", payload: { forged: true } }],
  ["POST", "/v1/tenants/{tenantId}/events/batch", { events: [{ eventType: "order.created", payload: { forged: true } }] }],
  ["GET", "/v1/tenants/{tenantId}/events/{eventId}"],
  ["GET", "/v1/tenants/{tenantId}/deliveries"],
  ["GET", "/v1/tenants/{tenantId}/deliveries/{deliveryId}"],
  ["POST", "/v1/tenants/{tenantId}/deliveries/{deliveryId}/retry", {}],
  ["POST", "/v1/tenants/{tenantId}/portal-links", {}],
];

/** Routes outside a tenant: what a tenant key gets there. */
const GLOBAL_ROWS: [...Row, expected: number][] = [
  ["GET", "/v1/tenants", undefined, 200],
  ["POST", "/v1/tenants", { name: "Sneaky" }, 403],
  ["DELETE", "/v1/tenants/{ownTenantId}", undefined, 403],
  ["GET", "/v1/event-types", undefined, 200],
  ["GET", "/v1/event-types/order.created", undefined, 200],
  ["POST", "/v1/event-types", { name: "sneaky.event", description: "" }, 403],
  ["PATCH", "/v1/event-types/order.created", { archived: true }, 403],
  ["GET", "/v1/sessions", undefined, 403],
  ["DELETE", "/v1/sessions/ses_01jdz3k5q8e6f0a1b2c3d4e5f6", undefined, 403],
];

let t: TestApp;
let receiver: Receiver;
let keyA: string;
const b: Record<string, string> = {};
let ownTenantId: string;

beforeAll(async () => {
  t = await createTestApp();
  receiver = await startReceiver();
  await t.call("POST", "/v1/event-types", { body: { name: "order.created", description: "", example: { id: 1 } } });
  ownTenantId = (await t.call("POST", "/v1/tenants", { body: { name: "A", uid: "tenant-a" } })).body.id;
  keyA = (await t.call("POST", "/v1/tenants/tenant-a/api-keys", { body: { name: "a" } })).body.key;

  b.tenantId = (await t.call("POST", "/v1/tenants", { body: { name: "B", uid: "tenant-b" } })).body.id;
  b.keyId = (await t.call("POST", "/v1/tenants/tenant-b/api-keys", { body: { name: "b" } })).body.id;
  b.endpointId = (await t.call("POST", "/v1/tenants/tenant-b/endpoints", { body: { name: "B", url: receiver.url } })).body.id;
  b.eventId = (await t.call("POST", "/v1/tenants/tenant-b/events", { body: { eventType: "order.created", payload: {} } })).body.id;
  b.deliveryId = (await t.call("GET", `/v1/tenants/tenant-b/events/${b.eventId}`)).body.deliveries[0].id;
  b.secret = (await t.call("GET", `/v1/tenants/tenant-b/endpoints/${b.endpointId}/secret`)).body.secret;
  for (const value of Object.values(b)) expect(value).toBeTruthy();
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

function fill(path: string, values: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => values[name] ?? `{${name}}`);
}

describe("tenant isolation", () => {
  it.each(TENANT_ROWS)("%s %s on another tenant answers 404", async (method, path, body) => {
    for (const tenant of [b.tenantId as string, "tenant-b"]) {
      const response = await t.call(method, fill(path, { ...b, tenantId: tenant }), { token: keyA, body });
      expect(response.status, `${method} ${fill(path, { ...b, tenantId: tenant })}`).toBe(404);
      expect(response.body.code).toBe("not_found");
    }
  });

  it.each(TENANT_ROWS.filter(([, path]) => /\{(?!tenantId)\w+\}/.test(path)))(
    "%s %s with another tenant's resource id under the key's own tenant answers 404",
    async (method, path, body) => {
      const response = await t.call(method, fill(path, { ...b, tenantId: "tenant-a" }), { token: keyA, body });
      expect(response.status).toBe(404);
    },
  );

  it.each(GLOBAL_ROWS)("%s %s with a tenant key answers %i", async (method, path, body, expected) => {
    const response = await t.call(method, fill(path, { ownTenantId }), { token: keyA, body });
    expect(response.status).toBe(expected);
    if (method === "GET" && path === "/v1/tenants") {
      expect(response.body.data.map((x: { id: string }) => x.id)).toEqual([ownTenantId]);
    }
  });

  it("left the other tenant exactly as it was", async () => {
    const tenant = await t.call("GET", "/v1/tenants/tenant-b");
    expect(tenant.body.name).toBe("B");
    const endpoints = await t.call("GET", "/v1/tenants/tenant-b/endpoints");
    expect(endpoints.body.data.map((e: { id: string; url: string }) => [e.id, e.url])).toEqual([[b.endpointId, receiver.url]]);
    expect((await t.call("GET", `/v1/tenants/tenant-b/endpoints/${b.endpointId}/secret`)).body.secret).toBe(b.secret);
    const keys = await t.call("GET", "/v1/tenants/tenant-b/api-keys");
    expect(keys.body.data.map((k: { id: string; revokedAt: string | null }) => [k.id, k.revokedAt])).toEqual([[b.keyId, null]]);
    const [counts] = await t.sql`
      select (select count(*)::int from events where tenant_id = ${b.tenantId as string}) as events,
             (select count(*)::int from deliveries where tenant_id = ${b.tenantId as string}) as deliveries`;
    expect(counts).toEqual({ events: 1, deliveries: 1 });
  });

  it("has a row for every /v1 route in the app", () => {
    const covered = new Set(
      [...TENANT_ROWS, ...GLOBAL_ROWS].map(([method, path]) => `${method} ${path.replace("{ownTenantId}", "{tenantId}")}`),
    );
    covered.add("GET /v1/event-types/{name}");
    covered.add("PATCH /v1/event-types/{name}");
    covered.add("DELETE /v1/sessions/{sessionId}");
    const routes = t.app.routes
      .filter((route) => route.method !== "ALL" && route.path.startsWith("/v1/"))
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.filter((route) => !covered.has(route))).toEqual([]);
  });
});
