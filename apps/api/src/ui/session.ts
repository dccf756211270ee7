import { randomBytes } from "node:crypto";
import { apiKeys } from "@herald/schema";
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import type { AppDeps, Principal } from "../deps.ts";
import { deriveKey, keyedDigest, signToken, verifyToken } from "../signed-token.ts";
import type { UiEnv } from "./env.ts";

export const SESSION_COOKIE = "herald_session";
const SIGN_IN_COOKIE = "herald_sign_in";
const SESSION_SECONDS = 12 * 3600;
const PORTAL_SESSION_SECONDS = 3600;

/** What the cookie holds: who signed in, never the token they signed in with. */
export interface Session {
  kind: "admin" | "tenant";
  tenantId?: string;
  keyId?: string;
  /** Opened from a portal link: the tenant's own customers, not the operator. */
  portal?: boolean;
  sid: string;
  exp: number;
}

function sessionKey(deps: AppDeps): Buffer {
  return deriveKey(deps.config, "ui-session");
}

function csrfFor(deps: AppDeps, sid: string): string {
  return keyedDigest(deriveKey(deps.config, "ui-csrf"), sid);
}

function isHttps(c: Context): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

export function startSession(c: Context, deps: AppDeps, who: Principal, portal = false): void {
  const seconds = portal ? PORTAL_SESSION_SECONDS : SESSION_SECONDS;
  const session: Session = {
    kind: who.kind,
    ...(who.kind === "tenant" ? { tenantId: who.tenantId, ...(portal ? {} : { keyId: who.keyId }) } : {}),
    ...(portal ? { portal: true } : {}),
    sid: randomBytes(16).toString("base64url"),
    exp: Math.floor(Date.now() / 1000) + seconds,
  };
  setCookie(c, SESSION_COOKIE, signToken(sessionKey(deps), session), {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/ui",
    maxAge: seconds,
  });
}

export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/ui" });
}

/** A tenant key session ends as soon as the key is revoked or expires. */
async function keyStillValid(deps: AppDeps, keyId: string): Promise<boolean> {
  const [key] = await deps.db.select().from(apiKeys).where(eq(apiKeys.id, keyId)).limit(1);
  return Boolean(key && !key.revokedAt && !(key.expiresAt && key.expiresAt < new Date()));
}

function principalOf(session: Session): Principal | undefined {
  if (session.kind === "admin") return { kind: "admin" };
  if (!session.tenantId) return undefined;
  return { kind: "tenant", tenantId: session.tenantId, keyId: session.keyId ?? "portal" };
}

/**
 * Signed-in pages: reads the session cookie, gives handlers the same
 * ServiceContext an API call gets, and refuses any POST without the
 * session's CSRF token.
 */
export function requireSession(deps: AppDeps) {
  return createMiddleware<UiEnv>(async (c, next) => {
    const token = getCookie(c, SESSION_COOKIE);
    const session = token ? verifyToken<Session>(sessionKey(deps), token) : undefined;
    const principal = session && principalOf(session);
    if (!session || !principal || (session.keyId && !(await keyStillValid(deps, session.keyId)))) {
      endSession(c);
      if (c.req.method !== "GET") return c.text("Your session has ended; sign in again.", 401);
      return c.redirect(`/ui/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
    }
    const csrf = csrfFor(deps, session.sid);
    if (c.req.method === "POST") {
      const form = await c.req.parseBody({ all: true });
      if (form._csrf !== csrf) return c.text("This form has expired; go back, reload the page and try again.", 403);
      c.set("form", form);
    }
    c.set("session", session);
    c.set("csrf", csrf);
    c.set("principal", principal);
    c.set("ctx", { ...deps, principal });
    await next();
  });
}

/**
 * The sign-in form has no session yet, so its CSRF token is bound to a
 * random cookie instead (double submit): a foreign site can post the form but
 * cannot read or set that cookie.
 */
export function signInCsrf(c: Context, deps: AppDeps): string {
  let nonce = getCookie(c, SIGN_IN_COOKIE);
  if (!nonce || !/^[\w-]{22}$/.test(nonce)) {
    nonce = randomBytes(16).toString("base64url");
    setCookie(c, SIGN_IN_COOKIE, nonce, { httpOnly: true, sameSite: "Lax", secure: isHttps(c), path: "/ui", maxAge: 3600 });
  }
  return csrfFor(deps, `sign-in:${nonce}`);
}

export function signInCsrfValid(c: Context, deps: AppDeps, given: unknown): boolean {
  const nonce = getCookie(c, SIGN_IN_COOKIE);
  return Boolean(nonce) && given === csrfFor(deps, `sign-in:${nonce}`);
}
