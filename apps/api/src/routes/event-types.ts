import {
  eventTypeCreateSchema,
  eventTypeNameSchema,
  eventTypeSchema,
  eventTypeUpdateSchema,
  listSchema,
  paginationQuerySchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, errorResponses, jsonBody, jsonResponse } from "../openapi.ts";
import { createEventType, getEventType, listEventTypes, updateEventType } from "../services/event-types.ts";
import { eventTypeView } from "../views.ts";

const tags = ["Event catalog"];
const nameParams = z.object({ name: eventTypeNameSchema.meta({ param: { name: "name", in: "path" } }) });

export function eventTypeRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/event-types",
      tags,
      summary: "Add an event type to the catalog",
      security: bearerSecurity,
      request: { body: jsonBody(eventTypeCreateSchema) },
      responses: { 201: jsonResponse(eventTypeSchema, "The new event type"), ...errorResponses },
    }),
    async (c) => c.json(eventTypeView(await createEventType(c.var.ctx, c.req.valid("json"))), 201),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/event-types",
      tags,
      summary: "List the event catalog",
      security: bearerSecurity,
      request: {
        query: paginationQuerySchema.extend({
          includeArchived: z.enum(["true", "false"]).optional().meta({ description: "Also list archived types" }),
        }),
      },
      responses: { 200: jsonResponse(listSchema(eventTypeSchema), "A page of event types, by name"), ...errorResponses },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const { rows, nextCursor } = await listEventTypes(c.var.ctx, { ...query, includeArchived: query.includeArchived === "true" });
      return c.json({ data: rows.map(eventTypeView), nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/event-types/{name}",
      tags,
      summary: "Get an event type",
      security: bearerSecurity,
      request: { params: nameParams },
      responses: { 200: jsonResponse(eventTypeSchema, "The event type"), ...errorResponses },
    }),
    async (c) => c.json(eventTypeView(await getEventType(c.var.ctx, c.req.valid("param").name)), 200),
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: "/v1/event-types/{name}",
      tags,
      summary: "Update or archive an event type",
      security: bearerSecurity,
      request: { params: nameParams, body: jsonBody(eventTypeUpdateSchema) },
      responses: { 200: jsonResponse(eventTypeSchema, "The updated event type"), ...errorResponses },
    }),
    async (c) => c.json(eventTypeView(await updateEventType(c.var.ctx, c.req.valid("param").name, c.req.valid("json"))), 200),
  );
}
