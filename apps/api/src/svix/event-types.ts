import {
  svixEventTypeInSchema,
  svixEventTypeListQuerySchema,
  svixEventTypeOutSchema,
  svixEventTypePatchSchema,
  svixEventTypeUpdateSchema,
  svixListSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { bearerSecurity, jsonBody } from "../openapi.ts";
import { createEventType, getEventType, listEventTypes, updateEventType } from "../services/event-types.ts";
import { eventTypeParams, svixErrorResponses, svixJson, svixTags } from "./openapi.ts";
import { eventTypeOut, listOut } from "./views.ts";

const tags = svixTags.eventType;
const base = "/api/v1/event-type";

/**
 * Svix's versioned `schemas` as Herald's one schema and example: the only
 * version's schema, and its `examples[0]` as the catalog example (what
 * send-example delivers). `null` clears both; `undefined` leaves them alone.
 */
function schemaFields(schemas: Record<string, Record<string, unknown>> | null | undefined) {
  if (schemas === undefined) return {};
  const schema = schemas ? Object.values(schemas)[0] : undefined;
  if (!schema) return { schema: null, example: null };
  const examples = schema.examples;
  return { schema, example: Array.isArray(examples) && examples.length > 0 ? examples[0] : null };
}

export function eventTypeRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List event types, by name",
      security: bearerSecurity,
      request: { query: svixEventTypeListQuerySchema },
      responses: { 200: svixJson(svixListSchema(svixEventTypeOutSchema), "A page of event types"), ...svixErrorResponses },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const { rows, nextCursor } = await listEventTypes(c.var.ctx, {
        limit: query.limit,
        cursor: query.iterator,
        includeArchived: query.include_archived ?? false,
      });
      const data = rows.map(eventTypeOut).map((row) => (query.with_content === false ? { ...row, schemas: null } : row));
      return c.json(listOut(data, nextCursor), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Create an event type",
      security: bearerSecurity,
      request: { body: jsonBody(svixEventTypeInSchema) },
      responses: { 201: svixJson(svixEventTypeOutSchema, "Created"), ...svixErrorResponses },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const { schema, example } = schemaFields(body.schemas ?? null);
      let row = await createEventType(c.var.ctx, {
        name: body.name,
        description: body.description,
        ...(schema ? { schema } : {}),
        ...(example !== null && example !== undefined ? { example } : {}),
      });
      if (body.archived) row = await updateEventType(c.var.ctx, row.name, { archived: true });
      return c.json(eventTypeOut(row), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{event_type_name}`,
      tags,
      summary: "Get an event type",
      security: bearerSecurity,
      request: { params: eventTypeParams },
      responses: { 200: svixJson(svixEventTypeOutSchema, "The event type"), ...svixErrorResponses },
    }),
    async (c) => {
      const name = c.req.valid("param").event_type_name;
      return c.json(eventTypeOut(await getEventType(c.var.ctx, name)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: `${base}/{event_type_name}`,
      tags,
      summary: "Update an event type, or create it when there is none with this name",
      security: bearerSecurity,
      request: { params: eventTypeParams, body: jsonBody(svixEventTypeUpdateSchema) },
      responses: {
        200: svixJson(svixEventTypeOutSchema, "Updated"),
        201: svixJson(svixEventTypeOutSchema, "Created"),
        ...svixErrorResponses,
      },
    }),
    async (c) => {
      const name = c.req.valid("param").event_type_name;
      const body = c.req.valid("json");
      const fields = schemaFields(body.schemas ?? null);
      const exists = await getEventType(c.var.ctx, name).then(
        () => true,
        () => false,
      );
      if (!exists) {
        let row = await createEventType(c.var.ctx, {
          name,
          description: body.description,
          ...(fields.schema ? { schema: fields.schema } : {}),
          ...(fields.example !== null && fields.example !== undefined ? { example: fields.example } : {}),
        });
        if (body.archived) row = await updateEventType(c.var.ctx, name, { archived: true });
        return c.json(eventTypeOut(row), 201);
      }
      const row = await updateEventType(c.var.ctx, name, { description: body.description, archived: body.archived ?? false, ...fields });
      return c.json(eventTypeOut(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: `${base}/{event_type_name}`,
      tags,
      summary: "Change some fields of an event type",
      security: bearerSecurity,
      request: { params: eventTypeParams, body: jsonBody(svixEventTypePatchSchema) },
      responses: { 200: svixJson(svixEventTypeOutSchema, "Updated"), ...svixErrorResponses },
    }),
    async (c) => {
      const name = c.req.valid("param").event_type_name;
      const { description, archived, schemas } = c.req.valid("json");
      const row = await updateEventType(c.var.ctx, name, {
        ...(description === undefined ? {} : { description }),
        ...(archived === undefined ? {} : { archived }),
        ...schemaFields(schemas),
      });
      return c.json(eventTypeOut(row), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: `${base}/{event_type_name}`,
      tags,
      summary: "Archive an event type (it stays in the catalog, marked archived, and can no longer be published)",
      security: bearerSecurity,
      request: {
        params: eventTypeParams,
        query: z.object({
          expunge: z
            .stringbool()
            .refine((value) => !value, "Herald keeps archived event types; it does not expunge them")
            .optional(),
        }),
      },
      responses: { 204: { description: "Archived" }, ...svixErrorResponses },
    }),
    async (c) => {
      await updateEventType(c.var.ctx, c.req.valid("param").event_type_name, { archived: true });
      return c.body(null, 204);
    },
  );
}
