import { type Receiver, respondWith, startReceiver, TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FUZZ_SEED, ODD_NUMBERS_AND_ESCAPES, seededRandom } from "../fuzz-support.ts";
import { createTestApp, type TestApp } from "../test-app.ts";
import { browserFor } from "./test-browser.ts";

/**
 * Random and malformed requests to every console page and form, as the
 * admin, a tenant key and a portal session; none may answer 5xx. Seeded like
 * the API's fuzz test (HERALD_FUZZ_SEED), and a failure names the request.
 */
const REQUESTS = Number(process.env.HERALD_CONSOLE_FUZZ_REQUESTS ?? 400);

const { int, pick, chance } = seededRandom(FUZZ_SEED);

const ODD = [
  "",
  " ",
  ...ODD_NUMBERS_AND_ESCAPES,
  "\u0000",
  "a\u0000b",
  "\ud800",
  "😀".repeat(20),
  "<script>alert(1)</script>",
  "'; drop table tenants; --",
  "a".repeat(3000),
  "1969-12-31T23:59:59Z",
  "0000-01-01T00:00:00Z",
  "9999-12-31T23:59:59Z",
  "2026-11-30T12:00",
  "ep_01jdz3k5q8e6f0a1b2c3d4e5f6",
  "evt_zzzzzzzzzzzzzzzzzzzzzzzzzz",
  "dlv_",
  "payment.*",
  "*",
  "__proto__",
  "X-Dup: 1\nx-dup: 2",
  "X-Euro: €uro",
  "x-a: \u0001",
  "Host: evil",
  '{"type":"object","properties":{"s":{"type":"string","pattern":"^(a+)+$"}}}',
  '{"type":"object","properties":{"s":{"pattern":"(?=a)"}}}',
  '{"a":',
  "[]",
  "null",
  "https://example.invalid/hook",
  "ftp://x",
  "http://169.254.169.254/",
];
const FIELDS = [
  "name",
  "url",
  "eventTypes",
  "headers",
  "rateLimit",
  "description",
  "example",
  "schema",
  "archived",
  "eventType",
  "from",
  "since",
  "force",
  "enabled",
  "secret",
  "token",
  "next",
];
const QUERY = ["q", "cursor", "status", "endpoint", "event", "after", "before", "flash", "tenant", "next", "secret", "recovered", "limit"];

let t: TestApp;
let receiver: Receiver;
const ids: Record<string, string[]> = { tenant: [], id: [], name: [] };
const sessions: { browser: ReturnType<typeof browserFor>; csrf: string }[] = [];

beforeAll(async () => {
  receiver = await startReceiver(respondWith(200, "ok"));
  t = await createTestApp();
  const acme = await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "fuzz.event", description: "x", example: { a: 1 } } });
  const endpoint = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Fuzz", url: receiver.url } });
  const sent = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "fuzz.event", payload: {} } });
  const key = await t.call("POST", "/v1/tenants/acme/api-keys", { body: { name: "fuzz" } });
  const link = await t.call("POST", "/v1/tenants/acme/portal-links", { body: {} });
  ids.tenant = [acme.body.id, "acme", ...ODD.slice(0, 12)];
  ids.id = [endpoint.body.id, sent.body.deliveries?.[0]?.id ?? sent.body.id, ...ODD.slice(0, 12)];
  ids.name = ["fuzz.event", ...ODD.slice(0, 12)];
  const admin = browserFor(t);
  await admin.signIn(TEST_ADMIN_TOKEN);
  const tenant = browserFor(t);
  await tenant.signIn(key.body.key);
  const portal = browserFor(t);
  await portal.request("GET", new URL(link.body.url).pathname);
  for (const browser of [admin, tenant, portal]) {
    // The CSRF token is bound to the session, so one read serves every post.
    sessions.push({ browser, csrf: browser.csrfOf((await browser.request("GET", "/ui/catalog")).text) });
  }
  expect(sessions.every((s) => s.csrf !== "")).toBe(true);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

function fill(path: string): string {
  // A lone surrogate cannot be put in a URL: a browser sends U+FFFD in its place (encodeURIComponent would throw).
  const wellFormed = (value: string) => value.replace(/[\uD800-\uDFFF]/gu, "\uFFFD");
  return path.replace(/:(\w+)/g, (_m, name: string) => encodeURIComponent(wellFormed(pick(ids[name] ?? ODD))));
}

function query(): string {
  if (!chance(0.7)) return "";
  const params = new URLSearchParams();
  for (let i = 0; i < 1 + int(3); i++) params.append(pick(QUERY), pick(ODD));
  return `?${params.toString()}`;
}

describe("console fuzz", () => {
  it(`answers ${REQUESTS} random page loads and form posts without a 5xx (seed ${FUZZ_SEED})`, async () => {
    const routes = t.app.routes
      .filter((r) => r.path.startsWith("/ui") && (r.method === "GET" || r.method === "POST") && !r.path.includes("*"))
      // Signing out would end the session the rest of the run needs.
      .filter((r) => r.path !== "/ui/sign-out")
      .map((r) => ({ method: r.method, path: r.path }));
    expect(routes.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (let n = 0; n < REQUESTS; n++) {
      const route = pick(routes);
      const { browser, csrf } = pick(sessions);
      const path = fill(route.path) + query();
      let form: Record<string, string> | undefined;
      if (route.method === "POST") {
        form = { _csrf: chance(0.9) ? csrf : pick(ODD) };
        for (let i = 0; i < int(6); i++) form[pick(FIELDS)] = chance(0.3) ? receiver.url : pick(ODD);
      }
      const response = await browser.request(route.method, path, form);
      if (response.status >= 500) failures.push(`#${n} ${route.method} ${path} ${JSON.stringify(form)} -> ${response.status}`);
    }
    expect(failures).toEqual([]);
  }, 240_000);
});
