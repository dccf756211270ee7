import { z } from "zod";
import { metadataSchema, timestampSchema } from "./common.ts";

/** `payment.received`, `payment.*` or `*`. */
export const subscriptionSchema = z
  .string()
  .max(100)
  .regex(/^(\*|[a-z0-9_]+(\.[a-z0-9_]+)*(\.\*)?)$/, "must be an event type name, a prefix wildcard such as payment.*, or *");

/** Names and values are checked by the endpoint service (422 invalid_header naming the header), with the delivery engine's rules. */
export const customHeadersSchema = z.record(z.string().max(256), z.string().max(4096)).meta({
  description: "Extra headers sent with every delivery (at most 20; names are case-insensitive).",
  example: { "x-customer": "acme" },
});

export const endpointUidSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9._-]+$/, "letters, digits, and . _ - only")
  .refine((value) => !value.startsWith("ep_"), "must not start with ep_ (reserved for endpoint ids)")
  .meta({
    description: "Your own id for this endpoint, unique within the tenant; usable in place of the endpoint id.",
    example: "billing",
  });

const endpointFields = {
  name: z.string().trim().min(1).max(200).meta({ example: "Billing webhook" }),
  url: z.string().trim().min(1).max(2048).meta({ example: "https://example.com/webhooks/herald" }),
  eventTypes: z
    .array(subscriptionSchema)
    .max(100)
    .meta({ description: "Subscribed event types. Empty means every event type.", example: ["payment.received"] }),
  headers: customHeadersSchema,
  rateLimit: z.number().int().min(1).max(100_000).nullable().meta({ description: "Deliveries per second at most; null for no limit." }),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(50)
    .nullable()
    .meta({ description: "Attempts before a delivery is exhausted; null for the deployment's schedule." }),
  disabled: z.boolean(),
  metadata: metadataSchema,
};

export const endpointCreateSchema = z
  .strictObject({
    name: endpointFields.name,
    uid: endpointUidSchema.optional(),
    url: endpointFields.url,
    eventTypes: endpointFields.eventTypes.optional(),
    headers: endpointFields.headers.optional(),
    rateLimit: endpointFields.rateLimit.optional(),
    maxAttempts: endpointFields.maxAttempts.optional(),
    secret: z.string().max(200).optional().meta({ description: "A `whsec_` secret to use; one is generated when omitted." }),
    disabled: endpointFields.disabled.optional(),
    metadata: endpointFields.metadata.optional(),
  })
  .meta({ id: "EndpointCreate" });
export type EndpointCreate = z.infer<typeof endpointCreateSchema>;

export const endpointUpdateSchema = z
  .strictObject({
    name: endpointFields.name.optional(),
    uid: endpointUidSchema.nullable().optional(),
    url: endpointFields.url.optional(),
    eventTypes: endpointFields.eventTypes.optional(),
    headers: endpointFields.headers.optional(),
    rateLimit: endpointFields.rateLimit.optional(),
    maxAttempts: endpointFields.maxAttempts.optional(),
    disabled: endpointFields.disabled.optional(),
    disabledReason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .meta({ description: "Why the endpoint is being disabled; kept with `disabled: true`.", example: "receiver migrating" }),
    metadata: endpointFields.metadata.optional(),
  })
  .meta({ id: "EndpointUpdate", example: { disabled: true, disabledReason: "receiver migrating" } });
export type EndpointUpdate = z.infer<typeof endpointUpdateSchema>;

export const endpointSchema = z
  .object({
    id: z.string().meta({ example: "ep_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    tenantId: z.string(),
    name: z.string(),
    uid: z.string().nullable(),
    url: z.string(),
    eventTypes: z.array(z.string()),
    headers: z.record(z.string(), z.string()),
    rateLimit: z.number().int().nullable(),
    maxAttempts: z.number().int().nullable(),
    disabled: z.boolean(),
    disabledReason: z.string().nullable(),
    disabledAt: timestampSchema.nullable(),
    metadata: z.record(z.string(), z.string()),
    stats: z.object({
      sent: z.number().int(),
      succeeded: z.number().int(),
      failed: z.number().int(),
      lastSuccessAt: timestampSchema.nullable(),
      lastFailureAt: timestampSchema.nullable(),
    }),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "Endpoint" });
export type EndpointView = z.infer<typeof endpointSchema>;

export const endpointSecretSchema = z
  .object({
    secret: z.string().meta({ example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }),
    previousSecret: z
      .string()
      .nullable()
      .meta({ description: "The secret before the last rotation while it still signs (until previousSecretExpiresAt); else null." }),
    previousSecretExpiresAt: timestampSchema.nullable(),
  })
  .meta({ id: "EndpointSecret" });
export type EndpointSecretView = z.infer<typeof endpointSecretSchema>;

export const gracePeriodSchema = z
  .string()
  .regex(/^\d{1,9}(ms|s|m|h|d)$/, "must be a duration such as 30s, 15m, 24h or 0s")
  .meta({ description: "How long the old secret keeps signing, up to 30d; default HERALD_SECRET_GRACE_PERIOD (24h).", example: "24h" });

export const secretRotateSchema = z
  .strictObject({
    secret: z.string().max(200).optional().meta({ description: "The new `whsec_` secret; one is generated when omitted." }),
    gracePeriod: gracePeriodSchema.optional(),
  })
  .meta({ id: "SecretRotate", example: { gracePeriod: "24h" } });
export type SecretRotate = z.infer<typeof secretRotateSchema>;

export const endpointTestSchema = z
  .strictObject({
    eventType: z.string().max(100).optional().meta({
      description: "The event type to send; default: the first subscribed type, using its example payload.",
      example: "payment.received",
    }),
  })
  .meta({ id: "EndpointTest", example: { eventType: "payment.received" } });
export type EndpointTest = z.infer<typeof endpointTestSchema>;

export const endpointTestResultSchema = z
  .object({
    deliveryId: z.string().meta({ example: "dlv_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    eventId: z.string().meta({ example: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    eventType: z.string().meta({ example: "payment.received" }),
    ok: z.boolean().meta({ description: "True when the receiver answered 2xx." }),
    statusCode: z.number().int().nullable().meta({ example: 200 }),
    durationMs: z.number().int().meta({ example: 84 }),
    responseBody: z.string().nullable().meta({ description: "The first bytes (at most 4 KiB) of the answer.", example: "ok" }),
    errorKind: z.string().nullable().meta({ description: "Why it failed: timeout, connection_refused, blocked_target, http_status, …" }),
    errorMessage: z.string().nullable(),
  })
  .meta({
    id: "EndpointTestResult",
    example: {
      deliveryId: "dlv_01jdz3k5q8e6f0a1b2c3d4e5f6",
      eventId: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6",
      eventType: "payment.received",
      ok: true,
      statusCode: 200,
      durationMs: 84,
      responseBody: "ok",
      errorKind: null,
      errorMessage: null,
    },
  });
export type EndpointTestResult = z.infer<typeof endpointTestResultSchema>;
