import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { validatorFor } from "./services/payload-schema.ts";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

/** The holes of the security review (issue 11) that are plain API behaviour, each checked the way it was found. */
let t: TestApp;
let acmeKey: string;

beforeAll(async () => {
  t = await createTestApp();
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/tenants", { body: { name: "Beta", uid: "beta" } });
  acmeKey = (await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "tenant" } })).body.key;
});
afterAll(async () => {
  await t?.close();
});

describe("a tenant key and its tenant's uid", () => {
  it("cannot change the uid, to a free one or a taken one, and learns nothing about which uids exist", async () => {
    const free = await t.call("PATCH", "/v1/tenants/acme", { body: { uid: "gamma" }, token: acmeKey });
    expectProblem(free, 403, "forbidden");
    const taken = await t.call("PATCH", "/v1/tenants/acme", { body: { uid: "beta" }, token: acmeKey });
    expectProblem(taken, 403, "forbidden");
    expect(taken.body.detail).toBe(free.body.detail);
    expectProblem(await t.call("PATCH", "/v1/tenants/acme", { body: { uid: null }, token: acmeKey }), 403, "forbidden");
    expect((await t.call("GET", "/v1/tenants/gamma")).status).toBe(404);
    expect((await t.call("GET", "/v1/tenants/acme")).body.uid).toBe("acme");
  });

  it("may still rename its tenant, and send its own uid unchanged", async () => {
    const renamed = await t.call("PATCH", "/v1/tenants/acme", { body: { name: "Acme Inc", uid: "acme" }, token: acmeKey });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: "Acme Inc", uid: "acme" });
  });

  it("leaves changing a uid to the admin", async () => {
    expect((await t.call("PATCH", "/v1/tenants/beta", { body: { uid: "beta2" } })).body.uid).toBe("beta2");
    expectProblem(await t.call("PATCH", "/v1/tenants/beta2", { body: { uid: "acme" } }), 409, "conflict");
  });
});

describe("JSON Schema patterns run in linear time", () => {
  const hostile = { type: "object", properties: { s: { type: "string", pattern: "^(a+)+$" } } };

  it("validates a long input against ^(a+)+$ within 100 ms", () => {
    const validate = validatorFor("redos.probe", 1, hostile);
    expect(validate).toBeDefined();
    // Warm up on a matching input of the same length, so the measure is the match, not the first compilation by V8.
    expect(validate?.({ s: "a".repeat(1000) })).toBe(true);
    const started = performance.now();
    // A backtracking engine needs about 2^1000 steps for this.
    expect(validate?.({ s: `${"a".repeat(1000)}!` })).toBe(false);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("publishes against such a schema at once: refuses the hostile payload, takes a matching one", async () => {
    expect((await t.call("POST", "/v1/event-types", { body: { name: "redos.test", description: "x", schema: hostile } })).status).toBe(201);
    const refused = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "redos.test", payload: { s: `${"a".repeat(200)}!` } },
    });
    expectProblem(refused, 422, "payload_invalid");
    const taken = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "redos.test", payload: { s: "aaaa" } } });
    expect(taken.status).toBe(202);
  });

  it("refuses, when the schema is saved, patterns the linear engine cannot run (lookaround, backreferences)", async () => {
    for (const pattern of ["^(?=a)a$", "(a)\\1", "(?<!x)y"]) {
      const schema = { type: "object", properties: { s: { type: "string", pattern } } };
      const created = await t.call("POST", "/v1/event-types", { body: { name: "redos.refused", description: "x", schema } });
      expectProblem(created, 422, "unsupported_pattern");
      expect(created.body.detail).toContain(JSON.stringify(pattern));
    }
    const props = { type: "object", patternProperties: { "^(?!x)": { type: "string" } } };
    expectProblem(
      await t.call("POST", "/v1/event-types", { body: { name: "redos.refused", description: "x", schema: props } }),
      422,
      "unsupported_pattern",
    );
    // Ordinary patterns keep working, with Unicode classes.
    const unicode = { type: "object", properties: { s: { type: "string", pattern: "^\\p{L}+\\d{2,}$" } } };
    expect((await t.call("POST", "/v1/event-types", { body: { name: "redos.ok", description: "x", schema: unicode } })).status).toBe(201);
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "redos.ok", payload: { s: "ab1" } } }),
      422,
      "payload_invalid",
    );
    expect((await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "redos.ok", payload: { s: "héllo42" } } })).status).toBe(
      202,
    );
  });
});

