import { type EventType, type EventTypeCreate, type EventTypeUpdate, eventTypes } from "@herald/schema";
import { and, asc, eq, gt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { isUniqueViolation, requireAdmin } from "./tenants.ts";

export async function createEventType(ctx: ServiceContext, input: EventTypeCreate): Promise<EventType> {
  requireAdmin(ctx);
  try {
    const [row] = await ctx.db
      .insert(eventTypes)
      .values({ name: input.name, description: input.description, example: input.example ?? null, schema: input.schema ?? null })
      .returning();
    return row as EventType;
  } catch (error) {
    if (isUniqueViolation(error)) throw new ApiError("conflict", `event type ${input.name} already exists`);
    throw error;
  }
}

/** The catalog, alphabetical; the cursor is the last name of the previous page. */
export async function listEventTypes(
  ctx: ServiceContext,
  input: { limit: number; cursor?: string | undefined; includeArchived?: boolean },
) {
  const rows = await ctx.db
    .select()
    .from(eventTypes)
    .where(
      and(input.cursor ? gt(eventTypes.name, input.cursor) : undefined, input.includeArchived ? undefined : eq(eventTypes.archived, false)),
    )
    .orderBy(asc(eventTypes.name))
    .limit(input.limit + 1);
  const more = rows.length > input.limit;
  const kept = more ? rows.slice(0, input.limit) : rows;
  return { rows: kept, nextCursor: more ? (kept[kept.length - 1]?.name ?? null) : null };
}

export async function getEventType(ctx: ServiceContext, name: string): Promise<EventType> {
  const [row] = await ctx.db.select().from(eventTypes).where(eq(eventTypes.name, name)).limit(1);
  if (!row) throw notFound(`event type ${name}`);
  return row;
}

export async function updateEventType(ctx: ServiceContext, name: string, input: EventTypeUpdate): Promise<EventType> {
  requireAdmin(ctx);
  const [row] = await ctx.db
    .update(eventTypes)
    .set({ ...input, updatedAt: new Date() })
    .where(eq(eventTypes.name, name))
    .returning();
  if (!row) throw notFound(`event type ${name}`);
  return row;
}
