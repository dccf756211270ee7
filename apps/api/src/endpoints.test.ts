import { createServer } from "node:net";
import { type ReceivedRequest, type Receiver, respondWith, startReceiver } from "@herald/testing";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

let t: TestApp;
let receiver: Receiver;
beforeAll(async () => {
  t = await createTestApp();
  receiver = await startReceiver(respondWith(200, "thanks"));
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  for (const [name, example] of [
    ["payment.received", { amount: 4200, currency: "EUR" }],
    ["payment.refunded", { amount: 100 }],
    ["invoice.paid", { invoiceId: "in_1" }],
  ] as const) {
    await t.call("POST", "/v1/event-types", { body: { name, description: name, example } });
  }
});
afterAll(async () => {
  await receiver?.close();
  await t?.close();
});

async function createEndpoint(body: Record<string, unknown> = {}) {
  const response = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Hook", url: receiver.url, ...body } });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body as { id: string; url: string };
}

function verify(request: ReceivedRequest, secret: string): unknown {
  return new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
}

describe("happy path", () => {
  it("creates an endpoint with every field and shows it with its counters", async () => {
    const created = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: {
        name: "Billing",
        url: "https://example.com/hook",
        eventTypes: ["payment.received", "invoice.*"],
        headers: { "x-customer": "acme", Authorization: "Bearer abc" },
        rateLimit: 50,
        maxAttempts: 3,
        metadata: { team: "billing" },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "Billing",
      eventTypes: ["payment.received", "invoice.*"],
      headers: { "x-customer": "acme", Authorization: "Bearer abc" },
      rateLimit: 50,
      maxAttempts: 3,
      metadata: { team: "billing" },
      disabled: false,
      stats: { sent: 0, succeeded: 0, failed: 0, lastSuccessAt: null, lastFailureAt: null },
    });
    expect(created.body).not.toHaveProperty("secret");
    const got = await t.call("GET", `/v1/tenants/acme/endpoints/${created.body.id}`);
    expect(got.body).toEqual(created.body);
  });

  it("generates a whsec_ secret, or keeps a supplied valid one", async () => {
    const generated = await createEndpoint();
    const secret = await t.call("GET", `/v1/tenants/acme/endpoints/${generated.id}/secret`);
    expect(secret.body).toEqual({
      secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      previousSecret: null,
      previousSecretExpiresAt: null,
    });
    const supplied = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const own = await createEndpoint({ secret: supplied });
    expect((await t.call("GET", `/v1/tenants/acme/endpoints/${own.id}/secret`)).body.secret).toBe(supplied);
  });

  it("updates fields, disables with a reason and enables again", async () => {
    const { id } = await createEndpoint();
    const path = `/v1/tenants/acme/endpoints/${id}`;
    const renamed = await t.call("PATCH", path, { body: { name: "Renamed", eventTypes: [], rateLimit: null, metadata: { a: "b" } } });
    expect(renamed.body).toMatchObject({ name: "Renamed", eventTypes: [], rateLimit: null, metadata: { a: "b" } });

    const disabled = await t.call("PATCH", path, { body: { disabled: true, disabledReason: "receiver migrating" } });
    expect(disabled.body).toMatchObject({ disabled: true, disabledReason: "receiver migrating" });
    expect(disabled.body.disabledAt).not.toBeNull();
    const reason = await t.call("PATCH", path, { body: { disabledReason: "still migrating" } });
    expect(reason.body).toMatchObject({ disabled: true, disabledReason: "still migrating", disabledAt: disabled.body.disabledAt });

    const enabled = await t.call("PATCH", path, { body: { disabled: false } });
    expect(enabled.body).toMatchObject({ disabled: false, disabledReason: null, disabledAt: null });
    const plain = await t.call("PATCH", path, { body: { disabled: true } });
    expect(plain.body.disabledReason).toBe("disabled through the API");
  });

  it("lists newest first with a cursor and deletes", async () => {
    const a = await createEndpoint({ name: "A" });
    const b = await createEndpoint({ name: "B" });
    const page = await t.call("GET", "/v1/tenants/acme/endpoints?limit=1");
    expect(page.body.data[0].id).toBe(b.id);
    const next = await t.call("GET", `/v1/tenants/acme/endpoints?limit=1&cursor=${page.body.nextCursor}`);
    expect(next.body.data[0].id).toBe(a.id);
    expect((await t.call("DELETE", `/v1/tenants/acme/endpoints/${a.id}`)).status).toBe(204);
    expect((await t.call("GET", `/v1/tenants/acme/endpoints/${a.id}`)).status).toBe(404);
    expect((await t.call("DELETE", `/v1/tenants/acme/endpoints/${a.id}`)).status).toBe(404);
  });

  it("counts deliveries in the view", async () => {
    const { id } = await createEndpoint();
    await t.sql`update endpoints set sent_count = 3, succeeded_count = 2, failed_count = 1, last_success_at = now() where id = ${id}`;
    const got = await t.call("GET", `/v1/tenants/acme/endpoints/${id}`);
    expect(got.body.stats).toMatchObject({ sent: 3, succeeded: 2, failed: 1, lastFailureAt: null });
    expect(got.body.stats.lastSuccessAt).not.toBeNull();
  });
});

