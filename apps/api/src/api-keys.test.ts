import { createHash } from "node:crypto";
import { eventually } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

let t: TestApp;
let acme: string;
let globex: string;
beforeAll(async () => {
  t = await createTestApp();
  acme = (await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } })).body.id;
  globex = (await t.call("POST", "/v1/tenants", { body: { name: "Globex", uid: "globex" } })).body.id;
});
afterAll(async () => {
  await t?.close();
});

async function newKey(tenant: string, body: Record<string, unknown> = { name: "backend" }) {
  const created = await t.call("POST", `/v1/tenants/${tenant}/api-keys`, { body });
  expect(created.status).toBe(201);
  return created.body as { id: string; key: string; start: string };
}

describe("happy path", () => {
  it("creates a key shown once, stores only its hash, and lists it without the key", async () => {
    const created = await newKey("acme");
    expect(created.key).toMatch(/^hk_[A-Za-z0-9_-]{40,}$/);
    expect(created.key.startsWith(created.start)).toBe(true);
    expect(created).toMatchObject({ tenantId: acme, name: "backend", lastUsedAt: null, revokedAt: null });

    const [row] = await t.sql`select hash from api_keys where id = ${created.id}`;
    expect(row?.hash).toBe(createHash("sha256").update(created.key).digest("hex"));
    const [leak] = await t.sql`select count(*)::int as n from api_keys where hash = ${created.key} or start = ${created.key}`;
    expect(leak?.n).toBe(0);

    const listed = await t.call("GET", "/v1/tenants/acme/api-keys");
    const item = listed.body.data.find((k: { id: string }) => k.id === created.id);
    expect(item).toMatchObject({ id: created.id, start: created.start });
    expect(item).not.toHaveProperty("key");
  });

  it("lets a key act on its own tenant and records when it was last used", async () => {
    const { id, key } = await newKey("acme");
    const tenant = await t.call("GET", "/v1/tenants/acme", { token: key });
    expect(tenant.status).toBe(200);
    expect(tenant.body.id).toBe(acme);
    const lastUsed = await eventually(async () => {
      const [row] = await t.sql`select last_used_at from api_keys where id = ${id}`;
      return row?.last_used_at as Date | null;
    });
    // A second use within the minute does not write again.
    await t.call("GET", "/v1/tenants/acme", { token: key });
    const [again] = await t.sql`select last_used_at from api_keys where id = ${id}`;
    expect(again?.last_used_at).toEqual(lastUsed);
    const listed = await t.call("GET", "/v1/tenants/acme/api-keys");
    expect(listed.body.data.find((k: { id: string }) => k.id === id).lastUsedAt).not.toBeNull();
  });

  it("lists only the key's own tenant among tenants", async () => {
    const { key } = await newKey("acme");
    const listed = await t.call("GET", "/v1/tenants", { token: key });
    expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([acme]);
  });
});

describe("errors", () => {
  it("answers 400 for a missing name or unknown fields, 404 for an unknown key", async () => {
    const bad = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "", scopes: ["all"] } });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain("name");
    expect((await t.call("DELETE", "/v1/tenants/acme/api-keys/key_nope")).status).toBe(404);
    expect((await t.call("GET", "/v1/tenants/nobody/api-keys")).status).toBe(404);
  });
});

describe("security", () => {
  it("stops a revoked key at once and keeps the row", async () => {
    const { id, key } = await newKey("acme");
    expect((await t.call("GET", "/v1/tenants/acme", { token: key })).status).toBe(200);
    const revoked = await t.call("DELETE", `/v1/tenants/acme/api-keys/${id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    const after = await t.call("GET", "/v1/tenants/acme", { token: key });
    expect(after.status).toBe(401);
    expect(after.body.code).toBe("unauthorized");
  });

  it("refuses a key once it has expired, and a key that would be born expired", async () => {
    const { id, key } = await newKey("acme", { name: "soon", expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
    expect((await t.call("GET", "/v1/tenants/acme", { token: key })).status).toBe(200);
    await t.sql`update api_keys set expires_at = now() - interval '1 second' where id = ${id}`;
    expect((await t.call("GET", "/v1/tenants/acme", { token: key })).status).toBe(401);
    const past = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "old", expiresAt: "2020-01-01T00:00:00.000Z" } });
    expect(past.status).toBe(400);
    expect(past.body.errors[0].path).toBe("expiresAt");
  });

  it("refuses a key that is one character off", async () => {
    const { key } = await newKey("acme");
    const tampered = key.slice(0, -1) + (key.endsWith("A") ? "B" : "A");
    expect((await t.call("GET", "/v1/tenants/acme", { token: tampered })).status).toBe(401);
  });

  it("hides other tenants' keys: listing and revoking a foreign key answer 404", async () => {
    const foreign = await newKey("globex");
    const { key } = await newKey("acme");
    expect((await t.call("GET", `/v1/tenants/${globex}/api-keys`, { token: key })).status).toBe(404);
    expect((await t.call("DELETE", `/v1/tenants/globex/api-keys/${foreign.id}`, { token: key })).status).toBe(404);
    // Its own tenant's path with the foreign key id is absent too.
    expect((await t.call("DELETE", `/v1/tenants/acme/api-keys/${foreign.id}`, { token: key })).status).toBe(404);
    expect((await t.call("GET", "/v1/tenants/globex", { token: foreign.key })).status).toBe(200);
  });

  it("answers 403 to a tenant key for admin-only operations", async () => {
    const { key } = await newKey("acme");
    for (const [method, path, body] of [
      ["POST", "/v1/tenants", { name: "Sneaky" }],
      ["DELETE", "/v1/tenants/acme", undefined],
      ["POST", "/v1/event-types", { name: "sneaky.event", description: "" }],
      ["PATCH", "/v1/event-types/sneaky.event", { archived: true }],
    ] as const) {
      const response = await t.call(method, path, { token: key, body });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.code).toBe("forbidden");
    }
    expect((await t.call("GET", "/v1/tenants/acme", { token: key })).status).toBe(200);
  });
});
