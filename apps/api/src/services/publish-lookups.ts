import { TtlCache } from "@herald/runtime";
import { type EventType, eventTypes, type Tenant } from "@herald/schema";
import { inArray } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { findTenant, visibleTenant } from "./tenants.ts";

/**
 * How long a publishing API process may use a tenant or catalog entry it has
 * read, without asking PostgreSQL again. Publishing is the hot path: without
 * this, two of its four round trips are these lookups. A change made through
 * this process is seen at once (it forgets the entry); a change made through
 * another API process is seen within this time. A tenant deleted elsewhere
 * meanwhile makes the insert fail its foreign key, which answers 404.
 */
export const PUBLISH_LOOKUP_TTL_MS = 2000;

interface Lookups {
  tenants: TtlCache<string, Tenant>;
  eventTypes: TtlCache<string, EventType>;
}

// One cache per app instance: each createApp has its own database handle.
const byDatabase = new WeakMap<object, Lookups>();

function lookups(ctx: ServiceContext): Lookups {
  let found = byDatabase.get(ctx.db);
  if (!found) {
    found = { tenants: new TtlCache(PUBLISH_LOOKUP_TTL_MS, 10_000), eventTypes: new TtlCache(PUBLISH_LOOKUP_TTL_MS, 10_000) };
    byDatabase.set(ctx.db, found);
  }
  return found;
}

/** resolveTenant for publishing: cached, with the same visibility rule (a tenant key sees only its own). */
export async function publishingTenant(ctx: ServiceContext, idOrUid: string): Promise<Tenant> {
  const cache = lookups(ctx).tenants;
  let tenant = cache.get(idOrUid);
  if (!tenant) {
    tenant = await findTenant(ctx, idOrUid);
    if (tenant) cache.set(idOrUid, tenant);
  }
  return visibleTenant(ctx, tenant, idOrUid);
}

/** The catalog entries of these names that exist (archived ones included); unknown names are not cached. */
export async function publishingEventTypes(ctx: ServiceContext, names: string[]): Promise<Map<string, EventType>> {
  const cache = lookups(ctx).eventTypes;
  const found = new Map<string, EventType>();
  const missing: string[] = [];
  for (const name of names) {
    const hit = cache.get(name);
    if (hit) found.set(name, hit);
    else missing.push(name);
  }
  if (missing.length > 0) {
    for (const row of await ctx.db.select().from(eventTypes).where(inArray(eventTypes.name, missing))) {
      cache.set(row.name, row);
      found.set(row.name, row);
    }
  }
  return found;
}

/** Called by this process's own writes, so it never publishes against what it just changed. */
export function forgetTenant(ctx: ServiceContext, tenant: Pick<Tenant, "id" | "uid">): void {
  const cache = lookups(ctx).tenants;
  cache.delete(tenant.id);
  if (tenant.uid) cache.delete(tenant.uid);
}

export function forgetEventType(ctx: ServiceContext, name: string): void {
  lookups(ctx).eventTypes.delete(name);
}
