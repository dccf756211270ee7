import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

const SECRET_PREFIX = "whsec_";

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString("base64");
}

/** True for `whsec_` + base64 of 24 to 64 bytes, the range the specification allows. */
export function isValidSecret(secret: string): boolean {
  if (!secret.startsWith(SECRET_PREFIX)) return false;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return false;
  const length = Buffer.from(encoded, "base64").length;
  return length >= 24 && length <= 64;
}

function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, "base64");
}

/**
 * The `webhook-signature` header value: one `v1,<base64 HMAC-SHA256>` per secret
 * over `id.timestamp.body`, space-separated, so a receiver holding either the
 * old or the new secret verifies during a rotation.
 */
export function sign(secrets: readonly string[], id: string, timestampSeconds: number, body: string): string {
  const content = `${id}.${timestampSeconds}.${body}`;
  return secrets.map((secret) => `v1,${createHmac("sha256", secretKey(secret)).update(content).digest("base64")}`).join(" ");
}

export interface SignedRequest {
  /** The raw header values, as received (`webhook-id`, `webhook-timestamp`, `webhook-signature`). */
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
  /** The body exactly as received: verifying a re-serialized body fails. */
  body: string;
}

export type Verification = { ok: true; id: string; timestampSeconds: number } | { ok: false; reason: string };

/**
 * Checks a received webhook as a Standard Webhooks receiver does, and says why
 * it fails in words a person can act on. `toleranceSeconds` bounds how far the
 * signing time may be from `nowSeconds` (replay protection); `null` checks the
 * signature only, for a request saved a while ago.
 */
export function verify(
  secret: string,
  request: SignedRequest,
  { toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000) }: { toleranceSeconds?: number | null; nowSeconds?: number } = {},
): Verification {
  if (!isValidSecret(secret))
    return { ok: false, reason: "the secret is not a Standard Webhooks secret (whsec_ followed by base64 of 24 to 64 bytes)" };
  if (!request.id) return { ok: false, reason: "the webhook-id header is missing" };
  if (!request.timestamp) return { ok: false, reason: "the webhook-timestamp header is missing" };
  if (!request.signature) return { ok: false, reason: "the webhook-signature header is missing" };
  if (!/^\d+$/.test(request.timestamp))
    return { ok: false, reason: `webhook-timestamp ${JSON.stringify(request.timestamp)} is not unix seconds` };
  const timestampSeconds = Number(request.timestamp);
  const offered = request.signature
    .split(" ")
    .filter((part) => part.startsWith("v1,"))
    .map((part) => Buffer.from(part.slice(3), "base64"));
  if (offered.length === 0) return { ok: false, reason: "webhook-signature holds no v1 signature" };
  const expected = Buffer.from(sign([secret], request.id, timestampSeconds, request.body).slice(3), "base64");
  if (!offered.some((candidate) => candidate.length === expected.length && timingSafeEqual(candidate, expected))) {
    return {
      ok: false,
      reason:
        "no signature matches this secret: it was signed with another secret, or the body, webhook-id or webhook-timestamp changed on the way",
    };
  }
  if (toleranceSeconds !== null && Math.abs(nowSeconds - timestampSeconds) > toleranceSeconds) {
    const age = nowSeconds - timestampSeconds;
    const when = age >= 0 ? `${age} s ago` : `${-age} s in the future`;
    return {
      ok: false,
      reason: `the signature matches, but it was signed ${when}, outside the ${toleranceSeconds} s a receiver should accept (replay protection)`,
    };
  }
  return { ok: true, id: request.id, timestampSeconds };
}
