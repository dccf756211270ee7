import { eventually, type Herald, type ReceivedRequest, type Receiver, startHerald, startReceiver } from "@herald/testing";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Real API and worker processes: the worker caches endpoints for up to 5 s, so
// the test waits for what the receiver sees rather than for a clock.
let herald: Herald;
let receiver: Receiver;
let endpointId: string;

beforeAll(async () => {
  herald = await startHerald();
  receiver = await startReceiver();
  await herald.request("POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  await herald.request("POST", "/v1/event-types", { name: "payment.received", description: "", example: { amount: 1 } });
  const endpoint = await herald.request("POST", "/v1/tenants/acme/endpoints", { name: "Hook", url: receiver.url });
  endpointId = endpoint.body.id;
}, 90_000);

afterAll(async () => {
  await receiver?.close();
  await herald?.stop();
});

/** Publishes one event and answers the request the receiver got for it. */
async function publishAndReceive(): Promise<ReceivedRequest> {
  const published = await herald.request("POST", "/v1/tenants/acme/events", { eventType: "payment.received", payload: { n: 1 } });
  expect(published.status).toBe(202);
  // The delivery may arrive before the publish answers: wait for its webhook-id, not for "one more request".
  return receiver.waitFor(published.body.id);
}

function verifies(request: ReceivedRequest, secret: string): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

describe("secret rotation, end to end", () => {
  it("signs with both secrets during the grace period and only the new one after it", async () => {
    const oldSecret = (await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}/secret`)).body.secret as string;
    const before = await publishAndReceive();
    expect(verifies(before, oldSecret)).toBe(true);

    // Longer than the worker's endpoint cache, so the worker sees the new secret while the old one still signs.
    const rotated = await herald.request("POST", `/v1/tenants/acme/endpoints/${endpointId}/secret/rotate`, { gracePeriod: "15s" });
    expect(rotated.status).toBe(200);
    const newSecret = rotated.body.secret as string;
    const expiresAt = Date.parse(rotated.body.previousSecretExpiresAt);

    const during = await eventually(
      async () => {
        const request = await publishAndReceive();
        return verifies(request, newSecret) ? request : undefined;
      },
      { what: "a delivery signed with the new secret", intervalMs: 250 },
    );
    expect(during.receivedAt).toBeLessThan(expiresAt);
    expect(verifies(during, oldSecret)).toBe(true);
    expect(String(during.headers["webhook-signature"]).split(" ")).toHaveLength(2);

    // After the grace period (and the worker's cache) the old secret stops verifying.
    const after = await eventually(
      async () => {
        if (Date.now() < expiresAt) return undefined;
        const request = await publishAndReceive();
        return verifies(request, oldSecret) ? undefined : request;
      },
      { what: "a delivery no longer signed with the old secret", timeoutMs: 40_000, intervalMs: 250 },
    );
    expect(verifies(after, newSecret)).toBe(true);
    const last = await publishAndReceive();
    expect(verifies(last, newSecret)).toBe(true);
    expect(verifies(last, oldSecret)).toBe(false);
    expect(String(last.headers["webhook-signature"]).split(" ")).toHaveLength(1);

    const shown = await herald.request("GET", `/v1/tenants/acme/endpoints/${endpointId}/secret`);
    expect(shown.body).toEqual({ secret: newSecret, previousSecret: null, previousSecretExpiresAt: null });
  }, 90_000);
});
