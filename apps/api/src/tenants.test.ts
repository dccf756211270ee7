import { type Receiver, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

let t: TestApp;
let receiver: Receiver;
beforeAll(async () => {
  t = await createTestApp();
  receiver = await startReceiver();
  await t.call("POST", "/v1/event-types", { body: { name: "order.created", description: "", example: { id: 1 } } });
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

describe("happy path", () => {
  it("creates, gets by id or uid, updates and lists", async () => {
    const created = await t.call("POST", "/v1/tenants", { body: { name: " Acme ", uid: "acme", metadata: { plan: "pro" } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "Acme", uid: "acme", metadata: { plan: "pro" } });
    const byId = await t.call("GET", `/v1/tenants/${created.body.id}`);
    const byUid = await t.call("GET", "/v1/tenants/acme");
    expect(byUid.body).toEqual(byId.body);

    const updated = await t.call("PATCH", "/v1/tenants/acme", { body: { name: "Acme Inc.", uid: "acme-inc" } });
    expect(updated.body).toMatchObject({ id: created.body.id, name: "Acme Inc.", uid: "acme-inc" });
    expect((await t.call("GET", "/v1/tenants/acme")).status).toBe(404);
    const cleared = await t.call("PATCH", "/v1/tenants/acme-inc", { body: { uid: null } });
    expect(cleared.body.uid).toBeNull();

    const listed = await t.call("GET", "/v1/tenants?limit=250");
    expect(listed.body.data.map((x: { id: string }) => x.id)).toContain(created.body.id);
  });

  it("deletes a tenant with its keys, endpoints, events, deliveries and attempts, leaving other tenants alone", async () => {
    const doomed = (await t.call("POST", "/v1/tenants", { body: { name: "Doomed", uid: "doomed" } })).body.id;
    const kept = (await t.call("POST", "/v1/tenants", { body: { name: "Kept", uid: "kept" } })).body.id;
    for (const uid of ["doomed", "kept"]) {
      await t.call("POST", `/v1/tenants/${uid}/api-keys`, { body: { name: "k" } });
      const endpoint = await t.call("POST", `/v1/tenants/${uid}/endpoints`, { body: { name: "E", url: receiver.url } });
      expect((await t.call("POST", `/v1/tenants/${uid}/events`, { body: { eventType: "order.created", payload: {} } })).status).toBe(202);
      expect((await t.call("POST", `/v1/tenants/${uid}/endpoints/${endpoint.body.id}/test`)).body.ok).toBe(true);
    }
    const counts = async (tenantId: string) => {
      const [row] = await t.sql`
        select (select count(*)::int from api_keys where tenant_id = ${tenantId}) as keys,
               (select count(*)::int from endpoints where tenant_id = ${tenantId}) as endpoints,
               (select count(*)::int from events where tenant_id = ${tenantId}) as events,
               (select count(*)::int from deliveries where tenant_id = ${tenantId}) as deliveries,
               (select count(*)::int from attempts a join deliveries d on d.id = a.delivery_id where d.tenant_id = ${tenantId}) as attempts`;
      return row;
    };
    expect(await counts(doomed)).toEqual({ keys: 1, endpoints: 1, events: 2, deliveries: 2, attempts: 1 });

    expect((await t.call("DELETE", "/v1/tenants/doomed")).status).toBe(204);
    expect(await counts(doomed)).toEqual({ keys: 0, endpoints: 0, events: 0, deliveries: 0, attempts: 0 });
    expect(await counts(kept)).toEqual({ keys: 1, endpoints: 1, events: 2, deliveries: 2, attempts: 1 });
    expect((await t.call("GET", "/v1/tenants/doomed")).status).toBe(404);
    expect((await t.call("DELETE", "/v1/tenants/doomed")).status).toBe(404);
  });
});

describe("errors", () => {
  it.each([
    [{ name: "" }, "name"],
    [{ name: "x".repeat(201) }, "name"],
    [{ name: "A", uid: "ten_01jdz3k5q8e6f0a1b2c3d4e5f6" }, "uid"],
    [{ name: "A", uid: "has space" }, "uid"],
    [{ name: "A", uid: "" }, "uid"],
    [{ name: "A", metadata: { n: 1 } }, "metadata.n"],
    [{ name: "A", metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) }, "metadata"],
    [{ name: 5 }, "name"],
    [{}, "name"],
  ])("answers 400 for %j naming %s", async (body, path) => {
    const response = await t.call("POST", "/v1/tenants", { body });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it("answers 409 when an update takes another tenant's uid", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "One", uid: "one" } });
    await t.call("POST", "/v1/tenants", { body: { name: "Two", uid: "two" } });
    const response = await t.call("PATCH", "/v1/tenants/two", { body: { uid: "one" } });
    expect(response.status).toBe(409);
    expect(response.body.code).toBe("conflict");
  });

  it("answers 400 for a bad cursor type and 404 for unknown tenants", async () => {
    expect((await t.call("GET", "/v1/tenants?limit=abc")).status).toBe(400);
    expect((await t.call("GET", "/v1/tenants?limit=251")).status).toBe(400);
    expect((await t.call("PATCH", "/v1/tenants/nobody", { body: { name: "x" } })).status).toBe(404);
  });
});

describe("security", () => {
  it("lets a tenant key read and rename its own tenant, but not create, delete or see others", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "Mine", uid: "mine" } });
    await t.call("POST", "/v1/tenants", { body: { name: "Theirs", uid: "theirs" } });
    const key = (await t.call("POST", "/v1/tenants/mine/api-keys", { body: { name: "k" } })).body.key;
    expect((await t.call("PATCH", "/v1/tenants/mine", { token: key, body: { name: "Mine 2" } })).body.name).toBe("Mine 2");
    expect((await t.call("GET", "/v1/tenants/theirs", { token: key })).status).toBe(404);
    expect((await t.call("PATCH", "/v1/tenants/theirs", { token: key, body: { name: "x" } })).status).toBe(404);
    expect((await t.call("DELETE", "/v1/tenants/mine", { token: key })).status).toBe(403);
    expect((await t.call("POST", "/v1/tenants", { token: key, body: { name: "New" } })).status).toBe(403);
    expect((await t.call("GET", "/v1/tenants/mine")).body.name).toBe("Mine 2");
  });
});
