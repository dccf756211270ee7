import { apiKeyCreatedSchema, apiKeyCreateSchema, apiKeySchema, listSchema, paginationQuerySchema } from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { createApiKey, listApiKeys, revokeApiKey } from "../services/api-keys.ts";
import { apiKeyView } from "../views.ts";
import { tenantParams } from "./params.ts";

const tags = ["API keys"];
const base = "/v1/tenants/{tenantId}/api-keys";
const keyParams = tenantParams.extend({
  keyId: z
    .string()
    .min(1)
    .max(100)
    .meta({ param: { name: "keyId", in: "path" }, example: "key_01jdz3k5q8e6f0a1b2c3d4e5f6" }),
});

export function apiKeyRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Create a tenant API key (the key is shown once)",
      security: bearerSecurity,
      request: { params: tenantParams, body: jsonBody(apiKeyCreateSchema) },
      responses: { 201: jsonResponse(apiKeyCreatedSchema, "The new key, including the key itself"), ...errorResponses },
    }),
    async (c) => {
      const { row, key } = await createApiKey(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("json"));
      return c.json({ ...apiKeyView(row), key }, 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List a tenant's API keys (without the keys)",
      security: bearerSecurity,
      request: { params: tenantParams, query: paginationQuerySchema },
      responses: { 200: jsonResponse(listSchema(apiKeySchema), "A page of keys, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listApiKeys(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("query"));
      return c.json({ data: rows.map(apiKeyView), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${base}/{keyId}`,
      tags,
      summary: "Revoke an API key; it stops working at once",
      security: bearerSecurity,
      request: { params: keyParams },
      responses: { 200: jsonResponse(apiKeySchema, "The revoked key"), ...errorResponses },
    }),
    async (c) => {
      const { tenantId, keyId } = c.req.valid("param");
      return c.json(apiKeyView(await revokeApiKey(c.var.ctx, tenantId, keyId)), 200);
    },
  );
}
