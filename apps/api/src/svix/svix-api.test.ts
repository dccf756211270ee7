import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../test-app.ts";

/**
 * The Svix-compatible API in-process, for what the SDK test does not reach:
 * a tenant API key sees its own application only, Svix's error shapes replace
 * Herald's problem documents under /api/v1, and PUT/PATCH/DELETE behave as
 * Svix's do.
 */
let t: TestApp;
let acmeKey: string;

beforeAll(async () => {
  t = await createTestApp();
  // Herald's own API makes the key, as an operator would; the calls under test use only /api/v1.
  await t.call("POST", "/api/v1/app", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/api/v1/app", { body: { name: "Globex", uid: "globex" } });
  acmeKey = (await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "svix sdk" } })).body.key;
});
afterAll(async () => {
  await t?.close();
});

describe("a tenant API key", () => {
  it("sees its own application and nothing else", async () => {
    expect((await t.call("GET", "/api/v1/app/acme", { token: acmeKey })).status).toBe(200);
    const listed = await t.call("GET", "/api/v1/app", { token: acmeKey });
    expect(listed.body.data.map((app: { uid: string }) => app.uid)).toEqual(["acme"]);
    expect(listed.body.done).toBe(true);
    const other = await t.call("GET", "/api/v1/app/globex/endpoint", { token: acmeKey });
    expect(other.status).toBe(404);
    expect(other.body).toEqual({ code: "not_found", detail: "tenant globex does not exist" });
  });

  it("cannot create applications or event types: 403 in Svix's shape", async () => {
    const app = await t.call("POST", "/api/v1/app", { token: acmeKey, body: { name: "Mine" } });
    expect(app.status).toBe(403);
    expect(app.body).toMatchObject({ code: "insufficient access" });
    const type = await t.call("POST", "/api/v1/event-type", { token: acmeKey, body: { name: "a.b", description: "" } });
    expect(type.status).toBe(403);
  });
});

describe("Svix's shapes for what is not Svix's happy path", () => {
  it("answers 401, an unknown path, a query error and a refused field as Svix would", async () => {
    const anonymous = await t.call("GET", "/api/v1/app", { token: null });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: "authentication_failed" });
    expect(anonymous.headers.get("content-type")).toContain("application/json");

    const unknown = await t.call("GET", "/api/v1/nothing-here");
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: "not_found" });

    const badLimit = await t.call("GET", "/api/v1/app?limit=1000");
    expect(badLimit.status).toBe(422);
    expect(badLimit.body.detail[0]).toMatchObject({ loc: ["query", "limit"], type: "value_error" });

    const scheduled = await t.call("POST", "/api/v1/app/acme/msg", {
      body: { eventType: "a.b", payload: {}, deliverAt: "2030-01-01T00:00:00Z" },
    });
    expect(scheduled.status).toBe(422);
    expect(scheduled.body.detail).toEqual([
      { loc: ["body", "deliverAt"], msg: "Herald has no scheduled messages; send the message when it is due", type: "value_error" },
    ]);

    const rateLimited = await t.call("POST", "/api/v1/app", { body: { name: "Fast", rateLimit: 10 } });
    expect(rateLimited.status).toBe(422);
    expect(rateLimited.body.detail[0].loc).toEqual(["body", "rateLimit"]);
  });

  it("answers 501 naming a Svix operation Herald does not offer", async () => {
    const replay = await t.call("POST", "/api/v1/app/acme/endpoint/ep_x/replay-missing", { body: { since: "2026-01-01T00:00:00Z" } });
    expect(replay.status).toBe(501);
    expect(replay.body).toMatchObject({ code: "not_implemented" });
    expect(replay.body.detail).toContain("replay-missing");
  });

  it("creates the application with the message when asked, and the message then has it", async () => {
    await t.call("POST", "/api/v1/event-type", { body: { name: "order.placed", description: "" } });
    const sent = await t.call("POST", "/api/v1/app/initech/msg", {
      body: { eventType: "order.placed", payload: { n: 1 }, application: { name: "Initech", uid: "initech" } },
    });
    expect(sent.status).toBe(202);
    expect((await t.call("GET", "/api/v1/app/initech")).body).toMatchObject({ name: "Initech", uid: "initech" });
    expect((await t.call("GET", `/api/v1/app/initech/msg/${sent.body.id}`)).body.payload).toEqual({ n: 1 });
  });
});

describe("paths as Svix's documentation writes them", () => {
  it("takes a trailing slash, as in Svix's curl examples (POST /api/v1/app/)", async () => {
    const created = await t.call("POST", "/api/v1/app/", { body: { name: "Hooli", uid: "hooli" } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ uid: "hooli", name: "Hooli" });
    const listed = await t.call("GET", "/api/v1/app/hooli/endpoint/");
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ data: [], done: true });
  });
});

describe("Svix's update semantics", () => {
  it("PUT creates what is missing and replaces what exists; PATCH changes only what it names", async () => {
    const created = await t.call("PUT", "/api/v1/app/umbrella", { body: { name: "Umbrella", uid: "umbrella", metadata: { a: "1" } } });
    expect(created.status).toBe(201);
    const replaced = await t.call("PUT", "/api/v1/app/umbrella", { body: { name: "Umbrella Corp" } });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ id: created.body.id, name: "Umbrella Corp", uid: null, metadata: {} });
    const patched = await t.call("PATCH", `/api/v1/app/${created.body.id}`, { body: { uid: "umbrella" } });
    expect(patched.body).toMatchObject({ name: "Umbrella Corp", uid: "umbrella" });

    const typeCreated = await t.call("PUT", "/api/v1/event-type/shipment.sent", { body: { description: "Sent" } });
    expect(typeCreated.status).toBe(201);
    expect((await t.call("DELETE", "/api/v1/event-type/shipment.sent")).status).toBe(204);
    expect((await t.call("GET", "/api/v1/event-type/shipment.sent")).body.archived).toBe(true);
    const expunge = await t.call("DELETE", "/api/v1/event-type/shipment.sent?expunge=true");
    expect(expunge.status).toBe(422);
    expect(expunge.body.detail[0].loc).toEqual(["query", "expunge"]);

    const endpoint = await t.call("PUT", "/api/v1/app/umbrella/endpoint/hook", {
      body: { url: "https://umbrella.example.com/hook", uid: "hook", filterTypes: ["shipment.sent"], rateLimit: 5 },
    });
    expect(endpoint.status).toBe(201);
    const patchedEndpoint = await t.call("PATCH", "/api/v1/app/umbrella/endpoint/hook", { body: { description: "Shipping" } });
    expect(patchedEndpoint.body).toMatchObject({ description: "Shipping", filterTypes: ["shipment.sent"], rateLimit: 5, throttleRate: 5 });
    const replacedEndpoint = await t.call("PUT", "/api/v1/app/umbrella/endpoint/hook", {
      body: { url: "https://umbrella.example.com/v2" },
    });
    expect(replacedEndpoint.status).toBe(200);
    expect(replacedEndpoint.body).toMatchObject({ id: endpoint.body.id, uid: null, description: "", filterTypes: null, rateLimit: null });
  });

  it("lists oldest first when asked for ascending order", async () => {
    const ascending = await t.call("GET", "/api/v1/app?order=ascending&limit=2");
    const descending = await t.call("GET", "/api/v1/app?limit=250");
    const all = descending.body.data.map((app: { id: string }) => app.id);
    expect(ascending.body.data.map((app: { id: string }) => app.id)).toEqual([...all].reverse().slice(0, 2));
    expect(ascending.body.done).toBe(false);
  });
});
