import { eventually, type Herald, type Receiver, respondWith, startHerald, startReceiver, TEST_ADMIN_TOKEN } from "@herald/testing";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchBrowser, screenshot, type TestBrowser } from "./browser.ts";

let herald: Herald;
let receiver: Receiver;
let browser: TestBrowser;
let page: Page;
let acmeId: string;
let endpointId: string;

beforeAll(async () => {
  // Two quick attempts, so a failing receiver exhausts a delivery within a second.
  [herald, receiver, browser] = await Promise.all([
    startHerald({ env: { HERALD_RETRY_SCHEDULE: "0,200ms", HERALD_RETRY_JITTER: "0" } }),
    startReceiver(respondWith(200, '{"received":true}', { "content-type": "application/json" })),
    launchBrowser(),
  ]);
  page = browser.page;
  const acme = await herald.request("POST", "/v1/tenants", { name: "Acme Inc.", uid: "acme" });
  acmeId = acme.body.id;
  await herald.request("POST", "/v1/tenants", { name: "Globex", uid: "globex" });
  const types = [
    {
      name: "payment.received",
      description: "A customer paid an invoice.",
      example: { invoiceId: "inv_123", amount: 4200, currency: "EUR" },
    },
    { name: "invoice.created", description: "A new invoice was issued.", example: { invoiceId: "inv_123", total: 4200 } },
  ];
  for (const type of types) expect((await herald.request("POST", "/v1/event-types", type)).status).toBe(201);
  const foreign = await herald.request("POST", "/v1/tenants/globex/endpoints", {
    name: "Globex private hook",
    url: `${receiver.url}/globex`,
  });
  expect(foreign.status).toBe(201);
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await herald?.stop();
});

async function deliveryStatus(deliveryId: string): Promise<string> {
  const response = await herald.request("GET", `/v1/tenants/acme/deliveries/${deliveryId}`);
  return response.body.status;
}

async function publish(eventType: string, payload: unknown): Promise<{ eventId: string; deliveryId: string }> {
  const published = await herald.request("POST", "/v1/tenants/acme/events", { eventType, payload });
  expect(published.status).toBe(202);
  const event = await herald.request("GET", `/v1/tenants/acme/events/${published.body.id}`);
  const deliveryId = event.body.deliveries.find((d: { endpointId: string }) => d.endpointId === endpointId)?.id;
  expect(deliveryId).toBeTruthy();
  return { eventId: published.body.id, deliveryId };
}

