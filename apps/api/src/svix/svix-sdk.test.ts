import {
  eventually,
  type Herald,
  type ReceivedRequest,
  type Receiver,
  startHerald,
  startReceiver,
  TEST_ADMIN_TOKEN,
} from "@herald/testing";
import { ApiException, MessageStatus, Svix, Webhook } from "svix";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * A team's Svix code, unchanged but for the server URL: the official `svix`
 * SDK against the real Herald processes (API and worker) and real receivers.
 * Nothing here calls Herald's own /v1.
 */
let herald: Herald;
let svix: Svix;
let receiver: Receiver;
/** How the receiver answers, by path. */
const answers = new Map<string, number>();

beforeAll(async () => {
  [herald, receiver] = await Promise.all([
    // Retries an hour apart: a failed delivery stays failed until the test sends it again.
    startHerald({ env: { HERALD_RETRY_SCHEDULE: "0,1h", HERALD_RETRY_JITTER: "0", HERALD_CIRCUIT_THRESHOLD: "1000" } }),
    startReceiver((request, _index, res) => {
      const status = answers.get(request.path) ?? 200;
      res.writeHead(status);
      res.end(status < 300 ? "ok" : "down");
    }),
  ]);
  // No SDK retries: a 5xx should fail the test at once, not three times.
  svix = new Svix(TEST_ADMIN_TOKEN, { serverUrl: herald.baseUrl, retryScheduleInMs: [] });
});

afterAll(async () => {
  await receiver?.close();
  await herald?.stop();
});

/** The SDK's typed error for a call that should fail, with its status and body. */
async function failure(call: Promise<unknown>): Promise<ApiException<{ code?: string; detail: unknown }>> {
  const error = await call.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ApiException);
  return error as ApiException<{ code?: string; detail: unknown }>;
}

/** Verifies a received webhook with the SDK's own Webhook class, as a Svix receiver does. */
function verify(secret: string, request: ReceivedRequest) {
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
  return new Webhook(secret).verify(request.body, headers) as { type: string; data: unknown };
}

const invoiceSchema = {
  type: "object",
  required: ["amount"],
  properties: { amount: { type: "integer" } },
  examples: [{ amount: 4200 }],
};

describe("health", () => {
  it("answers through the SDK", async () => {
    await expect(svix.health.get()).resolves.toBeUndefined();
  });
});