describe("uid", () => {
  it("addresses an endpoint by its uid, unique within the tenant, and can be changed or cleared", async () => {
    const endpoint = await createEndpoint({ uid: "billing-hook" });
    expect((await t.call("GET", "/v1/tenants/acme/endpoints/billing-hook")).body).toMatchObject({ id: endpoint.id, uid: "billing-hook" });
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Dup", url: receiver.url, uid: "billing-hook" } }),
      409,
      "conflict",
    );
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Bad", url: receiver.url, uid: "ep_x" } }),
      400,
      "validation_failed",
    );

    // Another tenant may use the same uid.
    await t.call("POST", "/v1/tenants", { body: { name: "Other", uid: "uid-other" } });
    const other = await t.call("POST", "/v1/tenants/uid-other/endpoints", {
      body: { name: "Same", url: receiver.url, uid: "billing-hook" },
    });
    expect(other.status).toBe(201);

    const renamed = await t.call("PATCH", "/v1/tenants/acme/endpoints/billing-hook", { body: { uid: "payments-hook" } });
    expect(renamed.body.uid).toBe("payments-hook");
    expectProblem(await t.call("GET", "/v1/tenants/acme/endpoints/billing-hook"), 404, "not_found");
    const cleared = await t.call("PATCH", "/v1/tenants/acme/endpoints/payments-hook", { body: { uid: null } });
    expect(cleared.body.uid).toBeNull();
  });
});

describe("subscriptions and headers", () => {
  it("accepts empty (all), exact catalog types, prefix wildcards and *", async () => {
    for (const eventTypes of [[], ["payment.received"], ["payment.*"], ["*"], ["unknown.*"]]) {
      const response = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "S", url: receiver.url, eventTypes } });
      expect(response.status, JSON.stringify(eventTypes)).toBe(201);
    }
  });

  it("rejects unknown exact types, naming each one", async () => {
    const response = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "S", url: receiver.url, eventTypes: ["payment.received", "payment.lost", "nope.never"] },
    });
    expect(response.status).toBe(422);
    expect(response.body.code).toBe("unknown_event_type");
    expect(response.body.errors.map((e: { path: string }) => e.path)).toEqual(["eventTypes.1", "eventTypes.2"]);
  });

  it.each(["pay*", "*.received", "payment.*.x", "Payment.Received", "payment received", ""])(
    "rejects the malformed subscription %j",
    async (name) => {
      const response = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "S", url: receiver.url, eventTypes: [name] } });
      expect(response.status).toBe(400);
      expect(response.body.errors[0].path).toBe("eventTypes.0");
    },
  );

  it.each([
    "Host",
    "content-length",
    "Content-Type",
    "webhook-signature",
    "Webhook-Id",
    "webhook-anything",
    "transfer-encoding",
    "user-agent",
  ])("refuses the reserved header %s", async (name) => {
    const response = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "S", url: receiver.url, headers: { [name]: "x" } },
    });
    expect(response.status).toBe(422);
    expect(response.body.errors[0]).toEqual({ path: `headers.${name}`, message: "is reserved: Herald sets it itself" });
  });

  it("refuses header values with line breaks and invalid header names", async () => {
    const split = await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "S", url: receiver.url, headers: { "x-a": "1\r\nx-injected: 2" } },
    });
    expect(split.status).toBe(422);
    const badName = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "S", url: receiver.url, headers: { "x a": "1" } } });
    expect(badName.status).toBe(422);
  });
});

