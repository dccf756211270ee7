import {
  svixListQuerySchema,
  svixListSchema,
  svixMessageEndpointOutSchema,
  svixMessageInSchema,
  svixMessageOutSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv, ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import type { ApiMetrics } from "../metrics.ts";
import { bearerSecurity, jsonBody } from "../openapi.ts";
import { resendEvent } from "../services/deliveries.ts";
import { endpointsByIds } from "../services/endpoints.ts";
import { getEvent, listEvents, publishEvent } from "../services/events.ts";
import { createTenant, findTenant } from "../services/tenants.ts";
import { appParams, idempotencyHeader, msgParams, svixErrorResponses, svixJson, svixTags } from "./openapi.ts";
import { listOut, messageEndpointOut, messageOut, storedPayload } from "./views.ts";

const tags = svixTags.message;
const base = "/api/v1/app/{app_id}/msg";

const refused = (why: string) =>
  z
    .string()
    .optional()
    .refine((value) => !value, why);

/** Comma-separated event type names, as the SDKs send a list in a query. */
const typeList = (value: string | undefined) => (value ? value.split(",").filter(Boolean) : undefined);

/**
 * Svix's `application` field: create the application named in the path when
 * it does not exist yet. Its uid must be the one in the path, as in Svix.
 */
async function ensureApplication(
  ctx: ServiceContext,
  appId: string,
  application: { name: string; uid?: string | null | undefined; metadata?: Record<string, string> | undefined },
) {
  if (await findTenant(ctx, appId)) return;
  if (application.uid !== appId) {
    throw new ApiError("validation_failed", "application.uid must be the application uid in the path", [
      { path: "application.uid", message: "must be the application uid in the path to create it" },
    ]);
  }
  try {
    await createTenant(ctx, { name: application.name, uid: appId, ...(application.metadata ? { metadata: application.metadata } : {}) });
  } catch (error) {
    // Another message created it first: that is what was asked for.
    if (!(error instanceof ApiError && error.code === "conflict")) throw error;
  }
}

export function messageRoutes(app: OpenAPIHono<AppEnv>, metrics: ApiMetrics) {
  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Send a message: publish an event to every subscribed endpoint of the application",
      description:
        "The SDKs send an `idempotency-key` with every POST; a repeat within 24 hours answers the first message again. " +
        "An `eventId` already used in the application is a 409.",
      security: bearerSecurity,
      request: {
        params: appParams,
        headers: idempotencyHeader,
        query: z.object({ with_content: z.stringbool().optional() }),
        body: jsonBody(svixMessageInSchema),
      },
      responses: { 202: svixJson(svixMessageOutSchema, "Stored; deliveries queued"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id } = c.req.valid("param");
      const body = c.req.valid("json");
      if (body.application) await ensureApplication(c.var.ctx, app_id, body.application);
      const result = await publishEvent(c.var.ctx, app_id, {
        eventType: body.eventType,
        payload: body.payload,
        idempotencyKey: c.req.valid("header")["idempotency-key"],
        uid: body.eventId ?? undefined,
      });
      metrics.eventsPublished.inc({ result: result.replayed ? "replayed" : "published" });
      if (result.replayed) c.header("idempotent-replayed", "true");
      const withContent = c.req.valid("query").with_content ?? true;
      return c.json(messageOut(result.event, withContent ? body.payload : {}), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List an application's messages, newest first",
      security: bearerSecurity,
      request: {
        params: appParams,
        query: svixListQuerySchema.extend({
          before: z.iso.datetime({ offset: true }).optional(),
          after: z.iso.datetime({ offset: true }).optional(),
          with_content: z.stringbool().optional(),
          event_types: z.string().max(10_000).optional(),
          channel: refused("Herald has no channels, so it cannot filter by one"),
          tag: refused("Herald does not keep message tags, so it cannot filter by them"),
        }),
      },
      responses: { 200: svixJson(svixListSchema(svixMessageOutSchema), "A page of messages"), ...svixErrorResponses },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const { rows, nextCursor } = await listEvents(c.var.ctx, c.req.valid("param").app_id, {
        limit: query.limit,
        cursor: query.iterator,
        eventTypes: typeList(query.event_types),
        before: query.before,
        after: query.after,
      });
      const withContent = query.with_content ?? true;
      return c.json(
        listOut(
          rows.map((row) => messageOut(row, withContent ? storedPayload(row) : {})),
          nextCursor,
        ),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{msg_id}`,
      tags,
      summary: "Get a message by its id or its eventId",
      security: bearerSecurity,
      request: { params: msgParams, query: z.object({ with_content: z.stringbool().optional() }) },
      responses: { 200: svixJson(svixMessageOutSchema, "The message"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, msg_id } = c.req.valid("param");
      const { event } = await getEvent(c.var.ctx, app_id, msg_id);
      return c.json(messageOut(event, (c.req.valid("query").with_content ?? true) ? storedPayload(event) : {}), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/{msg_id}/endpoint`,
      tags: svixTags.attempt,
      summary: "List the endpoints a message went to, with its delivery status at each",
      security: bearerSecurity,
      request: { params: msgParams, query: svixListQuerySchema },
      responses: { 200: svixJson(svixListSchema(svixMessageEndpointOutSchema), "A page of endpoints"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, msg_id } = c.req.valid("param");
      const { limit, iterator } = c.req.valid("query");
      const { deliveries } = await getEvent(c.var.ctx, app_id, msg_id);
      const byEndpoint = new Map(deliveries.filter((row) => !iterator || row.endpointId > iterator).map((row) => [row.endpointId, row]));
      const ids = [...byEndpoint.keys()].sort().slice(0, limit + 1);
      const found = new Map((await endpointsByIds(c.var.ctx, app_id, ids.slice(0, limit))).map((row) => [row.id, row]));
      const data = ids.slice(0, limit).flatMap((id) => {
        const endpoint = found.get(id);
        const delivery = byEndpoint.get(id);
        return endpoint && delivery ? [messageEndpointOut(endpoint, delivery)] : [];
      });
      return c.json(listOut(data, ids.length > limit ? (ids[limit - 1] ?? null) : null), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/{msg_id}/endpoint/{endpoint_id}/resend`,
      tags: svixTags.attempt,
      summary: "Send a message to one endpoint again now",
      security: bearerSecurity,
      request: {
        params: msgParams.extend({
          endpoint_id: z
            .string()
            .min(1)
            .max(200)
            .meta({ param: { name: "endpoint_id", in: "path" } }),
        }),
      },
      responses: { 202: svixJson(z.object({}).meta({ example: {} }), "Queued"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, msg_id, endpoint_id } = c.req.valid("param");
      await resendEvent(c.var.ctx, app_id, msg_id, endpoint_id);
      return c.json({}, 202);
    },
  );
}
