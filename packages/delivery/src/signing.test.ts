import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { buildHeaders } from "./headers.ts";
import { generateSecret, isValidSecret, sign, verify } from "./signing.ts";

const body = JSON.stringify({ type: "payment.received", timestamp: "2026-11-30T12:00:00.000Z", data: { amount: 1 } });

describe("Standard Webhooks signing, checked against the standardwebhooks package", () => {
  it("makes signatures the reference library verifies", () => {
    const secret = generateSecret();
    const headers = buildHeaders("evt_1", body, [secret], {});
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it("verifies with either secret while two sign", () => {
    const [oldSecret, newSecret] = [generateSecret(), generateSecret()];
    const headers = buildHeaders("evt_2", body, [newSecret, oldSecret], {});
    expect(headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(() => new Webhook(oldSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(newSecret).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow();
  });

  it("fails verification for a tampered body, id or timestamp", () => {
    const secret = generateSecret();
    const headers = buildHeaders("evt_3", body, [secret], {});
    const webhook = new Webhook(secret);
    expect(() => webhook.verify(body.replace("1}", "2}"), headers)).toThrow();
    expect(() => webhook.verify(body, { ...headers, "webhook-id": "evt_4" })).toThrow();
    const earlier = String(Number(headers["webhook-timestamp"]) - 1);
    expect(() => webhook.verify(body, { ...headers, "webhook-timestamp": earlier })).toThrow();
  });

  it("matches a known vector", () => {
    // The example from the Standard Webhooks specification.
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const payload = '{"test": 2432232314}';
    expect(sign([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, payload)).toBe("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  });

  it("keeps custom headers from replacing signed ones", () => {
    const headers = buildHeaders("evt_5", body, [generateSecret()], { "webhook-id": "forged", "x-tenant": "acme" });
    expect(headers["webhook-id"]).toBe("evt_5");
    expect(headers["x-tenant"]).toBe("acme");
  });

  it("accepts only whsec_ secrets of 24 to 64 bytes", () => {
    expect(isValidSecret(generateSecret())).toBe(true);
    expect(isValidSecret(`whsec_${Buffer.alloc(24, 1).toString("base64")}`)).toBe(true);
    expect(isValidSecret(`whsec_${Buffer.alloc(23, 1).toString("base64")}`)).toBe(false);
    expect(isValidSecret(`whsec_${Buffer.alloc(65, 1).toString("base64")}`)).toBe(false);
    expect(isValidSecret(Buffer.alloc(32, 1).toString("base64"))).toBe(false);
    expect(isValidSecret("whsec_not base64!")).toBe(false);
  });
});

describe("verify, the receiver's side (used by herald listen and herald verify)", () => {
  const secret = generateSecret();
  const signed = (secrets: string[], at: number, payload = body) => {
    const headers = buildHeaders("evt_9", payload, secrets, {}, at);
    return { id: headers["webhook-id"], timestamp: headers["webhook-timestamp"], signature: headers["webhook-signature"], body: payload };
  };
  const now = Math.floor(Date.now() / 1000);

  it("accepts what Herald signs, as the reference library does, with either secret during a rotation", () => {
    const request = signed([generateSecret(), secret], now);
    expect(verify(secret, request)).toEqual({ ok: true, id: "evt_9", timestampSeconds: now });
    expect(() =>
      new Webhook(secret).verify(body, {
        "webhook-id": request.id ?? "",
        "webhook-timestamp": request.timestamp ?? "",
        "webhook-signature": request.signature ?? "",
      }),
    ).not.toThrow();
  });

  it("refuses, and says why: another secret, a changed body, a missing header, an old signature", () => {
    const request = signed([secret], now);
    expect(verify(generateSecret(), request)).toMatchObject({ ok: false, reason: expect.stringContaining("no signature matches") });
    expect(verify(secret, { ...request, body: body.replace("1}", "2}") })).toMatchObject({
      ok: false,
      reason: expect.stringContaining("no signature matches"),
    });
    expect(verify(secret, { ...request, signature: undefined })).toEqual({ ok: false, reason: "the webhook-signature header is missing" });
    expect(verify("not-a-secret", request)).toMatchObject({ ok: false, reason: expect.stringContaining("not a Standard Webhooks secret") });
    const old = signed([secret], now - 3600);
    // The clock is given: read at verify time, it may have passed a second since `now` on a busy machine (3601 s ago).
    expect(verify(secret, old, { nowSeconds: now })).toMatchObject({ ok: false, reason: expect.stringContaining("signed 3600 s ago") });
    expect(verify(secret, old, { toleranceSeconds: null })).toMatchObject({ ok: true });
  });
});
