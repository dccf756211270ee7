import { listSchema, paginationQuerySchema, tenantCreateSchema, tenantSchema, tenantUpdateSchema } from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { createTenant, deleteTenant, listTenants, resolveTenant, updateTenant } from "../services/tenants.ts";
import { tenantView } from "../views.ts";
import { tenantParams } from "./params.ts";

const tags = ["Tenants"];

export function tenantRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/tenants",
      tags,
      summary: "Create a tenant",
      security: bearerSecurity,
      request: { body: jsonBody(tenantCreateSchema) },
      responses: { 201: jsonResponse(tenantSchema, "The new tenant"), 409: errorResponses[422], ...errorResponses },
    }),
    async (c) => c.json(tenantView(await createTenant(c.var.ctx, c.req.valid("json")), c.var.ctx.config), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants",
      tags,
      summary: "List tenants",
      security: bearerSecurity,
      request: { query: paginationQuerySchema },
      responses: { 200: jsonResponse(listSchema(tenantSchema), "A page of tenants, newest first"), ...errorResponses },
    }),
    async (c) => {
      const { rows, nextCursor } = await listTenants(c.var.ctx, c.req.valid("query"));
      return c.json({ data: rows.map((row) => tenantView(row, c.var.ctx.config)), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/tenants/{tenantId}",
      tags,
      summary: "Get a tenant",
      security: bearerSecurity,
      request: { params: tenantParams },
      responses: { 200: jsonResponse(tenantSchema, "The tenant"), ...errorResponses },
    }),
    async (c) => c.json(tenantView(await resolveTenant(c.var.ctx, c.req.valid("param").tenantId), c.var.ctx.config), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/tenants/{tenantId}",
      tags,
      summary: "Update a tenant",
      security: bearerSecurity,
      request: { params: tenantParams, body: jsonBody(tenantUpdateSchema) },
      responses: { 200: jsonResponse(tenantSchema, "The updated tenant"), ...errorResponses },
    }),
    async (c) =>
      c.json(tenantView(await updateTenant(c.var.ctx, c.req.valid("param").tenantId, c.req.valid("json")), c.var.ctx.config), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/tenants/{tenantId}",
      tags,
      summary: "Delete a tenant with its keys, endpoints, events and deliveries",
      security: bearerSecurity,
      request: { params: tenantParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses },
    }),
    async (c) => {
      await deleteTenant(c.var.ctx, c.req.valid("param").tenantId);
      return c.body(null, 204);
    },
  );
}
