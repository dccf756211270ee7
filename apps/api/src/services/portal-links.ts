import type { ServiceContext } from "../deps.ts";
import { deriveKey, signToken, verifyToken } from "../signed-token.ts";
import { resolveTenant } from "./tenants.ts";

const PURPOSE = "portal-link";

export interface PortalLinkClaims {
  tenantId: string;
  exp: number;
}

/**
 * A signed, short-lived token that opens the console for one tenant. Anyone
 * who can see the tenant (the admin, or the tenant's own key) can mint one;
 * nothing is stored, so a link cannot outlive its expiry.
 */
export async function createPortalLink(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: { expiresInSeconds: number },
): Promise<{ token: string; tenantId: string; expiresAt: Date }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const exp = Math.floor(Date.now() / 1000) + input.expiresInSeconds;
  const claims: PortalLinkClaims = { tenantId: tenant.id, exp };
  return { token: signToken(deriveKey(ctx.config, PURPOSE), claims), tenantId: tenant.id, expiresAt: new Date(exp * 1000) };
}

/** The tenant a portal token opens, or undefined when it is forged or expired. */
export function readPortalLink(config: ServiceContext["config"], token: string): PortalLinkClaims | undefined {
  const claims = verifyToken<PortalLinkClaims>(deriveKey(config, PURPOSE), token);
  return claims && typeof claims.tenantId === "string" ? claims : undefined;
}
