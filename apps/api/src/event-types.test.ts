import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
});
afterAll(async () => {
  await t?.close();
});

const paymentSchema = {
  type: "object",
  required: ["amount", "currency"],
  properties: {
    amount: { type: "integer", minimum: 1 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    email: { type: "string", format: "email" },
  },
  additionalProperties: false,
};

describe("happy path", () => {
  it("creates, gets, updates and archives a catalog entry", async () => {
    const created = await t.call("POST", "/v1/event-types", {
      body: { name: "invoice.paid", description: "An invoice was paid", example: { invoiceId: "in_1" } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: "invoice.paid", description: "An invoice was paid", example: { invoiceId: "in_1" } });
    expect(created.body).toMatchObject({ schema: null, archived: false });

    expect((await t.call("GET", "/v1/event-types/invoice.paid")).body.description).toBe("An invoice was paid");
    const updated = await t.call("PATCH", "/v1/event-types/invoice.paid", { body: { description: "Paid in full" } });
    expect(updated.body.description).toBe("Paid in full");

    const archived = await t.call("PATCH", "/v1/event-types/invoice.paid", { body: { archived: true } });
    expect(archived.body.archived).toBe(true);
    const listed = await t.call("GET", "/v1/event-types");
    expect(listed.body.data.map((x: { name: string }) => x.name)).not.toContain("invoice.paid");
    const all = await t.call("GET", "/v1/event-types?includeArchived=true");
    expect(all.body.data.map((x: { name: string }) => x.name)).toContain("invoice.paid");
    const publish = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: {} } });
    expect(publish.status).toBe(422);
    expect(publish.body.code).toBe("unknown_event_type");
  });

  it("lists the catalog alphabetically with a cursor", async () => {
    for (const name of ["zeta.one", "zeta.two", "zeta.three"]) {
      await t.call("POST", "/v1/event-types", { body: { name, description: name } });
    }
    const first = await t.call("GET", "/v1/event-types?limit=2&cursor=zeta.a");
    expect(first.body.data.map((x: { name: string }) => x.name)).toEqual(["zeta.one", "zeta.three"]);
    const second = await t.call("GET", `/v1/event-types?limit=2&cursor=${first.body.nextCursor}`);
    expect(second.body.data.map((x: { name: string }) => x.name)).toEqual(["zeta.two"]);
    expect(second.body.nextCursor).toBeNull();
  });

  it("publishes a payload that satisfies the type's schema", async () => {
    await t.call("POST", "/v1/event-types", {
      body: { name: "payment.received", description: "", example: { amount: 100, currency: "EUR" }, schema: paymentSchema },
    });
    const ok = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "payment.received", payload: { amount: 4200, currency: "EUR", email: "a@example.com" } },
    });
    expect(ok.status).toBe(202);
  });
});

