import { eventTypeNameSchema, svixHttpErrorSchema, svixValidationErrorSchema } from "@herald/schema";
import { z } from "zod";

const httpError = { "application/json": { schema: svixHttpErrorSchema } };

/** The error answers of the Svix-compatible routes, in Svix's shapes. */
export const svixErrorResponses = {
  401: { description: "Missing or invalid bearer token (`authentication_failed`)", content: httpError },
  403: { description: "A tenant API key asked for something only the admin token may do", content: httpError },
  404: { description: "Not found (`not_found`)", content: httpError },
  409: { description: "Conflict: a uid or eventId already in use (`conflict`)", content: httpError },
  422: { description: "Validation errors, each with its location", content: { "application/json": { schema: svixValidationErrorSchema } } },
  503: { description: "PostgreSQL or Redis is unavailable; try again after `Retry-After` seconds", content: httpError },
} as const;

export const svixTags = {
  application: ["Svix: Application"],
  eventType: ["Svix: Event Type"],
  endpoint: ["Svix: Endpoint"],
  message: ["Svix: Message"],
  attempt: ["Svix: Message Attempt"],
  health: ["Svix: Health"],
};

const pathParam = (name: string, description: string, example: string) =>
  z
    .string()
    .min(1)
    .max(200)
    .meta({ param: { name, in: "path" }, description, example });

export const appParams = z.object({ app_id: pathParam("app_id", "Application (tenant) id or uid", "acme") });
export const endpointParams = appParams.extend({
  endpoint_id: pathParam("endpoint_id", "Endpoint id or uid", "ep_01jdz3k5q8e6f0a1b2c3d4e5f6"),
});
export const msgParams = appParams.extend({
  msg_id: pathParam("msg_id", "Message (event) id or eventId", "evt_01jdz3k5q8e6f0a1b2c3d4e5f6"),
});
export const eventTypeParams = z.object({
  event_type_name: eventTypeNameSchema.meta({
    param: { name: "event_type_name", in: "path" },
    description: "Event type name",
    example: "invoice.paid",
  }),
});

export const idempotencyHeader = z.object({ "idempotency-key": z.string().min(1).max(200).optional() });

export function svixJson<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}
