import {
  svixApplicationInSchema,
  svixApplicationOutSchema,
  svixApplicationPatchSchema,
  svixListQuerySchema,
  svixListSchema,
  svixOrderingSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, jsonBody } from "../openapi.ts";
import { createTenant, deleteTenant, findTenant, listTenants, resolveTenant, updateTenant } from "../services/tenants.ts";
import { appParams, svixErrorResponses, svixJson, svixTags } from "./openapi.ts";
import { applicationOut, listOut } from "./views.ts";

const tags = svixTags.application;
const base = "/api/v1/app";

export function applicationRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List applications (tenants)",
      security: bearerSecurity,
      request: { query: svixListQuerySchema.extend({ order: svixOrderingSchema.optional() }) },
      responses: { 200: svixJson(svixListSchema(svixApplicationOutSchema), "A page of applications"), ...svixErrorResponses },
    }),
    async (c) => {
      const { limit, iterator, order } = c.req.valid("query");
      const { rows, nextCursor } = await listTenants(c.var.ctx, {
        limit,
        cursor: iterator,
        order: order === "ascending" ? "oldest" : "newest",
      });
      return c.json(listOut(rows.map(applicationOut), nextCursor), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Create an application (a tenant); with get_if_exists=true, answer the existing one with that uid",
      security: bearerSecurity,
      request: { query: z.object({ get_if_exists: z.stringbool().optional() }), body: jsonBody(svixApplicationInSchema) },
      responses: {
        201: svixJson(svixApplicationOutSchema, "Created"),
        200: svixJson(svixApplicationOutSchema, "It existed already (get_if_exists=true)"),
        ...svixErrorResponses,
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      if (c.req.valid("query").get_if_exists && body.uid) {
        const existing = await findTenant(c.var.ctx, body.uid);
        if (existing) return c.json(applicationOut(await resolveTenant(c.var.ctx, existing.id)), 200);
      }
      const tenant = await createTenant(c.var.ctx, { name: body.name, uid: body.uid ?? undefined, metadata: body.metadata });
      return c.json(applicationOut(tenant), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{app_id}`,
      tags,
      summary: "Get an application",
      security: bearerSecurity,
      request: { params: appParams },
      responses: { 200: svixJson(svixApplicationOutSchema, "The application"), ...svixErrorResponses },
    }),
    async (c) => c.json(applicationOut(await resolveTenant(c.var.ctx, c.req.valid("param").app_id)), 200),
  );

  app.openapi(
    createRoute({
      method: "put",
      path: `${base}/{app_id}`,
      tags,
      summary: "Update an application, or create it when there is none with this id or uid",
      security: bearerSecurity,
      request: { params: appParams, body: jsonBody(svixApplicationInSchema) },
      responses: {
        200: svixJson(svixApplicationOutSchema, "Updated"),
        201: svixJson(svixApplicationOutSchema, "Created"),
        ...svixErrorResponses,
      },
    }),
    async (c) => {
      const { app_id } = c.req.valid("param");
      const body = c.req.valid("json");
      // Svix replaces every field: absent uid and metadata mean none.
      const fields = { name: body.name, uid: body.uid ?? null, metadata: body.metadata ?? {} };
      if (!(await findTenant(c.var.ctx, app_id))) {
        return c.json(applicationOut(await createTenant(c.var.ctx, { ...fields, uid: fields.uid ?? undefined })), 201);
      }
      return c.json(applicationOut(await updateTenant(c.var.ctx, app_id, fields)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: `${base}/{app_id}`,
      tags,
      summary: "Change some fields of an application",
      security: bearerSecurity,
      request: { params: appParams, body: jsonBody(svixApplicationPatchSchema) },
      responses: { 200: svixJson(svixApplicationOutSchema, "Updated"), ...svixErrorResponses },
    }),
    async (c) => {
      const { name, uid, metadata } = c.req.valid("json");
      const tenant = await updateTenant(c.var.ctx, c.req.valid("param").app_id, {
        ...(name === undefined ? {} : { name }),
        ...(uid === undefined ? {} : { uid }),
        ...(metadata === undefined ? {} : { metadata }),
      });
      return c.json(applicationOut(tenant), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${base}/{app_id}`,
      tags,
      summary: "Delete an application with its endpoints, messages and attempts",
      security: bearerSecurity,
      request: { params: appParams },
      responses: { 204: { description: "Deleted" }, ...svixErrorResponses },
    }),
    async (c) => {
      await deleteTenant(c.var.ctx, c.req.valid("param").app_id);
      return c.body(null, 204);
    },
  );
}
