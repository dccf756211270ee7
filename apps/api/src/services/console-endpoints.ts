import { type Endpoint, endpoints } from "@herald/schema";
import { and, desc, eq, ilike, lt, or } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { page } from "../pagination.ts";
import { resolveTenant } from "./tenants.ts";

/**
 * The console's webhook search: a tenant's endpoints whose name or URL
 * contains `query` (case-insensitive), newest first, cursor-paged like every list.
 */
export async function searchEndpoints(
  ctx: ServiceContext,
  tenantIdOrUid: string,
  input: { query: string; limit: number; cursor?: string | undefined },
): Promise<{ rows: Endpoint[]; nextCursor: string | null }> {
  const tenant = await resolveTenant(ctx, tenantIdOrUid);
  const pattern = `%${input.query.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
  const rows = await ctx.db
    .select()
    .from(endpoints)
    .where(
      and(
        eq(endpoints.tenantId, tenant.id),
        or(ilike(endpoints.name, pattern), ilike(endpoints.url, pattern)),
        input.cursor ? lt(endpoints.id, input.cursor) : undefined,
      ),
    )
    .orderBy(desc(endpoints.id))
    .limit(input.limit + 1);
  return page(rows, input.limit);
}