describe("custom endpoint headers are checked as HTTP allows", () => {
  it.each([
    ["x-euro", "€uro", "headers.x-euro"],
    ["x-control", "a\u0001b", "headers.x-control"],
    ["x-delete", "a\u007fb", "headers.x-delete"],
    ["x-break", "1\r\nx-injected: 2", "headers.x-break"],
    ["x a", "1", "headers.x a"],
    ["Webhook-Id", "x", "headers.Webhook-Id"],
  ])("refuses %s: %j with a 422 naming the header, on create and update", async (name, value, path) => {
    const created = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "H", url: "https://h.example.com", headers: { [name]: value } },
    });
    expectProblem(created, 422, "invalid_header");
    expect(created.body.errors[0].path).toBe(path);
    expect(created.body.detail).toContain(name);
    const ok = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "H", url: "https://h.example.com" } });
    const updated = await t.call("PATCH", `/v1/tenants/acme/endpoints/${ok.body.id}`, { body: { headers: { [name]: value } } });
    expectProblem(updated, 422, "invalid_header");
    await t.call("DELETE", `/v1/tenants/acme/endpoints/${ok.body.id}`);
  });

  it("treats names case-insensitively: X-Dup and x-dup together are refused", async () => {
    const created = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "H", url: "https://h.example.com", headers: { "X-Dup": "1", "x-dup": "2" } },
    });
    expectProblem(created, 422, "invalid_header");
    expect(created.body.detail).toMatch(/x-dup/i);
  });

  it("gives a stored header that cannot be sent its own error kind, not invalid_url", async () => {
    await t.call("POST", "/v1/event-types", { body: { name: "header.test", description: "x", example: {} } });
    const ok = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Old", url: "https://old.example.com" } });
    // Saved before this check existed.
    await t.sql`update endpoints set headers = ${JSON.stringify({ "x-euro": "€uro" })}::jsonb where id = ${ok.body.id}`;
    const sent = await t.call("POST", `/v1/tenants/acme/endpoints/${ok.body.id}/test`, { body: { eventType: "header.test" } });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ ok: false, errorKind: "invalid_header" });
    expect(sent.body.errorMessage).toContain("x-euro");
  });
});

describe("times before 1970", () => {
  it.each([
    ["/v1/tenants/acme/events?after=1969-12-31T23:59:59Z", "after"],
    ["/v1/tenants/acme/events?before=1969-12-31T23:59:59Z", "before"],
    ["/v1/tenants/acme/deliveries?after=1900-01-01T00:00:00Z", "after"],
    ["/v1/tenants/acme/deliveries?before=1969-06-01T00:00:00Z", "before"],
  ])("GET %s answers 422 naming %s", async (path, field) => {
    const response = await t.call("GET", path);
    expectProblem(response, 422, "time_out_of_range");
    expect(response.body.errors[0].path).toBe(field);
  });

  it("refuses recover since a time before 1970 with 422", async () => {
    const ok = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "R", url: "https://r.example.com" } });
    const response = await t.call("POST", `/v1/tenants/acme/endpoints/${ok.body.id}/recover`, { body: { since: "1969-12-31T00:00:00Z" } });
    expectProblem(response, 422, "time_out_of_range");
    expect(response.body.errors[0].path).toBe("since");
    expect((await t.call("GET", "/v1/tenants/acme/events?after=1970-01-01T00:00:00Z")).status).toBe(200);
  });
});
