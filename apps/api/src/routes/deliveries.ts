import {
  deliveryDetailSchema,
  deliveryListQuerySchema,
  deliveryRetrySchema,
  deliverySchema,
  listSchema,
  paginationQuerySchema,
  problemSchema,
  recoverResultSchema,
  recoverSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { getDelivery, listDeliveries, retryDelivery } from "../services/deliveries.ts";
import { recoverEndpoint } from "../services/recover.ts";
import { attemptView, deliveryView } from "../views.ts";
import { endpointParams, tenantParams } from "./params.ts";

const tags = ["Deliveries"];
const base = "/v1/tenants/{tenantId}/deliveries";

const deliveryParams = tenantParams.extend({
  deliveryId: z
    .string()
    .min(1)
    .max(100)
    .meta({ param: { name: "deliveryId", in: "path" }, example: "dlv_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
});

const conflict = {
  409: { description: "Not possible in the current state", content: { "application/problem+json": { schema: problemSchema } } },
} as const;

export function deliveryRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List a tenant's deliveries",
      description: "Newest first. Filter by status, endpoint, event and creation time (`after` inclusive, `before` exclusive).",
      security: bearerSecurity,
      request: { params: tenantParams, query: paginationQuerySchema.extend(deliveryListQuerySchema.shape) },
      responses: { 200: jsonResponse(listSchema(deliverySchema), "A page of deliveries, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listDeliveries(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("query"));
      return c.json({ data: rows.map(deliveryView), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{deliveryId}`,
      tags,
      summary: "Get a delivery with every attempt",
      security: bearerSecurity,
      request: { params: deliveryParams },
      responses: { 200: jsonResponse(deliveryDetailSchema, "The delivery and its attempts, oldest first"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, deliveryId } = c.req.valid("param");
      const { delivery, attempts } = await getDelivery(c.var.ctx, tenantId, deliveryId);
      return c.json({ ...deliveryView(delivery), attemptLog: attempts.map(attemptView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/{deliveryId}/retry`,
      tags,
      summary: "Send a delivery again now",
      description:
        "Failed, exhausted, held and pending deliveries are sent at once (an exhausted one gets one more attempt). " +
        'A succeeded delivery answers 409 unless the body is `{"force": true}`; a delivery of a disabled endpoint answers 409.',
      security: bearerSecurity,
      request: {
        params: deliveryParams,
        body: { ...jsonBody(deliveryRetrySchema), required: false },
      },
      responses: { 202: jsonResponse(deliverySchema, "Queued to be sent now"), ...errorResponses, ...conflict },
    }),
    async (c) => {
      const { tenantId, deliveryId } = c.req.valid("param");
      const delivery = await retryDelivery(c.var.ctx, tenantId, deliveryId, c.req.valid("json") ?? {});
      return c.json(deliveryView(delivery), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants/{tenantId}/endpoints/{endpointId}/recover",
      tags,
      summary: "Re-send an endpoint's failed, exhausted and held deliveries since a time",
      description:
        "For after an outage: every failed, exhausted or held delivery to this endpoint created at or after `since` is queued again " +
        "in one bulk operation; succeeded ones are not. A disabled endpoint answers 409: enable it first.",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(recoverSchema) },
      responses: { 202: jsonResponse(recoverResultSchema, "How many deliveries were queued"), ...errorResponses, ...conflict },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(await recoverEndpoint(c.var.ctx, tenantId, endpointId, c.req.valid("json")), 202);
    },
  );
}
