import { eventually, type Herald, type Receiver, respondWith, startHerald, startReceiver } from "@herald/testing";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let herald: Herald;
let receiver: Receiver;
let tenantId: string;

beforeAll(async () => {
  herald = await startHerald({ env: { HERALD_RETRY_SCHEDULE: "0,100ms,100ms,100ms", HERALD_RETRY_JITTER: "0" } });
  receiver = await startReceiver();
  const tenant = await herald.request("POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  tenantId = tenant.body.id;
  for (const name of ["payment.received", "invoice.created"]) {
    const created = await herald.request("POST", "/v1/event-types", { name, description: `${name} happened`, example: { amount: 1 } });
    expect(created.status).toBe(201);
  }
});

afterAll(async () => {
  await receiver?.close();
  await herald?.stop();
});

async function createEndpoint(path: string, eventTypes: string[]) {
  const response = await herald.request("POST", `/v1/tenants/${tenantId}/endpoints`, {
    name: path,
    url: `${receiver.url}${path}`,
    eventTypes,
  });
  expect(response.status).toBe(201);
  const secret = await herald.request("GET", `/v1/tenants/${tenantId}/endpoints/${response.body.id}/secret`);
  return { id: response.body.id as string, secret: secret.body.secret as string };
}

describe("publish to delivery, end to end", () => {
  it("delivers the documented envelope, signed, only to subscribed endpoints", async () => {
    const subscribed = await createEndpoint("/payments", ["payment.received"]);
    await createEndpoint("/invoices", ["invoice.created"]);

    const published = await herald.request("POST", "/v1/tenants/acme/events", {
      eventType: "payment.received",
      payload: { amount: 4200, currency: "EUR" },
    });
    expect(published.status).toBe(202);
    expect(published.body.deliveries).toBe(1);

    const [request] = await receiver.waitForRequests(1);
    expect(request?.path).toBe("/payments");
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["user-agent"]).toMatch(/^Herald\//);
    expect(request?.headers["webhook-id"]).toBe(published.body.id);
    const body = JSON.parse(request?.body ?? "");
    expect(body).toEqual({ type: "payment.received", timestamp: published.body.createdAt, data: { amount: 4200, currency: "EUR" } });

    const verified = new Webhook(subscribed.secret).verify(request?.body ?? "", request?.headers as Record<string, string>);
    expect(verified).toEqual(body);

    const event = await eventually(
      async () => {
        const view = await herald.request("GET", `/v1/tenants/${tenantId}/events/${published.body.id}`);
        return view.body.deliveries[0]?.status === "succeeded" ? view.body : undefined;
      },
      { what: "the delivery to be recorded as succeeded" },
    );
    expect(event.deliveries).toHaveLength(1);
    expect(event.deliveries[0]).toMatchObject({ endpointId: subscribed.id, status: "succeeded", attempts: 1, lastStatusCode: 200 });
    // The endpoint subscribed to another type got nothing.
    expect(receiver.requests.filter((r) => r.path === "/invoices")).toHaveLength(0);
  });

  it("retries a receiver that fails twice and records three attempts", async () => {
    const endpoint = await createEndpoint("/flaky", ["invoice.created"]);
    let flakyCalls = 0;
    receiver.respond((request, index, res) => {
      if (request.path === "/flaky" && flakyCalls++ < 2) {
        res.writeHead(500);
        res.end("not yet");
      } else respondWith(200, "ok")(request, index, res);
    });

    const published = await herald.request("POST", `/v1/tenants/${tenantId}/events`, { eventType: "invoice.created", payload: { n: 1 } });
    // Three tries at /flaky, all with the event's webhook-id (receivers dedupe on it), whenever they arrived.
    const flaky = await receiver.waitForMatching((r) => r.path === "/flaky" && r.headers["webhook-id"] === published.body.id, 3);
    expect(flaky).toHaveLength(3);
    expect(receiver.requests.filter((r) => r.path === "/flaky")).toHaveLength(3);

    const event = await eventually(
      async () => {
        const view = await herald.request("GET", `/v1/tenants/${tenantId}/events/${published.body.id}`);
        const delivery = view.body.deliveries.find((d: { endpointId: string }) => d.endpointId === endpoint.id);
        return delivery?.status === "succeeded" ? view.body : undefined;
      },
      { what: "the flaky delivery to succeed" },
    );
    const delivery = event.deliveries.find((d: { endpointId: string }) => d.endpointId === endpoint.id);
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 3, lastStatusCode: 200 });

    const { default: postgres } = await import("postgres");
    const sql = postgres(herald.database.url, { max: 1 });
    const attempts = await sql`select attempt_number, status_code from attempts where delivery_id = ${delivery.id} order by attempt_number`;
    await sql.end();
    expect(attempts.map((a) => [a.attempt_number, a.status_code])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
  });
});
