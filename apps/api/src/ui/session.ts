import { randomBytes } from "node:crypto";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { clientAddress } from "../client-address.ts";
import type { AppDeps, Principal } from "../deps.ts";
import { endSessionById, liveSession, openSession } from "../services/sessions.ts";
import { deriveKey, keyedDigest, signToken, verifyToken } from "../signed-token.ts";
import type { UiEnv } from "./env.ts";

export const SESSION_COOKIE = "herald_session";
const SIGN_IN_COOKIE = "herald_sign_in";
const SESSION_SECONDS = 12 * 3600;
const PORTAL_SESSION_SECONDS = 3600;

/** What the cookie holds: a signed session id, never the token signed in with. The row decides if it is open. */
interface SessionCookie {
  sid: string;
  exp: number;
}

/** The signed-in session as pages see it. */
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

/**
 * Opens a session row and hands the browser a cookie naming it. A portal
 * session remembers the key that minted its link, so revoking that key ends it.
 */
export async function startSession(c: Context, deps: AppDeps, who: Principal, portal?: { mintedBy: string | undefined }): Promise<void> {
  const seconds = portal ? PORTAL_SESSION_SECONDS : SESSION_SECONDS;
  const row = await openSession(deps, {
    kind: portal ? "portal" : who.kind,
    tenantId: who.kind === "tenant" ? who.tenantId : undefined,
    keyId: portal ? portal.mintedBy : who.kind === "tenant" ? who.keyId : undefined,
    seconds,
    address: clientAddress(c, deps.config.HERALD_TRUST_PROXY),
    userAgent: c.req.header("user-agent"),
  });
  const cookie: SessionCookie = { sid: row.id, exp: Math.floor(row.expiresAt.getTime() / 1000) };
  setCookie(c, SESSION_COOKIE, signToken(sessionKey(deps), cookie), {
    httpOnly: true,
    sameSite: "Lax",
    secure: isHttps(c),
    path: "/ui",
    maxAge: seconds,
  });
}

/** Ends the session on the server (every copy of the cookie stops working) and clears the cookie. */
export async function endSession(c: Context<UiEnv>, deps: AppDeps): Promise<void> {
  const session = c.var.session;
  if (session) await endSessionById(deps, session.sid);
  clearSessionCookie(c);
}

function clearSessionCookie(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/ui" });
}

async function currentSession(c: Context, deps: AppDeps): Promise<Session | undefined> {
  const token = getCookie(c, SESSION_COOKIE);
  const cookie = token ? verifyToken<SessionCookie>(sessionKey(deps), token) : undefined;
  if (!cookie || typeof cookie.sid !== "string") return undefined;
  const row = await liveSession(deps, cookie.sid);
  if (!row) return undefined;
  if (row.kind !== "admin" && !row.tenantId) return undefined;
  return {
    kind: row.kind === "admin" ? "admin" : "tenant",
    ...(row.tenantId ? { tenantId: row.tenantId } : {}),
    ...(row.kind === "tenant" && row.keyId ? { keyId: row.keyId } : {}),
    ...(row.kind === "portal" ? { portal: true } : {}),
    sid: row.id,
    exp: Math.floor(row.expiresAt.getTime() / 1000),
  };
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
    const session = await currentSession(c, deps);
    const principal = session && principalOf(session);
    if (!session || !principal) {
      clearSessionCookie(c);
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
