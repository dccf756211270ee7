/**
 * Svix's API shapes (`/api/v1`), as its official SDKs send and read them.
 * Field names are Svix's; Herald's own rules (uid formats, event type names,
 * header names, JSON depth) still apply to the values. Fields Herald does not
 * have are either accepted and ignored, or refused when a value would ask for
 * behaviour Herald does not give; the README's "Coming from Svix" lists each.
 */
import { z } from "zod";
import { jsonValueSchema, metadataSchema, timestampSchema } from "./common.ts";
import { customHeadersSchema, endpointUidSchema, subscriptionSchema } from "./endpoints.ts";
import { eventTypeNameSchema } from "./event-types.ts";
import { tenantUidSchema } from "./tenants.ts";

/** A field Herald refuses unless it is absent or null (or an empty list). */
function refusedUnlessEmpty<T extends z.ZodType>(schema: T, why: string) {
  return schema.nullish().refine((value) => value === undefined || value === null || (Array.isArray(value) && value.length === 0), why);
}

const anyNumber = z.number();
const anyStrings = z.array(z.string());

// ---- errors ----

export const svixHttpErrorSchema = z
  .object({ code: z.string(), detail: z.string() })
  .meta({ id: "SvixHttpError", description: "Svix's error body: a stable code and a human-readable detail." });

export const svixValidationErrorSchema = z
  .object({
    detail: z.array(
      z.object({
        loc: z
          .array(z.string())
          .meta({ description: "Where: `body`, `query`, `path` or `header`, then the field.", example: ["body", "url"] }),
        msg: z.string(),
        type: z.string().meta({ example: "value_error" }),
      }),
    ),
  })
  .meta({ id: "SvixValidationError", description: "Svix's 422 body: every field that is wrong and why." });

// ---- paging ----

export const svixOrderingSchema = z.enum(["ascending", "descending"]);

export const svixListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(250).default(50).meta({ description: "Page size, 1 to 250." }),
  iterator: z.string().max(200).optional().meta({ description: "The `iterator` of the previous page." }),
});

export function svixListSchema<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    iterator: z.string().nullable(),
    prevIterator: z.string().nullable(),
    done: z.boolean(),
  });
}

// ---- application (Herald: tenant) ----

const noAppRateLimit = "Herald has no per-application rate limit; set rateLimit on each endpoint";
const applicationFields = {
  name: z.string().trim().min(1).max(200).meta({ example: "Acme Inc." }),
  uid: tenantUidSchema.nullish(),
  metadata: metadataSchema.optional(),
  rateLimit: refusedUnlessEmpty(anyNumber, noAppRateLimit),
  throttleRate: refusedUnlessEmpty(anyNumber, noAppRateLimit),
};

export const svixApplicationInSchema = z.object(applicationFields).meta({ id: "SvixApplicationIn" });
export type SvixApplicationIn = z.infer<typeof svixApplicationInSchema>;

export const svixApplicationPatchSchema = z
  .object({ ...applicationFields, name: applicationFields.name.optional() })
  .meta({ id: "SvixApplicationPatch" });
export type SvixApplicationPatch = z.infer<typeof svixApplicationPatchSchema>;

