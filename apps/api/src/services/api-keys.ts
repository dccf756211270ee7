import { randomBytes } from "node:crypto";
import { type ApiKey, type ApiKeyCreate, apiKeys, newId } from "@herald/schema";
import { and, desc, eq, lt } from "drizzle-orm";
import { hashApiKey } from "../auth.ts";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { endSessionsOfKey } from "./sessions.ts";
import { resolveTenant } from "./tenants.ts";

const KEY_PREFIX = "hk_";
/** `hk_` plus enough of the key that people can tell keys apart, too little to matter. */
const SHOWN_START = KEY_PREFIX.length + 4;

/** A new key: 32 random bytes, base64url; only its SHA-256 is stored. */
export function generateApiKey(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

export async function createApiKey(ctx: ServiceContext, tenantIdOrUid: string, input: ApiKeyCreate): Promise<{ row: ApiKey; key: string }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  if (input.expiresAt && Date.parse(input.expiresAt) <= Date.now()) {
    throw new ApiError("validation_failed", "expiresAt must be in the future", [{ path: "expiresAt", message: "must be in the future" }]);
  }
  const key = generateApiKey();
  const [row] = await ctx.db
    .insert(apiKeys)
    .values({
      id: newId("apiKey"),
      tenantId: tenant.id,
      name: input.name,
      start: key.slice(0, SHOWN_START),
      hash: hashApiKey(key),
      expiresAt: input.expiresAt ? new Date(input.expiresAt) : null,
    })
    .returning();
  return { row: row as ApiKey, key };
}

export async function listApiKeys(ctx: ServiceContext, tenantIdOrUid: string, input: { limit: number; cursor?: string | undefined }) {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const rows = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenant.id), input.cursor ? lt(apiKeys.id, input.cursor) : undefined))
    .orderBy(desc(apiKeys.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}

/** Revoking keeps the row (so the console can show who had access) but the key stops working at once. */
export async function revokeApiKey(ctx: ServiceContext, tenantIdOrUid: string, keyId: string): Promise<ApiKey> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const [current] = await ctx.db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenant.id), eq(apiKeys.id, keyId)))
    .limit(1);
  if (!current) throw notFound(`API key ${keyId}`);
  if (current.revokedAt) return current;
  const [row] = await ctx.db.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, current.id)).returning();
  // The sessions check the key on every request anyway; ending them too keeps the admin's session list honest.
  await endSessionsOfKey(ctx, current.id);
  return row as ApiKey;
}