describe("errors", () => {
  it.each([
    ["Payment.Received", "upper case"],
    ["payment", "no dot"],
    ["payment.", "empty action"],
    [".received", "empty resource"],
    ["payment..received", "empty part"],
    ["payment.re ceived", "space"],
    ["payment.*", "wildcard"],
    ["a".repeat(101), "too long"],
  ])("refuses the name %s (%s)", async (name) => {
    const response = await t.call("POST", "/v1/event-types", { body: { name, description: "" } });
    expect(response.status).toBe(400);
    expect(response.body.errors.map((e: { path: string }) => e.path)).toContain("name");
  });

  it("answers 400 for an invalid JSON Schema, naming the schema field", async () => {
    for (const schema of [{ type: "no-such-type" }, { properties: 5 }, { $ref: "#/$defs/missing" }, { pattern: "([" }]) {
      const response = await t.call("POST", "/v1/event-types", { body: { name: "broken.schema", description: "", schema } });
      expect(response.status, JSON.stringify(schema)).toBe(400);
      expect(response.body.errors[0].path).toBe("schema");
    }
    expect((await t.call("GET", "/v1/event-types/broken.schema")).status).toBe(404);
  });

  it("answers 400 when the example does not match the schema, on create and on update", async () => {
    const create = await t.call("POST", "/v1/event-types", {
      body: { name: "refund.issued", description: "", example: { amount: "lots" }, schema: paymentSchema },
    });
    expect(create.status).toBe(400);
    expect(create.body.errors.map((e: { path: string }) => e.path)).toEqual(expect.arrayContaining(["example.amount", "example.currency"]));
    await t.call("POST", "/v1/event-types", { body: { name: "refund.issued", description: "", example: { amount: "lots" } } });
    const update = await t.call("PATCH", "/v1/event-types/refund.issued", { body: { schema: paymentSchema } });
    expect(update.status).toBe(400);
    expect((await t.call("GET", "/v1/event-types/refund.issued")).body.schema).toBeNull();
  });

  it("answers 422 payload_invalid listing each schema error", async () => {
    await t.call("POST", "/v1/event-types", { body: { name: "charge.failed", description: "", schema: paymentSchema } });
    const response = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "charge.failed", payload: { amount: 0, currency: "euro", email: "nope", extra: 1 } },
    });
    expect(response.status).toBe(422);
    expect(response.body.code).toBe("payload_invalid");
    const paths = response.body.errors.map((e: { path: string }) => e.path);
    expect(paths).toEqual(expect.arrayContaining(["payload.amount", "payload.currency", "payload.email", "payload.extra"]));
    const [count] = await t.sql`select count(*)::int as n from events where event_type = 'charge.failed'`;
    expect(count?.n).toBe(0);
  });

  it("uses the new schema right after an update (the compiled schema is not stale)", async () => {
    await t.call("POST", "/v1/event-types", { body: { name: "plan.changed", description: "", schema: { type: "object" } } });
    expect((await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "plan.changed", payload: { plan: 1 } } })).status).toBe(
      202,
    );
    await t.call("PATCH", "/v1/event-types/plan.changed", {
      body: { schema: { type: "object", properties: { plan: { type: "string" } } } },
    });
    const after = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "plan.changed", payload: { plan: 1 } } });
    expect(after.status).toBe(422);
    await t.call("PATCH", "/v1/event-types/plan.changed", { body: { schema: null } });
    expect((await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "plan.changed", payload: { plan: 1 } } })).status).toBe(
      202,
    );
  });

  it("answers 400 for hostile nesting and NUL characters instead of failing to store them", async () => {
    const deep = `{"name":"deep.example","description":"","example":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const nested = await t.call("POST", "/v1/event-types", { body: deep });
    expect(nested.status).toBe(400);
    expect(nested.body.errors[0]).toMatchObject({ path: "example", message: "must not nest more than 64 levels deep" });
    const nul = await t.call("POST", "/v1/event-types", { body: { name: "nul.example", description: "a\u0000b" } });
    expect(nul.status).toBe(400);
    expect(nul.body.code).toBe("validation_failed");
  });

  it("answers 409 for a duplicate name and 404 for an unknown one", async () => {
    await t.call("POST", "/v1/event-types", { body: { name: "dup.name", description: "" } });
    expect((await t.call("POST", "/v1/event-types", { body: { name: "dup.name", description: "" } })).status).toBe(409);
    expect((await t.call("GET", "/v1/event-types/never.seen")).status).toBe(404);
    expect((await t.call("PATCH", "/v1/event-types/never.seen", { body: { archived: true } })).status).toBe(404);
  });
});

describe("security", () => {
  it("lets a tenant key read the catalog but not write it", async () => {
    const key = (await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "k" } })).body.key;
    expect((await t.call("GET", "/v1/event-types", { token: key })).status).toBe(200);
    expect((await t.call("POST", "/v1/event-types", { token: key, body: { name: "key.made", description: "" } })).status).toBe(403);
  });

  it("does not fetch remote $refs", async () => {
    const response = await t.call("POST", "/v1/event-types", {
      body: { name: "remote.ref", description: "", schema: { $ref: "http://169.254.169.254/schema.json" } },
    });
    expect(response.status).toBe(400);
  });
});
