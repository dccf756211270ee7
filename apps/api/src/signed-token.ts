import { createHmac, timingSafeEqual } from "node:crypto";
import type { ApiConfig } from "@herald/config";

/**
 * A key for one purpose (sessions, portal links), so a token minted for one
 * purpose is never accepted for another, and rotating HERALD_SESSION_SECRET
 * (or the admin token when it is unset) invalidates them all.
 */
export function deriveKey(config: Pick<ApiConfig, "HERALD_SESSION_SECRET" | "HERALD_ADMIN_TOKEN">, purpose: string): Buffer {
  return createHmac("sha256", config.HERALD_SESSION_SECRET ?? config.HERALD_ADMIN_TOKEN)
    .update(`herald:${purpose}`)
    .digest();
}

function mac(key: Buffer, text: string): string {
  return createHmac("sha256", key).update(text).digest("base64url");
}

/** `base64url(json).base64url(hmac)`: anyone can read it, only the key holder can make one. */
export function signToken(key: Buffer, payload: { exp: number }): string {
  const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
  return `${body}.${mac(key, body)}`;
}

/** The payload when the signature holds and `exp` (unix seconds) is in the future; otherwise undefined. */
export function verifyToken<T extends { exp: number }>(key: Buffer, token: string, now = Date.now()): T | undefined {
  const [body, signature, extra] = token.split(".");
  if (!body || !signature || extra !== undefined) return undefined;
  const expected = Buffer.from(mac(key, body));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as T;
    return typeof payload.exp === "number" && payload.exp * 1000 > now ? payload : undefined;
  } catch {
    return undefined;
  }
}

/** A short keyed digest, e.g. a CSRF token bound to one session id. */
export function keyedDigest(key: Buffer, text: string): string {
  return mac(key, text);
}
