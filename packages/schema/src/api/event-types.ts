import { z } from "zod";
import { jsonDepthWithin, jsonValueSchema, MAX_JSON_DEPTH, timestampSchema } from "./common.ts";

export const eventTypeNameSchema = z
  .string()
  .min(3)
  .max(100)
  .regex(/^[a-z0-9_]+(\.[a-z0-9_]+)+$/, "must look like resource.action: lower-case words joined by dots")
  .meta({ example: "payment.received" });

const jsonSchemaSchema = z
  .record(z.string(), z.unknown())
  .refine((value) => jsonDepthWithin(value), `must not nest more than ${MAX_JSON_DEPTH} levels deep`)
  .meta({ description: "A JSON Schema (draft 2020-12) that published payloads must satisfy." });

export const eventTypeCreateSchema = z
  .strictObject({
    name: eventTypeNameSchema,
    description: z.string().max(2000).default(""),
    example: jsonValueSchema.optional().meta({ description: "An example payload, shown in the catalog and sent by test events." }),
    schema: jsonSchemaSchema.optional(),
  })
  .meta({
    id: "EventTypeCreate",
    example: {
      name: "payment.received",
      description: "A payment was received and booked",
      example: { amount: 4200, currency: "EUR" },
      schema: {
        type: "object",
        required: ["amount", "currency"],
        properties: { amount: { type: "integer" }, currency: { type: "string" } },
      },
    },
  });
export type EventTypeCreate = z.infer<typeof eventTypeCreateSchema>;

export const eventTypeUpdateSchema = z
  .strictObject({
    description: z.string().max(2000).optional(),
    example: jsonValueSchema.optional(),
    schema: jsonSchemaSchema.nullable().optional(),
    archived: z.boolean().optional(),
  })
  .meta({ id: "EventTypeUpdate", example: { description: "A payment was received and booked", archived: false } });
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
  .meta({
    id: "EventType",
    example: {
      name: "payment.received",
      description: "A payment was received and booked",
      example: { amount: 4200, currency: "EUR" },
      schema: null,
      archived: false,
      createdAt: "2026-11-30T12:00:00.000Z",
      updatedAt: "2026-11-30T12:00:00.000Z",
    },
  });
export type EventTypeView = z.infer<typeof eventTypeSchema>;