describe("a migration's round trip", () => {
  let appId: string;
  let billingId: string;
  let allId: string;
  let billingSecret: string;
  let firstMsgId: string;

  it("creates an application with a uid, and get-or-create finds it again", async () => {
    const created = await svix.application.create({ name: "Acme", uid: "acme", metadata: { plan: "pro" } });
    expect(created).toMatchObject({ name: "Acme", uid: "acme", metadata: { plan: "pro" } });
    expect(created.id).toMatch(/^ten_/);
    expect(created.createdAt).toBeInstanceOf(Date);
    appId = created.id;

    const again = await svix.application.getOrCreate({ name: "Acme again", uid: "acme" });
    expect(again.id).toBe(appId);
    expect((await svix.application.get("acme")).id).toBe(appId);

    const conflict = await failure(svix.application.create({ name: "Acme", uid: "acme" }));
    expect(conflict.code).toBe(409);
    expect(conflict.body).toMatchObject({ code: "conflict" });
  });

  it("creates event types with a schema whose example is the catalog example", async () => {
    const paid = await svix.eventType.create({ name: "invoice.paid", description: "An invoice was paid", schemas: { "1": invoiceSchema } });
    expect(paid).toMatchObject({ name: "invoice.paid", description: "An invoice was paid", archived: false, deprecated: false });
    expect(paid.schemas).toEqual({ "1": invoiceSchema });
    await svix.eventType.create({ name: "user.created", description: "A user signed up" });

    // Page through the whole catalog (Herald's own operational event types are in it too) with iterator and done.
    const names: string[] = [];
    let pages = 0;
    for (let iterator: string | null = null, done = false; !done; pages++) {
      const page = await svix.eventType.list({ limit: 2, iterator });
      names.push(...page.data.map((row) => row.name));
      ({ iterator, done } = page);
    }
    expect(names).toEqual(expect.arrayContaining(["invoice.paid", "user.created"]));
    expect(names).toEqual([...names].sort());
    expect(pages).toBeGreaterThan(1);

    const patched = await svix.eventType.patch("user.created", { description: "A user signed up (v2)" });
    expect(patched.description).toBe("A user signed up (v2)");
  });

  it("creates endpoints with filterTypes, a uid and headers", async () => {
    const billing = await svix.endpoint.create(appId, {
      url: `${receiver.url}/billing`,
      description: "Billing",
      filterTypes: ["invoice.paid"],
      uid: "billing",
      headers: { "x-team": "billing" },
      metadata: { owner: "finance" },
    });
    expect(billing).toMatchObject({ uid: "billing", description: "Billing", filterTypes: ["invoice.paid"], disabled: false, version: 1 });
    billingId = billing.id;
    const everything = await svix.endpoint.create("acme", { url: `${receiver.url}/all` });
    expect(everything.filterTypes).toBeNull();
    allId = everything.id;

    expect((await svix.endpoint.get("acme", "billing")).id).toBe(billingId);
    const listed = await svix.endpoint.list("acme", { limit: 1 });
    expect(listed.data).toHaveLength(1);
    expect(listed.done).toBe(false);
    const rest = await svix.endpoint.list("acme", { limit: 1, iterator: listed.iterator });
    expect([listed.data[0]?.id, rest.data[0]?.id].sort()).toEqual([billingId, allId].sort());
    expect(rest.done).toBe(true);
    billingSecret = (await svix.endpoint.getSecret(appId, billingId)).key;
    expect(billingSecret).toMatch(/^whsec_/);
  });

  it("sends messages that fan out, each verified with the SDK's Webhook", async () => {
    const withId = await svix.message.create("acme", { eventType: "invoice.paid", eventId: "inv-1", payload: { amount: 100 } });
    expect(withId).toMatchObject({ eventId: "inv-1", eventType: "invoice.paid", payload: { amount: 100 } });
    firstMsgId = withId.id;
    const withoutId = await svix.message.create("acme", { eventType: "user.created", payload: { user: "ann" } });
    expect(withoutId.eventId).toBeNull();

    const billingGot = await receiver.waitFor((r) => r.path === "/billing" && r.headers["webhook-id"] === withId.id);
    expect(verify(billingSecret, billingGot)).toMatchObject({ type: "invoice.paid", data: { amount: 100 } });
    expect(billingGot.headers["x-team"]).toBe("billing");
    const allSecret = (await svix.endpoint.getSecret("acme", allId)).key;
    for (const id of [withId.id, withoutId.id]) {
      const got = await receiver.waitFor((r) => r.path === "/all" && r.headers["webhook-id"] === id);
      expect(verify(allSecret, got)).toBeTruthy();
    }
    // The billing endpoint is not subscribed to user.created.
    const destinations = await svix.messageAttempt.listAttemptedDestinations("acme", withoutId.id);
    expect(destinations.data.map((row) => row.id)).toEqual([allId]);

    const byEventId = await svix.message.get("acme", "inv-1");
    expect(byEventId).toMatchObject({ id: withId.id, payload: { amount: 100 } });
    const listed = await svix.message.list("acme", { eventTypes: ["user.created"] });
    expect(listed.data.map((row) => row.id)).toEqual([withoutId.id]);
  });

  it("answers the first message again for a repeated idempotency key, and 409 for a repeated eventId", async () => {
    const first = await svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: 1 } }, { idempotencyKey: "order-7" });
    const second = await svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: 1 } }, { idempotencyKey: "order-7" });
    expect(second.id).toBe(first.id);

    const repeated = await failure(svix.message.create("acme", { eventType: "invoice.paid", eventId: "inv-1", payload: { amount: 2 } }));
    expect(repeated.code).toBe(409);
    expect(repeated.body).toMatchObject({ code: "conflict" });
  });

  it("lists attempts by message and by endpoint until delivered", async () => {
    const delivered = await eventually(
      async () => {
        const page = await svix.messageAttempt.listByMsg("acme", firstMsgId);
        return page.data.length >= 2 && page.data.every((attempt) => attempt.status === MessageStatus.Success) ? page : undefined;
      },
      { what: "both attempts of the first message succeeded" },
    );
    expect(delivered.data.map((attempt) => attempt.endpointId).sort()).toEqual([billingId, allId].sort());
    const attempt = delivered.data.find((row) => row.endpointId === billingId);
    expect(attempt).toMatchObject({ msgId: firstMsgId, responseStatusCode: 200, response: "ok", url: `${receiver.url}/billing` });

    const byEndpoint = await svix.messageAttempt.listByEndpoint("acme", "billing", { status: MessageStatus.Success });
    expect(byEndpoint.data.some((row) => row.id === attempt?.id)).toBe(true);
    expect(await svix.messageAttempt.get("acme", "inv-1", attempt?.id as string)).toMatchObject({ id: attempt?.id });

    const sent = await svix.messageAttempt.listAttemptedMessages("acme", "billing", { status: MessageStatus.Success });
    expect(sent.data.find((row) => row.id === firstMsgId)).toMatchObject({
      eventId: "inv-1",
      statusText: "success",
      payload: { amount: 100 },
    });
  });

  it("rotates the secret: the next webhook verifies with the new secret and the old one", async () => {
    await svix.endpoint.rotateSecret("acme", "billing", {});
    const rotated = (await svix.endpoint.getSecret("acme", "billing")).key;
    expect(rotated).not.toBe(billingSecret);
    // The worker caches an endpoint for a few seconds: send until a webhook carries the new secret's signature.
    const got = await eventually(
      async () => {
        const message = await svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: 3 } });
        const request = await receiver.waitFor((r) => r.path === "/billing" && r.headers["webhook-id"] === message.id);
        return String(request.headers["webhook-signature"]).split(" ").length === 2 ? request : undefined;
      },
      { what: "a webhook signed with both secrets", intervalMs: 250 },
    );
    expect(verify(rotated, got)).toMatchObject({ data: { amount: 3 } });
    expect(verify(billingSecret, got)).toMatchObject({ data: { amount: 3 } });
  });

  it("resends a message to an endpoint", async () => {
    await svix.messageAttempt.resend("acme", firstMsgId, "billing");
    const both = await receiver.waitForMatching((r) => r.path === "/billing" && r.headers["webhook-id"] === firstMsgId, 2);
    expect(both).toHaveLength(2);
  });

  it("recovers what a disabled endpoint missed once it is enabled", async () => {
    const paused = await svix.endpoint.create("acme", { url: `${receiver.url}/paused`, disabled: true, filterTypes: ["invoice.paid"] });
    const since = new Date(Date.now() - 60_000);
    const missed = await svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: 5 } });
    const held = await svix.messageAttempt.listAttemptedDestinations("acme", missed.id);
    expect(held.data.find((row) => row.id === paused.id)?.statusText).toBe("canceled");

    // Herald refuses to recover a disabled endpoint (its deliveries would only be held again) until it is enabled.
    expect((await failure(svix.endpoint.recover("acme", paused.id, { since }))).code).toBe(409);
    await svix.endpoint.patch("acme", paused.id, { disabled: false });
    const task = await svix.endpoint.recover("acme", paused.id, { since });
    expect(task).toMatchObject({ status: "running", task: "endpoint.recover" });
    await receiver.waitFor((r) => r.path === "/paused" && r.headers["webhook-id"] === missed.id);
  });

  it("counts an endpoint's deliveries by status", async () => {
    answers.set("/flaky", 503);
    const flaky = await svix.endpoint.create("acme", { url: `${receiver.url}/flaky`, filterTypes: ["invoice.paid"] });
    const message = await svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: 6 } });
    await receiver.waitFor((r) => r.path === "/flaky" && r.headers["webhook-id"] === message.id);
    const stats = await eventually(
      async () => {
        const counts = await svix.endpoint.getStats("acme", flaky.id);
        return counts.sending === 1 ? counts : undefined;
      },
      { what: "the failed delivery counted as sending (a retry is scheduled)" },
    );
    expect(stats).toEqual({ success: 0, pending: 0, sending: 1, fail: 0, canceled: 0 });
    const failed = await svix.messageAttempt.listByEndpoint("acme", flaky.id, { status: MessageStatus.Fail });
    expect(failed.data[0]).toMatchObject({ responseStatusCode: 503, status: MessageStatus.Fail, response: "down" });

    // inv-1 and the rotated message were received and answered 200 (their success is recorded just after).
    await eventually(async () => (await svix.endpoint.getStats("acme", "billing")).success >= 2, { what: "billing's successes counted" });
  });

  it("reads and changes an endpoint's headers, and sends the event type's example", async () => {
    await svix.endpoint.updateHeaders("acme", "billing", { headers: { "x-one": "1", "x-two": "2" } });
    await svix.endpoint.patchHeaders("acme", "billing", { headers: { "x-three": "3" }, deleteHeaders: ["x-one"] });
    expect(await svix.endpoint.getHeaders("acme", "billing")).toEqual({ headers: { "x-two": "2", "x-three": "3" }, sensitive: [] });

    const example = await svix.endpoint.sendExample("acme", "billing", { eventType: "invoice.paid" });
    expect(example.payload).toEqual({ amount: 4200 });
    const got = await receiver.waitFor((r) => r.path === "/billing" && r.headers["webhook-id"] === example.id);
    expect(got.headers["x-three"]).toBe("3");
  });

  it("signed every webhook the receiver got with its endpoint's secret", async () => {
    const secrets = new Map<string, string[]>([["/billing", [billingSecret]]]);
    for (const endpoint of (await svix.endpoint.list("acme", { limit: 250 })).data) {
      const path = new URL(endpoint.url).pathname;
      secrets.set(path, [...(secrets.get(path) ?? []), (await svix.endpoint.getSecret("acme", endpoint.id)).key]);
    }
    expect(receiver.requests.length).toBeGreaterThan(10);
    for (const request of receiver.requests) {
      const verifies = (secrets.get(request.path) ?? []).some((secret) => {
        try {
          return Boolean(verify(secret, request));
        } catch {
          return false;
        }
      });
      expect(verifies, `${request.path} ${request.headers["webhook-id"]}`).toBe(true);
    }
  });
});