export const svixApplicationOutSchema = z
  .object({
    id: z.string().meta({ example: "ten_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    uid: z.string().nullable(),
    name: z.string(),
    metadata: z.record(z.string(), z.string()),
    rateLimit: z.null(),
    throttleRate: z.null(),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "SvixApplicationOut" });
export type SvixApplicationOut = z.infer<typeof svixApplicationOutSchema>;

// ---- event type (Herald: catalog entry) ----

const schemasSchema = z
  .record(z.string(), z.record(z.string(), z.unknown()))
  .nullish()
  .refine((value) => !value || Object.keys(value).length <= 1, "Herald keeps one JSON Schema per event type; send one version")
  .meta({
    description: 'Svix\'s versioned schemas, `{"1": <JSON Schema>}`. Herald keeps one; its `examples[0]` becomes the catalog example.',
  });
const noFeatureFlags = "Herald has no feature flags; every event type is visible to every application";
const eventTypeFields = {
  description: z.string().max(2000),
  archived: z.boolean().optional(),
  deprecated: z.boolean().optional(),
  schemas: schemasSchema,
  featureFlag: refusedUnlessEmpty(z.string(), noFeatureFlags),
  featureFlags: refusedUnlessEmpty(anyStrings, noFeatureFlags),
  groupName: z.string().max(200).nullish(),
};

export const svixEventTypeInSchema = z.object({ name: eventTypeNameSchema, ...eventTypeFields }).meta({ id: "SvixEventTypeIn" });
export type SvixEventTypeIn = z.infer<typeof svixEventTypeInSchema>;

export const svixEventTypeUpdateSchema = z
  .object(eventTypeFields)
  .meta({ id: "SvixEventTypeUpdate", example: { description: "An invoice was paid", archived: false } });
export type SvixEventTypeUpdate = z.infer<typeof svixEventTypeUpdateSchema>;

export const svixEventTypePatchSchema = z
  .object({ ...eventTypeFields, description: eventTypeFields.description.optional() })
  .meta({ id: "SvixEventTypePatch", example: { description: "An invoice was paid" } });
export type SvixEventTypePatch = z.infer<typeof svixEventTypePatchSchema>;

export const svixEventTypeOutSchema = z
  .object({
    name: z.string(),
    description: z.string(),
    archived: z.boolean(),
    deprecated: z.literal(false),
    schemas: z.record(z.string(), z.unknown()).nullable(),
    featureFlag: z.null(),
    featureFlags: z.null(),
    groupName: z.null(),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "SvixEventTypeOut" });
export type SvixEventTypeOut = z.infer<typeof svixEventTypeOutSchema>;

export const svixEventTypeListQuerySchema = svixListQuerySchema.extend({
  order: z.literal("ascending").optional().meta({ description: "Event types are listed by name, ascending only." }),
  include_archived: z.stringbool().optional(),
  with_content: z.stringbool().optional(),
});

// ---- endpoint ----

const noChannels = "Herald has no channels; subscribe endpoints with filterTypes instead";
const endpointFields = {
  url: z.string().trim().min(1).max(2048).meta({ example: "https://example.com/webhooks" }),
  description: z.string().max(200).optional().meta({ description: "Herald's endpoint name; the URL when empty." }),
  uid: endpointUidSchema.nullish(),
  filterTypes: z.array(subscriptionSchema).max(100).nullish().meta({ description: "Subscribed event types; null or empty means all." }),
  channels: refusedUnlessEmpty(anyStrings, noChannels),
  disabled: z.boolean().optional(),
  rateLimit: z.number().int().min(1).max(100_000).nullish().meta({ description: "Deliveries per second at most." }),
  throttleRate: z.number().int().min(1).max(100_000).nullish().meta({ description: "Svix's newer name for rateLimit." }),
  metadata: metadataSchema.optional(),
  version: z.number().int().nullish().meta({ description: "Deprecated in Svix; ignored." }),
};

export const svixEndpointInSchema = z
  .object({
    ...endpointFields,
    secret: z.string().max(200).nullish().meta({ description: "A `whsec_` secret; one is generated when omitted." }),
    headers: customHeadersSchema.nullish(),
  })
  .meta({ id: "SvixEndpointIn" });
export type SvixEndpointIn = z.infer<typeof svixEndpointInSchema>;

export const svixEndpointUpdateSchema = z.object(endpointFields).meta({ id: "SvixEndpointUpdate" });
export type SvixEndpointUpdate = z.infer<typeof svixEndpointUpdateSchema>;

export const svixEndpointPatchSchema = z
  .object({
    ...endpointFields,
    url: endpointFields.url.optional(),
    secret: z.string().max(200).nullish().meta({ description: "Replaces the secret at once (no grace period)." }),
  })
  .meta({ id: "SvixEndpointPatch" });
export type SvixEndpointPatch = z.infer<typeof svixEndpointPatchSchema>;

export const svixEndpointOutSchema = z
  .object({
    id: z.string().meta({ example: "ep_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    uid: z.string().nullable(),
    url: z.string(),
    description: z.string(),
    version: z.literal(1),
    disabled: z.boolean(),
    filterTypes: z.array(z.string()).nullable(),
    channels: z.null(),
    rateLimit: z.number().int().nullable(),
    throttleRate: z.number().int().nullable(),
    metadata: z.record(z.string(), z.string()),
    createdAt: timestampSchema,
    updatedAt: timestampSchema,
  })
  .meta({ id: "SvixEndpointOut" });
export type SvixEndpointOut = z.infer<typeof svixEndpointOutSchema>;

export const svixEndpointSecretOutSchema = z
  .object({ key: z.string() })
  .meta({ id: "SvixEndpointSecretOut", example: { key: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } });

export const svixEndpointSecretRotateInSchema = z
  .object({
    key: z.string().max(200).nullish(),
    gracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(30 * 86_400)
      .nullish()
      .meta({ description: "How long the old secret keeps signing; default HERALD_SECRET_GRACE_PERIOD (24h)." }),
  })
  .meta({ id: "SvixEndpointSecretRotateIn", example: { gracePeriodSeconds: 86_400 } });

export const svixEndpointHeadersInSchema = z.object({ headers: customHeadersSchema }).meta({ id: "SvixEndpointHeadersIn" });
export const svixEndpointHeadersPatchInSchema = z
  .object({ headers: z.record(z.string(), z.string().nullable()), deleteHeaders: z.array(z.string()).optional() })
  .meta({ id: "SvixEndpointHeadersPatchIn", example: { headers: { "x-team": "billing" }, deleteHeaders: ["x-old"] } });
export const svixEndpointHeadersOutSchema = z
  .object({ headers: z.record(z.string(), z.string()), sensitive: z.array(z.string()) })
  .meta({ id: "SvixEndpointHeadersOut", example: { headers: { "x-team": "billing" }, sensitive: [] } });

export const svixEndpointStatsSchema = z
  .object({
    success: z.number().int(),
    pending: z.number().int(),
    sending: z.number().int(),
    fail: z.number().int(),
    canceled: z.number().int(),
  })
  .meta({ id: "SvixEndpointStats", example: { success: 120, pending: 2, sending: 1, fail: 0, canceled: 0 } });

export const svixRecoverInSchema = z
  .object({ since: z.iso.datetime({ offset: true }), until: z.iso.datetime({ offset: true }).nullish() })
  .meta({ id: "SvixRecoverIn", example: { since: "2026-11-30T00:00:00Z" } });
export const svixRecoverOutSchema = z
  .object({
    id: z.string(),
    status: z.enum(["running", "finished", "failed"]),
    task: z.literal("endpoint.recover"),
    updatedAt: timestampSchema,
  })
  .meta({ id: "SvixRecoverOut" });

export const svixEventExampleInSchema = z
  .object({
    eventType: eventTypeNameSchema,
    exampleIndex: z.number().int().min(0).max(0, "Herald keeps one example per event type: use 0").optional(),
  })
  .meta({ id: "SvixEventExampleIn" });

// ---- message (Herald: event) ----

const noScheduling = "Herald has no scheduled messages; send the message when it is due";
export const svixMessageInSchema = z
  .object({
    eventType: eventTypeNameSchema,
    payload: jsonValueSchema.refine((value) => value !== undefined, "is required"),
    eventId: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._-]+$/, "letters, digits, and . _ - only")
      .refine((value) => !value.startsWith("evt_"), "must not start with evt_ (reserved for message ids)")
      .nullish()
      .meta({ description: "Your own id for the message, unique within the application (409 when repeated)." }),
    application: z
      .object({ name: applicationFields.name, uid: tenantUidSchema.nullish(), metadata: metadataSchema.optional() })
      .nullish()
      .meta({ description: "Creates the application named in the path when it does not exist yet." }),
    channels: z.array(z.string()).nullish().meta({ description: "Ignored: no Herald endpoint has channels." }),
    tags: z.array(z.string()).nullish().meta({ description: "Ignored: Herald does not keep message tags." }),
    deliverAt: refusedUnlessEmpty(z.string(), noScheduling),
    payloadRetentionHours: z.number().nullish().meta({ description: "Ignored: HERALD_RETENTION applies to every event." }),
    payloadRetentionPeriod: z.number().nullish().meta({ description: "Ignored: HERALD_RETENTION applies to every event." }),
    transformationsParams: z.unknown().optional().meta({ description: "Ignored: Herald has no transformations." }),
  })
  .meta({ id: "SvixMessageIn" });
export type SvixMessageIn = z.infer<typeof svixMessageInSchema>;

export const svixMessageOutSchema = z
  .object({
    id: z.string().meta({ example: "evt_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    eventId: z.string().nullable(),
    eventType: z.string(),
    payload: z.unknown(),
    timestamp: timestampSchema,
    channels: z.null(),
    tags: z.null(),
    deliverAt: z.null(),
  })
  .meta({ id: "SvixMessageOut" });
export type SvixMessageOut = z.infer<typeof svixMessageOutSchema>;

// ---- attempts ----

/** Svix's delivery status numbers: 0 success, 1 pending, 2 fail, 3 sending (a retry is scheduled), 4 canceled. */
export const svixMessageStatusSchema = z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3), z.literal(4)]);
export const svixMessageStatusTextSchema = z.enum(["success", "pending", "fail", "sending", "canceled"]);

export const svixMessageAttemptOutSchema = z
  .object({
    id: z.string().meta({ example: "att_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
    msgId: z.string(),
    endpointId: z.string(),
    url: z.string(),
    response: z.string(),
    responseStatusCode: z.number().int().meta({ description: "0 when the receiver did not answer (a timeout or a connection error)." }),
    responseDurationMs: z.number().int(),
    status: svixMessageStatusSchema,
    statusText: svixMessageStatusTextSchema,
    triggerType: z.union([z.literal(0), z.literal(1)]).meta({ description: "0 scheduled; 1 manual (a send-example)." }),
    timestamp: timestampSchema,
  })
  .meta({ id: "SvixMessageAttemptOut" });
export type SvixMessageAttemptOut = z.infer<typeof svixMessageAttemptOutSchema>;

export const svixMessageEndpointOutSchema = svixEndpointOutSchema
  .extend({ status: svixMessageStatusSchema, statusText: svixMessageStatusTextSchema, nextAttempt: timestampSchema.nullable() })
  .meta({ id: "SvixMessageEndpointOut" });

export const svixEndpointMessageOutSchema = svixMessageOutSchema
  .extend({ status: svixMessageStatusSchema, statusText: svixMessageStatusTextSchema, nextAttempt: timestampSchema.nullable() })
  .meta({ id: "SvixEndpointMessageOut" });

export const svixAttemptListQuerySchema = svixListQuerySchema.extend({
  status: z.coerce.number().int().min(0).max(4).optional().meta({ description: "0 success, 2 fail; 1, 3 and 4 match no attempt." }),
  status_code_class: z.coerce
    .number()
    .int()
    .refine((value) => [0, 100, 200, 300, 400, 500].includes(value), "must be 0, 100, 200, 300, 400 or 500")
    .optional(),
  before: z.iso.datetime({ offset: true }).optional(),
  after: z.iso.datetime({ offset: true }).optional(),
  with_content: z.stringbool().optional(),
  expanded_statuses: z.stringbool().optional(),
  with_msg: z.stringbool().optional(),
  endpoint_id: z.string().max(200).optional(),
  channel: refusedUnlessEmpty(z.string(), noChannels),
  tag: refusedUnlessEmpty(z.string(), "Herald does not keep message tags, so it cannot filter by them"),
  event_types: z.string().max(10_000).optional(),
});
