import { createLogger } from "@herald/runtime";
import { type Receiver, startReceiver, TEST_ADMIN_TOKEN } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "../test-app.ts";
import { browserFor } from "./test-browser.ts";

/** The console answers bad input the way the API does (4xx), never with a 500 and a logged error. */
let t: TestApp;
let receiver: Receiver;
let admin: ReturnType<typeof browserFor>;
const logLines: string[] = [];
const errorsLogged = () => logLines.filter((line) => JSON.parse(line).level >= 50);

beforeAll(async () => {
  receiver = await startReceiver((_request, _index, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\u0000\u0000done");
  });
  t = await createTestApp({}, { logger: createLogger("info", "herald-api", { write: (line: string) => logLines.push(line) }) });
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "nul.test", description: "x", example: {} } });
  admin = browserFor(t);
  await admin.signIn(TEST_ADMIN_TOKEN);
});
afterAll(async () => {
  await t?.close();
  await receiver?.close();
});

describe("console errors", () => {
  it("answers a NUL byte in the tenant of a path with a 4xx page", async () => {
    const response = await admin.request("GET", "/ui/t/%00/webhooks");
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(errorsLogged()).toEqual([]);
  });

  it("answers a webhook form whose name holds a NUL byte with the form and a message", async () => {
    const page = await admin.request("GET", "/ui/t/acme/webhooks/new");
    const response = await admin.request("POST", "/ui/t/acme/webhooks", {
      _csrf: admin.csrfOf(page.text),
      name: "bad\u0000name",
      url: "https://nul.example.com/hook",
    });
    expect(response.status).toBe(422);
    expect(response.text).toContain("cannot be stored");
    expect((await t.call("GET", "/v1/tenants/acme/endpoints")).body.data).toEqual([]);
    expect(errorsLogged()).toEqual([]);
  });

  it("records a test send whose receiver answers NUL bytes, in the console and the API alike", async () => {
    const created = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "NUL receiver", url: receiver.url } });
    const page = await admin.request("GET", "/ui/t/acme/webhooks");
    const console = await admin.request("POST", `/ui/t/acme/webhooks/${created.body.id}/test`, {
      _csrf: admin.csrfOf(page.text),
      eventType: "nul.test",
    });
    expect(console.status).toBe(200);
    expect(console.text).toContain("ok\uFFFD\uFFFDdone");
    const api = await t.call("POST", `/v1/tenants/acme/endpoints/${created.body.id}/test`, { body: { eventType: "nul.test" } });
    expect(api.status).toBe(200);
    expect(api.body).toMatchObject({ ok: true, responseBody: "ok\uFFFD\uFFFDdone" });
    const [row] = await t.sql<{ body: string }[]>`select response_body as body from attempts where delivery_id = ${api.body.deliveryId}`;
    expect(row?.body).toBe("ok\uFFFD\uFFFDdone");
    expect(errorsLogged()).toEqual([]);
  });
});
