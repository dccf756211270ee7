import {
  endpointCreateSchema,
  endpointSchema,
  endpointSecretSchema,
  endpointTestResultSchema,
  endpointTestSchema,
  endpointUpdateSchema,
  listSchema,
  paginationQuerySchema,
  secretRotateSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  secretView,
  updateEndpoint,
} from "../services/endpoints.ts";
import { sendTestEvent } from "../services/test-send.ts";
import { endpointView } from "../views.ts";
import { endpointParams, tenantParams } from "./params.ts";

const tags = ["Endpoints"];
const base = "/v1/tenants/{tenantId}/endpoints";

export function endpointRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Create an endpoint (a webhook)",
      security: bearerSecurity,
      request: { params: tenantParams, body: jsonBody(endpointCreateSchema) },
      responses: { 201: jsonResponse(endpointSchema, "The new endpoint"), ...errorResponses },
    }),
    async (c) => c.json(endpointView(await createEndpoint(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List a tenant's endpoints",
      security: bearerSecurity,
      request: { params: tenantParams, query: paginationQuerySchema },
      responses: { 200: jsonResponse(listSchema(endpointSchema), "A page of endpoints, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listEndpoints(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("query"));
      return c.json({ data: rows.map(endpointView), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{endpointId}`,
      tags,
      summary: "Get an endpoint with its counters",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 200: jsonResponse(endpointSchema, "The endpoint"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(endpointView(await getEndpoint(c.var.ctx, tenantId, endpointId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: `${base}/{endpointId}`,
      tags,
      summary: "Update, enable or disable an endpoint",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(endpointUpdateSchema) },
      responses: { 200: jsonResponse(endpointSchema, "The updated endpoint"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(endpointView(await updateEndpoint(c.var.ctx, tenantId, endpointId, c.req.valid("json"))), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${base}/{endpointId}`,
      tags,
      summary: "Delete an endpoint and its deliveries",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      await deleteEndpoint(c.var.ctx, tenantId, endpointId);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{endpointId}/secret`,
      tags,
      summary: "Read the endpoint's signing secret",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: {
        200: jsonResponse(endpointSecretSchema, "The current secret, and the previous one while it still signs"),
        ...errorResponses,
      },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(secretView(await getEndpoint(c.var.ctx, tenantId, endpointId)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/{endpointId}/secret/rotate`,
      tags,
      summary: "Rotate the signing secret; the old one keeps signing for a grace period",
      security: bearerSecurity,
      request: { params: endpointParams, body: { ...jsonBody(secretRotateSchema), required: false } },
      responses: { 200: jsonResponse(endpointSecretSchema, "The new secret and the old one with its expiry"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(secretView(await rotateSecret(c.var.ctx, tenantId, endpointId, c.req.valid("json") ?? {})), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/{endpointId}/test`,
      tags,
      summary: "Send a test event now and answer with the receiver's response",
      description:
        "Delivers one signed request at once, with the example payload of the chosen event type, and records it in the delivery log as a test. " +
        "A receiver that fails, times out or cannot be reached is described in a 200 answer (`ok: false`, `errorKind`).",
      security: bearerSecurity,
      request: { params: endpointParams, body: { ...jsonBody(endpointTestSchema), required: false } },
      responses: { 200: jsonResponse(endpointTestResultSchema, "What the receiver answered"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, endpointId } = c.req.valid("param");
      return c.json(await sendTestEvent(c.var.ctx, tenantId, endpointId, c.req.valid("json") ?? {}), 200);
    },
  );
}
