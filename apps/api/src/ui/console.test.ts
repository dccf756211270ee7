import { TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deriveKey, signToken, verifyToken } from "../signed-token.ts";
import { createTestApp, type TestApp } from "../test-app.ts";
import { browserFor } from "./test-browser.ts";

let t: TestApp;
let acmeId: string;
let acmeKey: string;

beforeAll(async () => {
  t = await createTestApp();
  acmeId = (await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } })).body.id;
  await t.call("POST", "/v1/tenants", { body: { name: "Globex", uid: "globex" } });
  await t.call("POST", "/v1/tenants/globex/endpoints", { body: { name: "Globex hook", url: "https://globex.example.com/hook" } });
  await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Acme hook", url: "https://acme.example.com/hook" } });
  acmeKey = (await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "console" } })).body.key;
});
afterAll(async () => {
  await t?.close();
});

const client = () => browserFor(t);

describe("console sessions", () => {
  it("signs in with the admin token; the cookie is HttpOnly, SameSite=Lax and does not hold the token", async () => {
    const browser = client();
    const response = await browser.signIn(TEST_ADMIN_TOKEN);
    expect(response.status).toBe(303);
    const cookie = response.headers.getSetCookie().find((c) => c.startsWith("herald_session="));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).not.toContain(TEST_ADMIN_TOKEN);
    expect(Buffer.from(cookie?.split("=")[1]?.split(".")[0] ?? "", "base64url").toString()).not.toContain(TEST_ADMIN_TOKEN);
    const dashboard = await browser.request("GET", "/ui/dashboard");
    expect(dashboard.status).toBe(200);
    expect(dashboard.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("refuses a sign-in post without the form's CSRF token", async () => {
    const browser = client();
    await browser.request("GET", "/ui/sign-in");
    const response = await browser.request("POST", "/ui/sign-in", { _csrf: "forged", token: TEST_ADMIN_TOKEN });
    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie().some((c) => c.startsWith("herald_session="))).toBe(false);
  });

  it("refuses a signed-in form post without the session's CSRF token", async () => {
    const browser = client();
    await browser.signIn(TEST_ADMIN_TOKEN);
    const response = await browser.request("POST", "/ui/t/acme/webhooks", { _csrf: "forged", name: "x", url: "https://x.example.com" });
    expect(response.status).toBe(403);
    const listed = await t.call("GET", "/v1/tenants/acme/endpoints");
    expect(listed.body.data.map((e: { name: string }) => e.name)).toEqual(["Acme hook"]);
  });

  it("refuses an oversized form before reading it", async () => {
    const browser = client();
    await browser.signIn(TEST_ADMIN_TOKEN);
    const response = await browser.request("POST", "/ui/t/acme/webhooks", { _csrf: "x", name: "x".repeat(300 * 1024) });
    expect(response.status).toBe(413);
  });

  it("sends a tampered or missing session to the sign-in page", async () => {
    const browser = client();
    await browser.signIn(TEST_ADMIN_TOKEN);
    const [body, signature] = (browser.jar.get("herald_session") ?? "").split(".");
    const forged = Buffer.from(JSON.stringify({ kind: "admin", sid: "x", exp: 4_000_000_000 })).toString("base64url");
    browser.jar.set("herald_session", `${forged}.${signature}`);
    expect((await browser.request("GET", "/ui/dashboard")).location).toMatch(/^\/ui\/sign-in/);
    expect(body).toBeTruthy();
    expect((await client().request("GET", "/ui/t/acme/webhooks")).location).toMatch(/^\/ui\/sign-in/);
    expect((await client().request("GET", "/")).location).toBe("/ui");
    expect((await client().request("GET", "/ui/")).location).toBe((await client().request("GET", "/ui")).location);
    expect((await client().request("GET", "/ui/")).location).toMatch(/^\/ui\/sign-in/);
  });

  it("lets a tenant key see its own tenant only, and ends the session when the key is revoked", async () => {
    const key = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "short-lived" } });
    const browser = client();
    expect((await browser.signIn(key.body.key)).status).toBe(303);
    const own = await browser.request("GET", "/ui/t/acme/webhooks");
    expect(own.status).toBe(200);
    expect(own.text).toContain("Acme hook");
    const home = await browser.request("GET", "/ui/dashboard");
    expect(home.location).toBe(`/ui/t/${acmeId}/dashboard`);
    const dashboard = await browser.request("GET", home.location ?? "");
    expect(dashboard.status).toBe(200);
    expect(dashboard.text).toContain("deliveries waiting");
    expect(dashboard.text).not.toContain("jobs in the queue");
    const foreign = await browser.request("GET", "/ui/t/globex/webhooks");
    expect(foreign.status).toBe(404);
    expect(foreign.text).not.toContain("Globex hook");

    expect((await t.call("DELETE", `/v1/tenants/acme/api-keys/${key.body.id}`)).status).toBeLessThan(300);
    expect((await browser.request("GET", "/ui/t/acme/webhooks")).location).toMatch(/^\/ui\/sign-in/);
  });

  it("does not let a tenant key mint portal links for another tenant", async () => {
    const response = await t.call("POST", "/v1/tenants/globex/portal-links", { body: {}, token: acmeKey });
    expect(response.status).toBe(404);
    const own = await t.call("POST", "/v1/tenants/acme/portal-links", { body: { expiresIn: 60 }, token: acmeKey });
    expect(own.status).toBe(201);
    expect(own.body.tenantId).toBe(acmeId);
  });

  it("refuses portal links that are expired, forged or minted for another purpose", async () => {
    const config = { HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN, HERALD_SESSION_SECRET: undefined };
    const portalKey = deriveKey(config, "portal-link");
    const expired = signToken(portalKey, { tenantId: acmeId, exp: Math.floor(Date.now() / 1000) - 1 } as { exp: number });
    expect(verifyToken(portalKey, expired)).toBeUndefined();
    const otherPurpose = signToken(deriveKey(config, "ui-session"), { tenantId: acmeId, exp: 4_000_000_000 } as { exp: number });
    for (const token of [expired, otherPurpose, "not.a.token", "x"]) {
      expect((await client().request("GET", `/ui/portal/${token}`)).status).toBe(401);
    }
    const link = await t.call("POST", "/v1/tenants/acme/portal-links", { body: {} });
    const portal = client();
    const opened = await portal.request("GET", new URL(link.body.url).pathname);
    expect(opened.location).toBe(`/ui/t/${acmeId}/webhooks`);
    expect((await portal.request("GET", "/ui/t/globex/webhooks")).status).toBe(404);
    const page = await portal.request("GET", `/ui/t/${acmeId}/webhooks`);
    const minted = await portal.request("POST", `/ui/t/${acmeId}/portal-link`, { _csrf: portal.csrfOf(page.text) });
    expect(minted.status).toBe(403);
  });
});
