import { z } from "zod";
import { timestampSchema } from "./common.ts";

export const eventTypeNameSchema = z
  .string()
  .min(3)
  .max(100)
  .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, "must look like resource.action: lower-case words joined by dots")
  .meta({ example: "payment.received" });

const jsonSchemaSchema = z
  .record(z.string(), z.unknown())
  .meta({ description: "A JSON Schema (draft 2020-12) that published payloads must satisfy." });

export const eventTypeCreateSchema = z
  .strictObject({
    name: eventTypeNameSchema,
    description: z.string().max(2000).default(""),
    example: z.unknown().optional().meta({ description: "An example payload, shown in the catalog and sent by test events." }),
    schema: jsonSchemaSchema.optional(),
  })
  .meta({ id: "EventTypeCreate" });
export type EventTypeCreate = z.infer<typeof eventTypeCreateSchema>;

export const eventTypeUpdateSchema = z
  .strictObject({
    description: z.string().max(2000).optional(),
    example: z.unknown().optional(),
    schema: jsonSchemaSchema.nullable().optional(),
    archived: z.boolean().optional(),
  })
  .meta({ id: "EventTypeUpdate" });
export type EventTypeUpdate = z.infer<typeof eventTypeUpdateSchema>;

export const eventTypeSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    example: z.unknown(),
    schema: z.record(z.string(), z.unknown()).nullable(),
    archived: z.boolean(),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "EventType" });
export type EventTypeView = z.infer<typeof eventTypeSchema>;
