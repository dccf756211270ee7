import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

/** The publish path reads tenants and event types through a short cache; these are its edges. */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.call("POST", "/v1/event-types", { body: { name: "order.placed", description: "Placed" } });
});
afterAll(async () => {
  await t?.close();
});

const publish = (tenant: string, options: { token?: string } = {}) =>
  t.call("POST", `/v1/tenants/${tenant}/events`, { body: { eventType: "order.placed", payload: { n: 1 } }, ...options });

describe("publishing with cached lookups", () => {
  it("sees this process's own catalog and tenant changes at once", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "A", uid: "lookup-a" } });
    expect((await publish("lookup-a")).status).toBe(202);

    expect((await t.call("PATCH", "/v1/event-types/order.placed", { body: { archived: true } })).status).toBe(200);
    expect((await publish("lookup-a")).body.code).toBe("unknown_event_type");
    expect((await t.call("PATCH", "/v1/event-types/order.placed", { body: { archived: false } })).status).toBe(200);
    expect((await publish("lookup-a")).status).toBe(202);

    expect((await t.call("PATCH", "/v1/tenants/lookup-a", { body: { uid: "lookup-a2" } })).status).toBe(200);
    expect((await publish("lookup-a")).status).toBe(404);
    expect((await publish("lookup-a2")).status).toBe(202);

    expect((await t.call("DELETE", "/v1/tenants/lookup-a2")).status).toBe(204);
    expect((await publish("lookup-a2")).status).toBe(404);
  });

  it("answers 404, not 500, for a cached tenant that another process deleted", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "B", uid: "lookup-b" } });
    expect((await publish("lookup-b")).status).toBe(202);
    // As another API process would: the row goes, this process's cache still has it.
    await t.sql`delete from tenants where uid = 'lookup-b'`;
    const response = await publish("lookup-b");
    expect(response.status).toBe(404);
    expect(response.body.code).toBe("not_found");
    const batch = await t.call("POST", "/v1/tenants/lookup-b/events/batch", {
      body: { events: [{ eventType: "order.placed", payload: {} }] },
    });
    expect(batch.status).toBe(404);
  });

  it("keeps a tenant key to its own tenant even when the other tenant is cached", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "C", uid: "lookup-c" } });
    await t.call("POST", "/v1/tenants", { body: { name: "D", uid: "lookup-d" } });
    expect((await publish("lookup-d")).status).toBe(202);
    const key = await t.call("POST", "/v1/tenants/lookup-c/api-keys", { body: { name: "c" } });
    expect(key.status).toBe(201);
    expect((await publish("lookup-d", { token: key.body.key })).status).toBe(404);
    expect((await publish("lookup-c", { token: key.body.key })).status).toBe(202);
  });
});
