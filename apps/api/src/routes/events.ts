import type { PublishResult } from "@herald/publishing";
import {
  eventAcceptedSchema,
  eventBatchAcceptedSchema,
  eventBatchSchema,
  eventDetailSchema,
  eventPublishSchema,
  eventSchema,
  eventTypeNameSchema,
  idempotencyKeySchema,
  listSchema,
  paginationQuerySchema,
  problemSchema,
  timeRangeQuerySchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { ApiError } from "../errors.ts";
import type { ApiMetrics } from "../metrics.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { batchPayloads, payloadTexts, singlePayload } from "../payload-text.ts";
import { getEvent, listEvents, publishEvent, publishEvents } from "../services/events.ts";
import { deliveryView, eventView } from "../views.ts";
import { eventParams, tenantParams } from "./params.ts";

const tags = ["Events"];

const replayedHeader = z.object({
  "idempotent-replayed": z
    .literal("true")
    .meta({ description: "This is the stored result of an earlier publish with the same idempotency key." }),
});

const tooLarge = {
  413: { description: "The body or a payload is too large", content: { "application/problem+json": { schema: problemSchema } } },
} as const;

function acceptedView(result: PublishResult) {
  return {
    id: result.event.id,
    eventType: result.event.eventType,
    createdAt: result.event.createdAt.toISOString(),
    deliveries: result.deliveries,
    replayed: result.replayed,
  };
}
const base = "/v1/tenants/{tenantId}/events";

export function eventRoutes(app: OpenAPIHono<AppEnv>, metrics: ApiMetrics) {
  const count = (results: PublishResult[]) => {
    const replayed = results.filter((result) => result.replayed).length;
    if (replayed > 0) metrics.eventsPublished.inc({ result: "replayed" }, replayed);
    if (results.length > replayed) metrics.eventsPublished.inc({ result: "published" }, results.length - replayed);
  };

  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Publish an event to every subscribed endpoint of the tenant",
      security: bearerSecurity,
      request: {
        params: tenantParams,
        headers: z.object({ "idempotency-key": idempotencyKeySchema.optional() }),
        body: jsonBody(eventPublishSchema),
      },
      responses: {
        202: jsonResponse(eventAcceptedSchema, "Stored; deliveries queued"),
        200: { ...jsonResponse(eventAcceptedSchema, "An earlier publish with the same idempotency key"), headers: replayedHeader },
        ...tooLarge,
        ...errorResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const headerKey = c.req.valid("header")["idempotency-key"];
      if (headerKey && body.idempotencyKey && headerKey !== body.idempotencyKey) {
        throw new ApiError("validation_failed", "the Idempotency-Key header and the idempotencyKey field differ", [
          { path: "idempotencyKey", message: "differs from the Idempotency-Key header" },
        ]);
      }
      // The validator read the body as text before parsing it; Hono hands back that same text.
      const [payloadText] = payloadTexts(await c.req.text(), singlePayload);
      const result = await publishEvent(c.var.ctx, c.req.valid("param").tenantId, {
        ...body,
        payloadText: payloadText as string,
        idempotencyKey: body.idempotencyKey ?? headerKey,
      });
      count([result]);
      const { replayed: _replayed, ...answer } = acceptedView(result);
      if (result.replayed) c.header("idempotent-replayed", "true");
      return result.replayed ? c.json(answer, 200) : c.json(answer, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/batch`,
      tags,
      summary: "Publish up to 1000 events in one request",
      description:
        "All or nothing: if any item is invalid the answer is a problem naming it (`events.3.eventType`) and nothing is published. " +
        "Each item may carry its own `idempotencyKey`; an `Idempotency-Key` header gives the items without one the key `<header>:<index>`, " +
        "so sending the same batch again with the same header publishes nothing twice. " +
        "The answer is 202 if anything was published, 200 with `idempotent-replayed: true` if every item was a replay.",
      security: bearerSecurity,
      request: {
        params: tenantParams,
        headers: z.object({ "idempotency-key": idempotencyKeySchema.optional() }),
        body: jsonBody(eventBatchSchema),
      },
      responses: {
        202: jsonResponse(eventBatchAcceptedSchema, "Stored; deliveries queued"),
        200: {
          ...jsonResponse(eventBatchAcceptedSchema, "Every item was published before with the same idempotency key"),
          headers: replayedHeader,
        },
        ...tooLarge,
        ...errorResponses,
      },
    }),
    async (c) => {
      const headerKey = c.req.valid("header")["idempotency-key"];
      const texts = payloadTexts(await c.req.text(), batchPayloads);
      const items = c.req.valid("json").events.map((item, index) => ({
        ...item,
        payloadText: texts[index] as string,
        idempotencyKey: item.idempotencyKey ?? (headerKey ? `${headerKey}:${index}` : undefined),
      }));
      const results = await publishEvents(c.var.ctx, c.req.valid("param").tenantId, items);
      count(results);
      const answer = { data: results.map(acceptedView) };
      if (results.every((result) => result.replayed)) {
        c.header("idempotent-replayed", "true");
        return c.json(answer, 200);
      }
      return c.json(answer, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List a tenant's events",
      description: "Newest first. Filter by event type and creation time (`after` inclusive, `before` exclusive).",
      security: bearerSecurity,
      request: {
        params: tenantParams,
        query: paginationQuerySchema.extend({ eventType: eventTypeNameSchema.optional(), ...timeRangeQuerySchema.shape }),
      },
      responses: { 200: jsonResponse(listSchema(eventSchema), "A page of events, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listEvents(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("query"));
      return c.json({ data: rows.map(eventView), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{eventId}`,
      tags,
      summary: "Get an event with the status of each of its deliveries",
      security: bearerSecurity,
      request: { params: eventParams },
      responses: { 200: jsonResponse(eventDetailSchema, "The event and its deliveries"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, eventId } = c.req.valid("param");
      const { event, deliveries } = await getEvent(c.var.ctx, tenantId, eventId);
      return c.json({ ...eventView(event), deliveries: deliveries.map(deliveryView) }, 200);
    },
  );
}
