import { type EventType, type EventTypeCreate, type EventTypeUpdate, eventTypes } from "@herald/schema";
import { and, asc, eq, gt } from "drizzle-orm";
import type { ServiceContext } from "../deps.ts";
import { ApiError, notFound } from "../errors.ts";
import { compileSchema, schemaErrors, validatorFor } from "./payload-schema.ts";
import { forgetEventType } from "./publish-lookups.ts";
import { isUniqueViolation, requireAdmin } from "./tenants.ts";

/** A schema must compile, and the type's own example must satisfy it (the catalog shows both side by side). */
function checkSchema(schema: Record<string, unknown> | null | undefined, example: unknown): void {
  if (!schema) return;
  const result = compileSchema(schema);
  if ("problem" in result) {
    throw new ApiError(
      result.unsupportedPattern ? "unsupported_pattern" : "validation_failed",
      `schema is not a valid JSON Schema: ${result.problem}`,
      [{ path: "schema", message: result.problem }],
    );
  }
  if (example !== undefined && example !== null && !result.validate(example)) {
    const errors = schemaErrors(result.validate.errors, "example");
    throw new ApiError("validation_failed", "example does not match the schema", errors);
  }
}

export async function createEventType(ctx: ServiceContext, input: EventTypeCreate): Promise<EventType> {
  requireAdmin(ctx);
  checkSchema(input.schema, input.example);
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
  if (input.schema !== undefined || input.example !== undefined) {
    const current = await getEventType(ctx, name);
    const schema = input.schema === undefined ? (current.schema as Record<string, unknown> | null) : input.schema;
    checkSchema(schema, input.example === undefined ? current.example : input.example);
  }
  const [row] = await ctx.db
    .update(eventTypes)
    .set({ ...input, updatedAt: new Date() })
    .where(eq(eventTypes.name, name))
    .returning();
  forgetEventType(ctx, name);
  if (!row) throw notFound(`event type ${name}`);
  return row;
}

/**
 * Checks a payload against the type's JSON Schema, if it has one; answers 422
 * `payload_invalid` listing each schema error. The publish path calls this.
 */
export function validatePayload(_ctx: ServiceContext, eventType: EventType, payload: unknown, path = "payload"): void {
  if (!eventType.schema) return;
  const validate = validatorFor(eventType.name, eventType.updatedAt.getTime(), eventType.schema as Record<string, unknown>);
  if (!validate || validate(payload)) return;
  const errors = schemaErrors(validate.errors, path);
  throw new ApiError(
    "payload_invalid",
    `the payload does not match the schema of ${eventType.name}: ${errors.map((e) => `${e.path} ${e.message}`).join("; ")}`,
    errors,
  );
}
