import {
  newId,
  type Tenant,
  type TenantCreate,
  type TenantLimitOverrides,
  type TenantLimitsInput,
  type TenantUpdate,
  tenants,
} from "@herald/schema";
import { and, asc, desc, eq, gt, lt, or } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { page } from "../pagination.ts";
import { forgetTenant } from "./publish-lookups.ts";

function requireAdmin(ctx: ServiceContext): void {
  if (ctx.principal.kind !== "admin") throw new ApiError("forbidden", "this operation needs the admin token");
}

/** The tenant row with this id or uid, whoever asks. */
export async function findTenant(ctx: ServiceContext, idOrUid: string): Promise<Tenant | undefined> {
  const [row] = await ctx.db
    .select()
    .from(tenants)
    .where(idOrUid.startsWith("ten_") ? eq(tenants.id, idOrUid) : or(eq(tenants.uid, idOrUid), eq(tenants.id, idOrUid)))
    .limit(1);
  return row;
}

/** A tenant key sees only its own tenant; any other looks absent (404), as if it did not exist. */
export function visibleTenant(ctx: ServiceContext, row: Tenant | undefined, idOrUid: string): Tenant {
  if (!row || (ctx.principal.kind === "tenant" && ctx.principal.tenantId !== row.id)) throw notFound(`tenant ${idOrUid}`);
  return row;
}

/** Finds a tenant by id or uid, as the caller may see it. */
export async function resolveTenant(ctx: ServiceContext, idOrUid: string): Promise<Tenant> {
  return visibleTenant(ctx, await findTenant(ctx, idOrUid), idOrUid);
}

/** The overrides after a change: a number sets a limit, null returns it to the deployment's default. */
function mergedLimits(current: TenantLimitOverrides, change: TenantLimitsInput | undefined): TenantLimitOverrides {
  const next: TenantLimitOverrides = { ...current };
  for (const [name, value] of Object.entries(change ?? {}) as [keyof TenantLimitOverrides, number | null | undefined][]) {
    if (value === null) delete next[name];
    else if (value !== undefined) next[name] = value;
  }
  return next;
}

function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string })?.code === "23505" || (error as { cause?: { code?: string } })?.cause?.code === "23505";
}

export async function createTenant(ctx: ServiceContext, input: TenantCreate): Promise<Tenant> {
  requireAdmin(ctx);
  try {
    const [row] = await ctx.db
      .insert(tenants)
      .values({
        id: newId("tenant"),
        name: input.name,
        uid: input.uid ?? null,
        metadata: input.metadata ?? {},
        limits: mergedLimits({}, input.limits),
      })
      .returning();
    return row as Tenant;
  } catch (error) {
    if (isUniqueViolation(error)) throw new ApiError("conflict", `a tenant with uid ${input.uid} already exists`);
    throw error;
  }
}

/** Newest first by default; `oldest` pages from the first created. */
export async function listTenants(ctx: ServiceContext, input: { limit: number; cursor?: string | undefined; order?: "newest" | "oldest" }) {
  const scope = ctx.principal.kind === "tenant" ? eq(tenants.id, ctx.principal.tenantId) : undefined;
  const oldest = input.order === "oldest";
  const after = oldest ? gt : lt;
  const rows = await ctx.db
    .select()
    .from(tenants)
    .where(and(scope, input.cursor ? after(tenants.id, input.cursor) : undefined))
    .orderBy(oldest ? asc(tenants.id) : desc(tenants.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}

export async function updateTenant(ctx: ServiceContext, idOrUid: string, input: TenantUpdate): Promise<Tenant> {
  const tenant = await resolveTenant(ctx, idOrUid);
  // The uid routes the operator's publishes: a tenant that could change it could squat another customer's uid,
  // and a 409 would tell it which uids exist. Sending its own uid unchanged is harmless.
  if (input.uid !== undefined && input.uid !== tenant.uid && ctx.principal.kind !== "admin") {
    throw new ApiError("forbidden", "changing a tenant's uid needs the admin token", [
      { path: "uid", message: "only the admin may change it" },
    ]);
  }
  if (input.limits !== undefined && ctx.principal.kind !== "admin") {
    throw new ApiError("forbidden", "changing a tenant's limits needs the admin token", [
      { path: "limits", message: "only the admin may change them" },
    ]);
  }
  const { limits, ...fields } = input;
  try {
    const [row] = await ctx.db
      .update(tenants)
      .set({ ...fields, ...(limits ? { limits: mergedLimits(tenant.limits, limits) } : {}), updatedAt: new Date() })
      .where(eq(tenants.id, tenant.id))
      .returning();
    forgetTenant(ctx, tenant);
    return row as Tenant;
  } catch (error) {
    if (isUniqueViolation(error)) throw new ApiError("conflict", `a tenant with uid ${input.uid} already exists`);
    throw error;
  }
}

/** Deletes the tenant and, in the same statement's cascade, its keys, endpoints, events, deliveries and attempts. */
export async function deleteTenant(ctx: ServiceContext, idOrUid: string): Promise<void> {
  requireAdmin(ctx);
  const tenant = await resolveTenant(ctx, idOrUid);
  await ctx.db.delete(tenants).where(eq(tenants.id, tenant.id));
  forgetTenant(ctx, tenant);
}

export { isUniqueViolation, requireAdmin };