describe("errors", () => {
  it("answers 422 invalid_url naming the field, on create and update", async () => {
    const create = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "S", url: "ftp://example.com" } });
    expect(create.status).toBe(422);
    expect(create.body).toMatchObject({ code: "invalid_url", errors: [{ path: "url", message: "must use http or https" }] });
    const { id } = await createEndpoint();
    const update = await t.call("PATCH", `/v1/tenants/acme/endpoints/${id}`, { body: { url: "https://user:pw@example.com/" } });
    expect(update.status).toBe(422);
    expect(update.body.errors[0].path).toBe("url");
  });

  it.each(["secret", "whsec_", "whsec_c2hvcnQ=", `whsec_${Buffer.alloc(65).toString("base64")}`, `whsec_${"!".repeat(44)}`])(
    "answers 400 for the invalid secret %s",
    async (secret) => {
      const response = await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "S", url: receiver.url, secret } });
      expect(response.status).toBe(400);
      expect(response.body.errors[0].path).toBe("secret");
    },
  );

  it("answers 400 for unknown fields, absurd rate limits and a reason on an enabled endpoint", async () => {
    for (const body of [
      { name: "S", url: receiver.url, colour: "red" },
      { name: "S", url: receiver.url, rateLimit: 0 },
      { name: "S", url: receiver.url, rateLimit: 1e9 },
      { name: "S", url: receiver.url, metadata: { n: 1 } },
    ]) {
      expect((await t.call("POST", "/v1/tenants/acme/endpoints", { body })).status, JSON.stringify(body)).toBe(400);
    }
    const { id } = await createEndpoint();
    const reason = await t.call("PATCH", `/v1/tenants/acme/endpoints/${id}`, { body: { disabledReason: "why" } });
    expect(reason.status).toBe(400);
    expect(reason.body.errors[0].path).toBe("disabledReason");
  });
});

