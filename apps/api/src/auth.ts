import { createHash, timingSafeEqual } from "node:crypto";
import { apiKeys } from "@herald/schema";
import { and, eq, isNull, lt, or } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { AppDeps, AppEnv, Principal } from "./deps.ts";
import { ApiError } from "./errors.ts";

/** A key's last-used time is written at most this often, so busy keys cost no write per request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

function sameSecret(a: string, b: string): boolean {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Who a bearer token belongs to: the admin token, a live tenant key, or nobody. */
export async function principalFor(deps: AppDeps, token: string): Promise<Principal | undefined> {
  if (sameSecret(token, deps.config.HERALD_ADMIN_TOKEN)) return { kind: "admin" };
  if (!token.startsWith("hk_")) return undefined;
  const [key] = await deps.db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.hash, hashApiKey(token)))
    .limit(1);
  const now = new Date();
  if (!key || key.revokedAt || (key.expiresAt && key.expiresAt < now)) return undefined;
  if (!key.lastUsedAt || now.getTime() - key.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
    // Not awaited: the answer does not depend on it, and the condition keeps concurrent requests to one write.
    const stale = new Date(now.getTime() - LAST_USED_RESOLUTION_MS);
    deps.db
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(and(eq(apiKeys.id, key.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale))))
      .catch((error: unknown) => deps.logger.warn({ err: error, keyId: key.id }, "could not record the key's last use"));
  }
  return { kind: "tenant", tenantId: key.tenantId, keyId: key.id };
}

export function bearerAuth(deps: AppDeps) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) throw new ApiError("unauthorized", "send an Authorization: Bearer <token> header");
    const principal = await principalFor(deps, match[1]);
    if (!principal) throw new ApiError("unauthorized", "the bearer token is not valid");
    c.set("principal", principal);
    c.set("ctx", { ...deps, principal });
    await next();
  });
}
