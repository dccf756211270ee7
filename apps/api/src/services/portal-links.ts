import { apiKeys } from "@herald/schema";
import { eq } from "drizzle-orm";
import type { AppDeps, ServiceContext } from "../deps.ts";
import { deriveKey, signToken, verifyToken } from "../signed-token.ts";
import { keyIsLive } from "./sessions.ts";
import { resolveTenant } from "./tenants.ts";

const PURPOSE = "portal-link";

/** Where a portal link opens: the console's `/portal/:token` page. Logs and traces keep this path without the token. */
export const PORTAL_PATH = "/ui/portal/";

/** A portal link's URL on the origin the request came to. */
export function portalLinkUrl(token: string, requestUrl: string): string {
  return new URL(`${PORTAL_PATH}${token}`, requestUrl).toString();
}

export interface PortalLinkClaims {
  tenantId: string;
  /** The tenant key that minted the link; revoking it stops the link. Absent when the admin minted it. */
  keyId?: string;
  exp: number;
}

/**
 * A signed, short-lived token that opens the console for one tenant. Anyone
 * who can see the tenant (the admin, or the tenant's own key) can mint one.
 * Nothing is stored: a link names the key that minted it, and stops opening
 * when that key is revoked or expires.
 */
export async function createPortalLink(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: { expiresInSeconds: number },
): Promise<{ token: string; tenantId: string; expiresAt: Date }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const exp = Math.floor(Date.now() / 1000) + input.expiresInSeconds;
  const minter = ctx.principal.kind === "tenant" ? ctx.principal.keyId : undefined;
  const claims: PortalLinkClaims = { tenantId: tenant.id, ...(minter ? { keyId: minter } : {}), exp };
  return { token: signToken(deriveKey(ctx.config, PURPOSE), claims), tenantId: tenant.id, expiresAt: new Date(exp * 1000) };
}

/** The tenant a portal token opens, or undefined when it is forged, expired, or its key was revoked. */
export async function readPortalLink(deps: Pick<AppDeps, "config" | "db">, token: string): Promise<PortalLinkClaims | undefined> {
  const claims = verifyToken<PortalLinkClaims>(deriveKey(deps.config, PURPOSE), token);
  if (!claims || typeof claims.tenantId !== "string") return undefined;
  if (claims.keyId === undefined) return claims;
  if (typeof claims.keyId !== "string") return undefined;
  const [key] = await deps.db.select().from(apiKeys).where(eq(apiKeys.id, claims.keyId)).limit(1);
  return keyIsLive(key) && key?.tenantId === claims.tenantId ? claims : undefined;
}
