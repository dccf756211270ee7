import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loggablePath } from "./app.ts";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(async () => {
  await t?.close();
});

describe("happy path", () => {
  it("creates and lists tenants, event types and endpoints", async () => {
    const tenant = await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme-happy" } });
    expect(tenant.status).toBe(201);
    expect(tenant.body).toMatchObject({ name: "Acme", uid: "acme-happy", metadata: {} });
    expect(tenant.body.id).toMatch(/^ten_/);

    const type = await t.call("POST", "/v1/event-types", { body: { name: "invoice.paid", description: "Paid", example: { n: 1 } } });
    expect(type.status).toBe(201);

    const endpoint = await t.call("POST", "/v1/tenants/acme-happy/endpoints", {
      body: { name: "Hook", url: "https://example.com/hook", eventTypes: ["invoice.paid", "invoice.*"] },
    });
    expect(endpoint.status).toBe(201);
    expect(endpoint.body).toMatchObject({ tenantId: tenant.body.id, eventTypes: ["invoice.paid", "invoice.*"], disabled: false });

    const listed = await t.call("GET", `/v1/tenants/${tenant.body.id}/endpoints`);
    expect(listed.body.data.map((e: { id: string }) => e.id)).toEqual([endpoint.body.id]);
    expect(listed.body.nextCursor).toBeNull();

    const secret = await t.call("GET", `/v1/tenants/acme-happy/endpoints/${endpoint.body.id}/secret`);
    expect(secret.body.secret).toMatch(/^whsec_/);

    const published = await t.call("POST", "/v1/tenants/acme-happy/events", { body: { eventType: "invoice.paid", payload: { n: 2 } } });
    expect(published.status).toBe(202);
    expect(published.body.deliveries).toBe(1);
    const job = await t.queue.getJob((await t.call("GET", `/v1/tenants/acme-happy/events/${published.body.id}`)).body.deliveries[0].id);
    expect(job?.data).toMatchObject({ eventId: published.body.id, endpointId: endpoint.body.id });
  });

  it("pages newest first with a cursor", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await t.call("POST", "/v1/tenants", { body: { name: `Page ${i}` } })).body.id);
    const first = await t.call("GET", "/v1/tenants?limit=2");
    expect(first.body.data.map((x: { id: string }) => x.id)).toEqual([ids[4], ids[3]]);
    const second = await t.call("GET", `/v1/tenants?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((x: { id: string }) => x.id)).toEqual([ids[2], ids[1]]);
  });
});

describe("errors", () => {
  it("answers 400 naming each invalid field", async () => {
    const response = await t.call("POST", "/v1/tenants", { body: { name: "", extra: true } });
    expectProblem(response, 400, "validation_failed");
    const paths = response.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toContain("name");
  });

  it("answers 400 for malformed JSON and 415 for another content type", async () => {
    expectProblem(await t.call("POST", "/v1/tenants", { body: "{nope" }), 400, "malformed_json");
    expectProblem(
      await t.call("POST", "/v1/tenants", { body: "name=x", headers: { "content-type": "text/plain" } }),
      415,
      "unsupported_media_type",
    );
  });

  it("answers 400 for an absurd limit", async () => {
    const response = await t.call("GET", "/v1/tenants?limit=-5");
    expectProblem(response, 400, "validation_failed");
    expect(response.body.errors[0].path).toBe("query.limit");
  });

  it("answers 404 for unknown ids and routes", async () => {
    expectProblem(await t.call("GET", "/v1/tenants/ten_01jdz3k5q8e6f0a1b2c3d4e5f6"), 404, "not_found");
    expectProblem(await t.call("GET", "/v1/tenants/nobody/endpoints"), 404, "not_found");
    expectProblem(await t.call("GET", "/v1/nothing-here"), 404, "not_found");
  });

  it("answers 422 for an event type not in the catalog", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "E", uid: "acme-errors" } });
    const response = await t.call("POST", "/v1/tenants/acme-errors/events", { body: { eventType: "nope.never", payload: {} } });
    expectProblem(response, 422, "unknown_event_type");
  });

  it("answers 409 for a duplicate uid", async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "A", uid: "dupe" } });
    expectProblem(await t.call("POST", "/v1/tenants", { body: { name: "B", uid: "dupe" } }), 409, "conflict");
  });
});

describe("security", () => {
  it("answers 401 without a token or with a wrong one", async () => {
    expectProblem(await t.call("GET", "/v1/tenants", { token: null }), 401, "unauthorized");
    expectProblem(await t.call("GET", "/v1/tenants", { token: "wrong-token-wrong-token" }), 401, "unauthorized");
    expectProblem(await t.call("GET", "/v1/tenants", { token: null, headers: { authorization: "Basic abc" } }), 401, "unauthorized");
  });

  it("leaves health checks open", async () => {
    expect((await t.call("GET", "/healthz", { token: null })).status).toBe(200);
    const ready = await t.call("GET", "/readyz", { token: null });
    expect(ready.body).toEqual({ status: "ok", postgres: "ok", redis: "ok" });
  });
});

describe("loggablePath", () => {
  it("keeps a portal link's token out of what logs and traces keep, and every other path as it is", () => {
    expect(loggablePath("/ui/portal/eyJ0ZW5hbnRJZCI6.c2lnbmF0dXJl")).toBe("/ui/portal/REDACTED");
    expect(loggablePath("/v1/tenants/acme/events")).toBe("/v1/tenants/acme/events");
    expect(loggablePath("/ui/portals")).toBe("/ui/portals");
  });
});
