import { z } from "zod";
import { DELIVERY_STATUSES } from "../tables.ts";
import { jsonValueSchema, timestampSchema } from "./common.ts";
import { eventTypeNameSchema } from "./event-types.ts";

export const idempotencyKeySchema = z.string().min(1).max(200);

export const eventPublishSchema = z
  .strictObject({
    eventType: eventTypeNameSchema,
    payload: jsonValueSchema
      .refine((value) => value !== undefined, "is required")
      .meta({
        description: "The event's data; receivers get it as `data` in the envelope.",
        example: { amount: 4200, currency: "EUR" },
      }),
    idempotencyKey: idempotencyKeySchema.optional().meta({
      description: "Publishing the same key again within 24 hours returns the first result instead of publishing twice.",
    }),
  })
  .meta({ id: "EventPublish" });
export type EventPublish = z.infer<typeof eventPublishSchema>;

export const eventAcceptedSchema = z
  .object({
    id: z.string().meta({ example: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    eventType: z.string(),
    createdAt: timestampSchema,
    deliveries: z.number().int().meta({ description: "How many deliveries were queued." }),
  })
  .meta({ id: "EventAccepted" });
export type EventAccepted = z.infer<typeof eventAcceptedSchema>;

export const MAX_BATCH_EVENTS = 1000;

export const eventBatchSchema = z
  .strictObject({
    events: z
      .array(eventPublishSchema)
      .min(1)
      .max(MAX_BATCH_EVENTS)
      .meta({
        description: `1 to ${MAX_BATCH_EVENTS} events, published all or nothing.`,
        example: [
          { eventType: "invoice.paid", payload: { invoiceId: "in_1", amount: 4200 }, idempotencyKey: "in_1-paid" },
          { eventType: "invoice.paid", payload: { invoiceId: "in_2", amount: 990 } },
        ],
      }),
  })
  .meta({ id: "EventBatch" });
export type EventBatch = z.infer<typeof eventBatchSchema>;

export const eventBatchAcceptedSchema = z
  .object({
    data: z.array(
      eventAcceptedSchema
        .extend({
          replayed: z.boolean().meta({ description: "True when an earlier publish with the same idempotency key answered instead." }),
        })
        .meta({ id: "EventBatchItem" }),
    ),
  })
  .meta({
    id: "EventBatchAccepted",
    description: "One result per published event, in the order sent.",
    example: {
      data: [
        {
          id: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6",
          eventType: "invoice.paid",
          createdAt: "2026-11-30T12:00:00.000Z",
          deliveries: 2,
          replayed: false,
        },
      ],
    },
  });
export type EventBatchAccepted = z.infer<typeof eventBatchAcceptedSchema>;

export const deliveryStatusSchema = z.enum(DELIVERY_STATUSES);

export const deliverySchema = z
  .object({
    id: z.string().meta({ example: "dlv_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    eventId: z.string(),
    endpointId: z.string(),
    status: deliveryStatusSchema,
    attempts: z.number().int(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    nextAttemptAt: timestampSchema.nullable(),
    isTest: z.boolean(),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "Delivery" });
export type DeliveryView = z.infer<typeof deliverySchema>;

export const eventSchema = z
  .object({
    id: z.string(),
    eventType: z.string(),
    payload: z.unknown(),
    idempotencyKey: z.string().nullable(),
    createdAt: timestampSchema,
  })
  .meta({ id: "Event" });
export type EventView = z.infer<typeof eventSchema>;

export const eventDetailSchema = eventSchema.extend({ deliveries: z.array(deliverySchema) }).meta({ id: "EventDetail" });
export type EventDetail = z.infer<typeof eventDetailSchema>;

export const attemptSchema = z
  .object({
    id: z.string(),
    attemptNumber: z.number().int(),
    startedAt: timestampSchema,
    durationMs: z.number().int(),
    statusCode: z.number().int().nullable(),
    errorKind: z.string().nullable(),
    errorMessage: z.string().nullable(),
    requestHeaders: z.record(z.string(), z.string()).nullable(),
    responseHeaders: z.record(z.string(), z.string()).nullable(),
    responseBody: z.string().nullable(),
  })
  .meta({ id: "Attempt" });
export type AttemptView = z.infer<typeof attemptSchema>;

export const deliveryDetailSchema = deliverySchema
  .extend({
    attemptLog: z.array(attemptSchema).meta({ description: "Every attempt, oldest first. `attempts` stays the count." }),
  })
  .meta({ id: "DeliveryDetail" });
export type DeliveryDetail = z.infer<typeof deliveryDetailSchema>;
