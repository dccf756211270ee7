import { z } from "zod";

export const timestampSchema = z.iso.datetime().meta({ example: "2026-11-30T12:00:00.000Z" });

export const metadataSchema = z
  .record(z.string().max(100), z.string().max(1000))
  .refine((value) => Object.keys(value).length <= 50, "at most 50 keys")
  .meta({ description: "Free-form string pairs for your own bookkeeping.", example: { plan: "pro" } });

export const problemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().meta({ description: "Stable machine-readable error code." }),
    requestId: z.string().optional(),
    errors: z
      .array(z.object({ path: z.string(), message: z.string() }))
      .optional()
      .meta({ description: "For validation errors: each offending field and what is wrong with it." }),
  })
  .meta({ id: "Problem", description: "An RFC 9457 problem document." });
export type Problem = z.infer<typeof problemSchema>;

export const paginationQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(250).default(50).meta({ description: "Page size, 1 to 250." }),
  cursor: z.string().max(100).optional().meta({ description: "The `nextCursor` of the previous page." }),
});
export type PaginationQuery = z.infer<typeof paginationQuerySchema>;

export function listSchema<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), nextCursor: z.string().nullable() });
}

export const MAX_JSON_DEPTH = 64;

/**
 * How deep a parsed JSON value nests, counted without recursion and giving up
 * past `limit`: JSON.parse accepts any depth, but JSON.stringify (and so
 * storing the value) overflows the stack on hostile nesting.
 */
export function jsonDepthWithin(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (current === null || typeof current !== "object") continue;
    if (depth >= limit) return false;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return true;
}

/** Any JSON value, bounded so that hostile nesting cannot exhaust the stack. */
export const jsonValueSchema = z
  .unknown()
  .refine((value) => jsonDepthWithin(value), `must not nest more than ${MAX_JSON_DEPTH} levels deep`)
  .meta({ description: `Any JSON value, nested at most ${MAX_JSON_DEPTH} levels deep.` });
