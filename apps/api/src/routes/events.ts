import {
  eventAcceptedSchema,
  eventDetailSchema,
  eventPublishSchema,
  eventSchema,
  eventTypeNameSchema,
  idempotencyKeySchema,
  listSchema,
  paginationQuerySchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { getEvent, listEvents, publishEvent } from "../services/events.ts";
import { deliveryView, eventView } from "../views.ts";
import { eventParams, tenantParams } from "./params.ts";

const tags = ["Events"];
const base = "/v1/tenants/{tenantId}/events";

export function eventRoutes(app: OpenAPIHono<AppEnv>) {
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
        200: jsonResponse(eventAcceptedSchema, "An earlier publish with the same idempotency key"),
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
      const result = await publishEvent(c.var.ctx, c.req.valid("param").tenantId, {
        ...body,
        idempotencyKey: body.idempotencyKey ?? headerKey,
      });
      const answer = {
        id: result.event.id,
        eventType: result.event.eventType,
        createdAt: result.event.createdAt.toISOString(),
        deliveries: result.deliveries,
      };
      if (result.replayed) c.header("idempotent-replayed", "true");
      return result.replayed ? c.json(answer, 200) : c.json(answer, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List a tenant's events",
      security: bearerSecurity,
      request: {
        params: tenantParams,
        query: paginationQuerySchema.extend({ eventType: eventTypeNameSchema.optional() }),
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