describe("secret rotation (API)", () => {
  it("keeps the old secret for the grace period and shows both", async () => {
    const { id } = await createEndpoint();
    const before = (await t.call("GET", `/v1/tenants/acme/endpoints/${id}/secret`)).body.secret;
    const rotated = await t.call("POST", `/v1/tenants/acme/endpoints/${id}/secret/rotate`, { body: { gracePeriod: "1h" } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(before);
    expect(rotated.body.previousSecret).toBe(before);
    const expires = Date.parse(rotated.body.previousSecretExpiresAt) - Date.now();
    expect(expires).toBeGreaterThan(59 * 60_000);
    expect(expires).toBeLessThanOrEqual(60 * 60_000);
    expect((await t.call("GET", `/v1/tenants/acme/endpoints/${id}/secret`)).body).toEqual(rotated.body);
  });

  it("defaults to a 24 h grace, accepts a supplied secret, and retires the old one at once with 0s", async () => {
    const { id } = await createEndpoint();
    const path = `/v1/tenants/acme/endpoints/${id}/secret/rotate`;
    const defaulted = await t.call("POST", path);
    expect(defaulted.status).toBe(200);
    expect(Date.parse(defaulted.body.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(23 * 3_600_000);
    const supplied = `whsec_${Buffer.alloc(24, 1).toString("base64")}`;
    const own = await t.call("POST", path, { body: { secret: supplied, gracePeriod: "0s" } });
    expect(own.body).toEqual({ secret: supplied, previousSecret: null, previousSecretExpiresAt: null });
  });

  it("answers 400 for a bad secret or grace period and changes nothing", async () => {
    const { id } = await createEndpoint();
    const path = `/v1/tenants/acme/endpoints/${id}/secret/rotate`;
    const before = (await t.call("GET", `/v1/tenants/acme/endpoints/${id}/secret`)).body;
    for (const body of [{ secret: "whsec_nope" }, { gracePeriod: "forever" }, { gracePeriod: "31d" }, { gracePeriod: -1 }, { extra: 1 }]) {
      const response = await t.call("POST", path, { body });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    expect((await t.call("POST", path, { body: { secret: before.secret } })).status).toBe(400);
    expect((await t.call("GET", `/v1/tenants/acme/endpoints/${id}/secret`)).body).toEqual(before);
  });
});

describe("send test event", () => {
  it("delivers one signed request with the first subscribed type's example and records it as a test", async () => {
    const { id } = await createEndpoint({
      eventTypes: ["invoice.*", "payment.refunded"],
      headers: { "x-customer": "acme" },
      disabled: true,
    });
    const { secret } = (await t.call("GET", `/v1/tenants/acme/endpoints/${id}/secret`)).body;
    const response = await t.call("POST", `/v1/tenants/acme/endpoints/${id}/test`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      ok: true,
      statusCode: 200,
      responseBody: "thanks",
      errorKind: null,
      eventType: "payment.refunded",
    });
    expect(response.body.durationMs).toBeGreaterThanOrEqual(0);
    // The receiver got it under the event id the answer names.
    const request = await receiver.waitFor(response.body.eventId);
    expect(verify(request, secret)).toMatchObject({ type: "payment.refunded", data: { amount: 100 } });
    // Custom headers go along, and a disabled endpoint can still be tested before it is enabled again.
    expect(request?.headers["x-customer"]).toBe("acme");

    const [delivery] = await t.sql`
      select d.is_test, d.status, d.attempts, e.event_type, (select count(*)::int from attempts a where a.delivery_id = d.id) as tries
      from deliveries d join events e on e.id = d.event_id where d.id = ${response.body.deliveryId}`;
    expect(delivery).toMatchObject({ is_test: true, status: "succeeded", attempts: 1, event_type: "payment.refunded", tries: 1 });
    const [endpoint] = await t.sql`select sent_count::int as sent_count from endpoints where id = ${id}`;
    expect(endpoint?.sent_count).toBe(0);
  });

  it("sends the asked type, or a wildcard match, or any catalog type", async () => {
    const wildcard = await createEndpoint({ eventTypes: ["invoice.*"] });
    expect((await t.call("POST", `/v1/tenants/acme/endpoints/${wildcard.id}/test`)).body.eventType).toBe("invoice.paid");
    const all = await createEndpoint();
    expect((await t.call("POST", `/v1/tenants/acme/endpoints/${all.id}/test`)).body.eventType).toBe("invoice.paid");
    const asked = await t.call("POST", `/v1/tenants/acme/endpoints/${all.id}/test`, { body: { eventType: "payment.received" } });
    expect(asked.body.eventType).toBe("payment.received");
  });

  it("answers 200 describing a receiver error, a refused connection and a timeout", async () => {
    const failing = await startReceiver(respondWith(503, "down for maintenance"));
    const silent = await startReceiver(() => new Promise(() => {}));
    const closedPort = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    try {
      const cases: [string, Record<string, unknown>][] = [
        [failing.url, { ok: false, statusCode: 503, responseBody: "down for maintenance", errorKind: "http_status" }],
        [`http://127.0.0.1:${closedPort}/`, { ok: false, statusCode: null, errorKind: "connection_refused" }],
        [silent.url, { ok: false, statusCode: null, errorKind: "timeout" }],
      ];
      for (const [url, expected] of cases) {
        const { id } = await createEndpoint({ url });
        const response = await t.call("POST", `/v1/tenants/acme/endpoints/${id}/test`);
        expect(response.status).toBe(200);
        expect(response.body).toMatchObject(expected);
        const [delivery] = await t.sql`select status, is_test from deliveries where id = ${response.body.deliveryId}`;
        expect(delivery).toMatchObject({ status: "exhausted", is_test: true });
      }
    } finally {
      await failing.close();
      await silent.close();
    }
  });

  it("answers 422 for an unknown or archived type and 404 for an unknown endpoint", async () => {
    const { id } = await createEndpoint();
    const unknown = await t.call("POST", `/v1/tenants/acme/endpoints/${id}/test`, { body: { eventType: "nope.never" } });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors[0].path).toBe("eventType");
    expect((await t.call("POST", "/v1/tenants/acme/endpoints/ep_nope/test")).status).toBe(404);
  });
});

describe("security", () => {
  it("refuses private targets at save time unless allowed, and at delivery time for names that resolve to loopback", async () => {
    const strict = await createTestApp({ HERALD_ALLOW_PRIVATE_TARGETS: "false" });
    try {
      await strict.call("POST", "/v1/tenants", { body: { name: "S", uid: "strict" } });
      await strict.call("POST", "/v1/event-types", { body: { name: "ping.sent", description: "" } });
      for (const url of [receiver.url, `http://localhost:${receiver.port}/`, "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/"]) {
        const response = await strict.call("POST", "/v1/tenants/strict/endpoints", { body: { name: "S", url } });
        expect(response.status, url).toBe(422);
        expect(response.body).toMatchObject({ code: "invalid_url", errors: [{ path: "url" }] });
      }
      // A name that passed the save-time check and resolves to 127.0.0.1 when the request is made (as after DNS rebinding).
      const ok = await strict.call("POST", "/v1/tenants/strict/endpoints", { body: { name: "S", url: "https://hooks.example.com/" } });
      await strict.sql`update endpoints set url = ${`http://localhost:${receiver.port}/`} where id = ${ok.body.id}`;
      const seen = receiver.requests.length;
      const test = await strict.call("POST", `/v1/tenants/strict/endpoints/${ok.body.id}/test`);
      expect(test.status).toBe(200);
      expect(test.body).toMatchObject({ ok: false, errorKind: "blocked_target" });
      expect(receiver.requests.length).toBe(seen);
    } finally {
      await strict.close();
    }
  });

  it("never returns the secret in endpoint views", async () => {
    const { id } = await createEndpoint();
    const list = await t.call("GET", "/v1/tenants/acme/endpoints");
    expect(JSON.stringify(list.body)).not.toContain("whsec_");
    expect(JSON.stringify((await t.call("GET", `/v1/tenants/acme/endpoints/${id}`)).body)).not.toContain("whsec_");
  });
});