describe("the console in a real browser", () => {
  it("refuses a wrong token and signs in with the admin token into an HttpOnly session cookie", async () => {
    await page.goto(`${herald.baseUrl}/ui`);
    await expect.poll(() => page.url()).toContain("/ui/sign-in");

    await page.getByLabel("Admin token or tenant API key").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "That token is not valid" }).waitFor();

    // Keyboard only: Tab reaches the token field, Enter submits.
    await page.keyboard.press("Tab");
    expect(await page.locator("#token:focus").count()).toBe(1);
    await page.keyboard.type(TEST_ADMIN_TOKEN);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: /Dashboard/ }).waitFor();
    const cookies = await browser.context.cookies();
    const session = cookies.find((cookie) => cookie.name === "herald_session");
    expect(session).toMatchObject({ httpOnly: true, sameSite: "Lax" });
    expect(session?.value).not.toContain(TEST_ADMIN_TOKEN);
  });

  it("adds a webhook through the form, showing the API's error next to a bad URL", async () => {
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await page.getByRole("link", { name: "Add New Webhook" }).click();
    await page.getByLabel("Name").fill("Billing webhook");
    await page.getByLabel("URL").fill("ftp://billing.example.com/hook");
    await page.getByLabel("Event(s)").selectOption(["payment.received", "invoice.created"]);
    await page.getByLabel("Custom headers").fill("X-Customer: acme");
    await page.getByLabel("Rate limit (deliveries per second)").fill("50");
    await page.getByRole("button", { name: "Create webhook" }).click();

    const urlError = page.locator("#url-error");
    await urlError.waitFor();
    expect(await urlError.textContent()).toBe("must use http or https");
    expect(await page.getByLabel("URL").getAttribute("aria-invalid")).toBe("true");
    // What was typed is kept, so only the URL needs fixing.
    expect(await page.getByLabel("Name").inputValue()).toBe("Billing webhook");
    await screenshot(page, "webhook-form-error");

    await page.getByLabel("URL").fill(`${receiver.url}/billing`);
    await page.getByRole("button", { name: "Create webhook" }).click();
    await page.getByText("Webhook created.").waitFor();
    endpointId = /webhooks\/(ep_[0-9a-z]+)/.exec(page.url())?.[1] as string;
    const stored = await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}`);
    expect(stored.body).toMatchObject({
      name: "Billing webhook",
      url: `${receiver.url}/billing`,
      eventTypes: ["invoice.created", "payment.received"].sort(),
      headers: { "X-Customer": "acme" },
      rateLimit: 50,
    });
  });

  it("shows the signing secret on demand", async () => {
    await page.getByRole("link", { name: "Show secret" }).click();
    const shown = await page.locator("#secret-value").textContent();
    const secret = await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}/secret`);
    expect(shown?.trim()).toBe(secret.body.secret);
    expect(await page.getByRole("button", { name: "Copy" }).isVisible()).toBe(true);

    // Rotating asks for confirmation first, then shows the new secret.
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.getByText("Signing secret rotated.").waitFor();
    const rotated = await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}/secret`);
    expect(rotated.body.secret).not.toBe(secret.body.secret);
    expect((await page.locator("#secret-value").textContent())?.trim()).toBe(rotated.body.secret);
    await screenshot(page, "webhook-edit");
  });

  it("saves edits to a webhook", async () => {
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks/${endpointId}`);
    await page.getByLabel("Custom headers").fill("X-Customer: acme\nX-Region: eu");
    await page.getByLabel("Rate limit (deliveries per second)").fill("");
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.getByText("Changes saved.").waitFor();
    const stored = await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}`);
    expect(stored.body).toMatchObject({ headers: { "X-Customer": "acme", "X-Region": "eu" }, rateLimit: null, name: "Billing webhook" });
  });

  it("sends a test event and shows the receiver's answer in a dialog", async () => {
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await page
      .getByRole("row", { name: /Billing webhook/ })
      .getByRole("button", { name: "Send Test Event" })
      .click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    await expect.poll(() => dialog.textContent()).toContain("HTTP 200");
    const text = (await dialog.textContent()) ?? "";
    expect(text).toMatch(/Test event delivered/);
    expect(text).toMatch(/\d+ ms/);
    expect(text).toContain('{"received":true}');
    // The first request at /billing: nothing was published to it before this test.
    const request = await receiver.waitFor((r) => r.path === "/billing");
    expect(JSON.parse(request.body).type).toBe("invoice.created");
    await screenshot(page, "webhooks-test-dialog", { fullPage: false });
    await dialog.getByRole("button", { name: "Close" }).click();
    await expect.poll(() => dialog.isVisible()).toBe(false);
  });

  it("shows an event published through the API in the delivery log as succeeded", async () => {
    const { eventId, deliveryId } = await publish("payment.received", { invoiceId: "inv_42", amount: 4200, currency: "EUR" });
    await eventually(async () => (await deliveryStatus(deliveryId)) === "succeeded", { what: "the delivery to succeed" });

    await page.goto(`${herald.baseUrl}/ui/t/acme/deliveries?status=succeeded`);
    const row = page.getByRole("row", { name: /payment\.received/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("succeeded");
    await screenshot(page, "delivery-log");

    await row.getByRole("link").first().click();
    await page.getByRole("heading", { name: "Attempt 1" }).waitFor();
    const body = (await page.locator("main").textContent()) ?? "";
    expect(body).toContain("HTTP 200");
    expect(body).toContain('"invoiceId": "inv_42"');

    // The event id leads to every delivery of that event.
    await page.getByRole("link", { name: eventId }).click();
    await expect.poll(() => page.url()).toContain(`event=${eventId}`);
    expect(await page.locator("tbody tr").count()).toBe(1);
  });

  it("shows failed attempts when the receiver fails, then Retry delivers it", async () => {
    receiver.respond(respondWith(500, "database is down"));
    const { deliveryId } = await publish("invoice.created", { invoiceId: "inv_43", total: 990 });
    await eventually(async () => (await deliveryStatus(deliveryId)) === "exhausted", { what: "the delivery to exhaust its attempts" });

    await page.goto(`${herald.baseUrl}/ui/t/acme/deliveries?status=exhausted`);
    await page
      .getByRole("row", { name: /invoice\.created/ })
      .getByRole("link")
      .first()
      .click();
    await page.getByRole("heading", { name: /Attempt 2/ }).waitFor();
    const failed = (await page.locator("main").textContent()) ?? "";
    expect(failed).toContain("HTTP 500");
    expect(failed).toContain("database is down");
    expect(await page.getByRole("article", { name: /Attempt/ }).count()).toBe(2);
    await screenshot(page, "delivery-failed");

    receiver.respond(respondWith(200, "thanks"));
    await page.getByRole("button", { name: "Retry now" }).click();
    await page.getByText("Delivery queued to be sent again now.").waitFor();
    await eventually(async () => (await deliveryStatus(deliveryId)) === "succeeded", { what: "the retried delivery to succeed" });
    await page.reload();
    await page.getByRole("heading", { name: /Attempt 3/ }).waitFor();
    expect(await page.locator("h1 .badge").textContent()).toBe("succeeded");
    expect(await page.getByRole("article", { name: "Attempt 3" }).textContent()).toContain("thanks");
  });

  it("renders a webhook named like a script as text", async () => {
    const hostile = "<script>alert(1)</script>";
    const created = await herald.request("POST", "/v1/tenants/acme/endpoints", { name: hostile, url: `${receiver.url}/xss` });
    expect(created.status).toBe(201);
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await page.getByRole("link", { name: hostile, exact: true }).waitFor();
    expect(await page.locator("script", { hasText: "alert(1)" }).count()).toBe(0);
    expect(dialogs).toEqual([]);
  });

  it("recovers an endpoint's failed deliveries since a time", async () => {
    receiver.respond(respondWith(503, "maintenance"));
    const { deliveryId } = await publish("payment.received", { invoiceId: "inv_44", amount: 1 });
    await eventually(async () => (await deliveryStatus(deliveryId)) === "exhausted", { what: "the delivery to exhaust its attempts" });
    receiver.respond(respondWith(200, "back"));

    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks/${endpointId}`);
    await page.getByLabel("Recover failed since (UTC)").fill("2020-01-01T00:00");
    await page.getByRole("button", { name: "Recover" }).click();
    await page.getByText("Queued 1 deliveries to be sent again.").waitFor();
    await eventually(async () => (await deliveryStatus(deliveryId)) === "succeeded", { what: "the recovered delivery to succeed" });
  });

  it("explains a refused connection in plain words in the test dialog", async () => {
    const closed = await startReceiver();
    await closed.close();
    const created = await herald.request("POST", "/v1/tenants/acme/endpoints", { name: "Closed port", url: `${closed.url}/gone` });
    expect(created.status).toBe(201);
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks/${created.body.id}`);
    await page.getByLabel("Event type").selectOption("payment.received");
    await page.getByRole("button", { name: "Send test", exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.waitFor();
    const text = (await dialog.textContent()) ?? "";
    expect(text).toContain("Test event failed");
    expect(text).toContain("no response");
    expect(text).toContain("The connection was refused");
    expect(text).toContain("payment.received");
  });

  it("disables, finds by search, and deletes a webhook after confirmation", async () => {
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await page.getByRole("button", { name: "Disable Closed port" }).click();
    await page.getByText("Webhook disabled.").waitFor();
    expect(await page.getByRole("row", { name: /Closed port/ }).textContent()).toContain("disabled");
    expect(await page.getByRole("button", { name: "Enable Closed port" }).count()).toBe(1);

    await page.getByLabel("Search by name or URL").fill("closed");
    await page.keyboard.press("Enter");
    await expect.poll(() => page.url()).toContain("q=closed");
    expect(await page.locator("tbody tr").count()).toBe(1);

    await page.getByRole("link", { name: "Delete Closed port" }).click();
    await page.getByRole("heading", { name: /Delete “Closed port”\?/ }).waitFor();
    await page.getByRole("button", { name: "Delete webhook" }).click();
    await page.getByText("Webhook deleted.").waitFor();
    expect(await page.getByRole("row", { name: /Closed port/ }).count()).toBe(0);
    const listed = await herald.request("GET", "/v1/tenants/acme/endpoints");
    expect(listed.body.data.map((e: { name: string }) => e.name)).not.toContain("Closed port");
  });

  it("lets the admin add an event type (showing the API's error for a bad name) and edit it", async () => {
    await page.goto(`${herald.baseUrl}/ui/catalog`);
    await page.getByLabel("Name", { exact: true }).fill("Refund");
    await page.getByLabel("Description").fill("Money went back to the customer.");
    await page.getByLabel("Example payload (JSON)").fill('{"invoiceId": "inv_123", "amount": 100}');
    await page.getByRole("button", { name: "Add event type" }).click();
    expect(await page.locator("#type-name-error").textContent()).toContain("must look like resource.action");

    await page.getByLabel("Name", { exact: true }).fill("refund.issued");
    await page.getByRole("button", { name: "Add event type" }).click();
    await page.getByText("Event type added to the catalog.").waitFor();
    await page.getByRole("heading", { name: "refund.issued" }).waitFor();
    const stored = await herald.request("GET", "/v1/event-types/refund.issued");
    expect(stored.body).toMatchObject({ description: "Money went back to the customer.", example: { invoiceId: "inv_123", amount: 100 } });

    await page.getByRole("link", { name: "Edit refund.issued" }).click();
    await page.getByLabel("Description").fill("Money went back.");
    await page.getByRole("button", { name: "Save event type" }).click();
    await page.getByText("Event type saved.").waitFor();
    expect((await herald.request("GET", "/v1/event-types/refund.issued")).body.description).toBe("Money went back.");
  });

  it("shows the dashboard with a chart of attempts", async () => {
    await page.goto(`${herald.baseUrl}/ui/dashboard`);
    const chart = page.getByRole("img", { name: /Attempts per minute over the last hour/ });
    await chart.waitFor();
    expect(await chart.getAttribute("aria-label")).toMatch(/[1-9]\d* in all/);
    expect(await page.locator("svg.chart rect").count()).toBeGreaterThan(0);
    await screenshot(page, "dashboard");
  });

  it("lists the event catalog with pretty-printed examples", async () => {
    await page.goto(`${herald.baseUrl}/ui/catalog`);
    await page.getByRole("heading", { name: "payment.received" }).waitFor();
    expect(await page.locator("main").textContent()).toContain('"currency": "EUR"');
    await screenshot(page, "catalog");
  });

  it("fits a phone's width on every main screen: nothing scrolls sideways", async () => {
    const endpoints = await herald.request("GET", "/v1/tenants/acme/endpoints");
    const deliveries = await herald.request("GET", "/v1/tenants/acme/deliveries?limit=1");
    const screens = [
      "/ui/t/acme/webhooks",
      "/ui/t/acme/webhooks/new",
      `/ui/t/acme/webhooks/${endpoints.body.data[0].id}`,
      "/ui/t/acme/deliveries",
      `/ui/t/acme/deliveries/${deliveries.body.data[0].id}`,
      "/ui/catalog",
      "/ui/dashboard",
    ];
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const screen of screens) {
        const response = await page.goto(`${herald.baseUrl}${screen}`);
        expect(response?.status(), screen).toBe(200);
        // A string, so the Node-only type check does not need the DOM library.
        const overflow = Number(await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth"));
        expect(overflow, `${screen} is ${overflow}px wider than the phone`).toBeLessThanOrEqual(0);
      }
      await page.goto(`${herald.baseUrl}/ui/t/acme/deliveries`);
      await screenshot(page, "delivery-log-phone");
    } finally {
      await page.setViewportSize({ width: 1280, height: 860 });
    }
  });

  it("opens a tenant portal link that shows that tenant only", async () => {
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await screenshot(page, "webhooks");
    const link = await herald.request("POST", `/v1/tenants/${acmeId}/portal-links`, { expiresIn: 600 });
    expect(link.status).toBe(201);

    await browser.context.clearCookies();
    await page.goto(link.body.url);
    await page.getByRole("link", { name: "Billing webhook", exact: true }).waitFor();
    const text = (await page.locator("main").textContent()) ?? "";
    expect(text).not.toContain("Globex private hook");
    expect(await page.getByRole("combobox", { name: "Tenant" }).count()).toBe(0);
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, "portal-phone");
    await page.setViewportSize({ width: 1280, height: 860 });

    const foreign = await page.goto(`${herald.baseUrl}/ui/t/globex/webhooks`);
    expect(foreign?.status()).toBe(404);
    expect(await page.locator("main").textContent()).not.toContain("Globex private hook");
    await page.goto(`${herald.baseUrl}/ui/t/acme/catalog`);
    await page.getByRole("heading", { name: "invoice.created" }).waitFor();
  });

  it("refuses a forged portal link and ends the portal session with the cookie", async () => {
    await browser.context.clearCookies();
    const link = await herald.request("POST", `/v1/tenants/${acmeId}/portal-links`, { expiresIn: 600 });
    const forged = `${link.body.url.slice(0, -4)}AAAA`;
    const response = await page.goto(forged);
    expect(response?.status()).toBe(401);
    await page.goto(`${herald.baseUrl}/ui/t/acme/webhooks`);
    await expect.poll(() => page.url()).toContain("/ui/sign-in");
  });
});