describe("errors arrive as the SDK's typed errors", () => {
  it("404 for what does not exist", async () => {
    const missing = await failure(svix.application.get("nobody"));
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({ code: "not_found" });
    expect(typeof missing.body.detail).toBe("string");
    expect((await failure(svix.endpoint.get("acme", "ep_nope"))).code).toBe(404);
    expect((await failure(svix.message.get("acme", "no-such-event"))).code).toBe(404);
  });

  it("422 with the location of each invalid field", async () => {
    const badUid = await failure(svix.application.create({ name: "", uid: "has space" }));
    expect(badUid.code).toBe(422);
    const locations = (badUid.body.detail as { loc: string[] }[]).map((item) => item.loc.join("."));
    expect(locations).toEqual(expect.arrayContaining(["body.name", "body.uid"]));

    const unknownType = await failure(svix.endpoint.create("acme", { url: `${receiver.url}/x`, filterTypes: ["nope.never"] }));
    expect(unknownType.code).toBe(422);
    expect(unknownType.body.detail).toEqual([expect.objectContaining({ loc: ["body", "filterTypes", "0"], type: "value_error" })]);

    const badPayload = await failure(svix.message.create("acme", { eventType: "invoice.paid", payload: { amount: "lots" } }));
    expect(badPayload.code).toBe(422);

    const channels = await failure(svix.endpoint.create("acme", { url: `${receiver.url}/x`, channels: ["eu"] }));
    expect(channels.body.detail).toEqual([expect.objectContaining({ loc: ["body", "channels"] })]);
  });

  it("401 for a wrong token", async () => {
    const stranger = new Svix("not-a-token", { serverUrl: herald.baseUrl, retryScheduleInMs: [] });
    const refused = await failure(stranger.application.list());
    expect(refused.code).toBe(401);
    expect(refused.body).toMatchObject({ code: "authentication_failed" });
  });
});
