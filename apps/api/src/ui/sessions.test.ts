import { TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../test-app.ts";
import { browserFor } from "./test-browser.ts";

let t: TestApp;
let acmeId: string;

beforeAll(async () => {
  t = await createTestApp();
  acmeId = (await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } })).body.id;
});
afterAll(async () => {
  await t?.close();
});

const signedOut = (response: { status: number; location: string | null }) =>
  response.status === 303 && (response.location ?? "").startsWith("/ui/sign-in");

describe("console sessions end on the server", () => {
  it("signing out ends the session for every copy of its cookie, and its CSRF token stops working", async () => {
    const browser = browserFor(t);
    await browser.signIn(TEST_ADMIN_TOKEN);
    const page = await browser.request("GET", `/ui/t/${acmeId}/webhooks`);
    expect(page.status).toBe(200);
    const csrf = browser.csrfOf(page.text);
    const stolen = browser.clone();

    expect((await browser.request("POST", "/ui/sign-out", { _csrf: csrf })).location).toBe("/ui/sign-in");
    expect(signedOut(await stolen.request("GET", `/ui/t/${acmeId}/webhooks`))).toBe(true);
    const post = await stolen.request("POST", `/ui/t/${acmeId}/webhooks`, { _csrf: csrf, name: "late", url: "https://late.example.com" });
    expect(post.status).toBe(401);
    expect((await t.call("GET", "/v1/tenants/acme/endpoints")).body.data).toEqual([]);
  });

  it("revoking a key ends the console sessions opened with it and the portal links it minted", async () => {
    const key = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "revoked soon" } });
    const other = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "stays" } });
    const browser = browserFor(t);
    await browser.signIn(key.body.key);
    const link = await t.call("POST", "/v1/tenants/acme/portal-links", { body: { expiresIn: 7 * 24 * 3600 }, token: key.body.key });
    const otherLink = await t.call("POST", "/v1/tenants/acme/portal-links", { body: {}, token: other.body.key });
    const portal = browserFor(t);
    expect((await portal.request("GET", new URL(link.body.url).pathname)).location).toBe(`/ui/t/${acmeId}/webhooks`);
    expect((await portal.request("GET", `/ui/t/${acmeId}/webhooks`)).status).toBe(200);

    expect((await t.call("DELETE", `/v1/tenants/acme/api-keys/${key.body.id}`)).status).toBeLessThan(300);
    expect(signedOut(await browser.request("GET", `/ui/t/${acmeId}/webhooks`))).toBe(true);
    expect(signedOut(await portal.request("GET", `/ui/t/${acmeId}/webhooks`))).toBe(true);
    expect((await browserFor(t).request("GET", new URL(link.body.url).pathname)).status).toBe(401);
    // A link minted with another key of the tenant still opens.
    expect((await browserFor(t).request("GET", new URL(otherLink.body.url).pathname)).status).toBe(303);
  });

  it("lets the admin list active sessions and end one; tenants cannot", async () => {
    const key = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "listed" } });
    const browser = browserFor(t, { "user-agent": "session-list-test" });
    await browser.signIn(key.body.key);
    const listed = await t.call("GET", "/v1/sessions?limit=100");
    expect(listed.status).toBe(200);
    const mine = listed.body.data.find((s: { keyId: string }) => s.keyId === key.body.id);
    expect(mine).toMatchObject({ kind: "tenant", tenantId: acmeId, userAgent: "session-list-test" });
    expect(typeof mine.expiresAt).toBe("string");
    expect(JSON.stringify(listed.body)).not.toContain(key.body.key);

    expect((await t.call("GET", "/v1/sessions", { token: key.body.key })).status).toBe(403);
    expect((await t.call("DELETE", `/v1/sessions/${mine.id}`, { token: key.body.key })).status).toBe(403);
    expect((await t.call("DELETE", `/v1/sessions/${mine.id}`)).status).toBe(204);
    expect(signedOut(await browser.request("GET", `/ui/t/${acmeId}/webhooks`))).toBe(true);
    const after = await t.call("GET", "/v1/sessions?limit=100");
    expect(after.body.data.some((s: { id: string }) => s.id === mine.id)).toBe(false);
    expect((await t.call("DELETE", "/v1/sessions/ses_nope")).status).toBe(404);
  });
});
