import { randomUUID } from "node:crypto";
import {
  customHeadersSchema,
  type EndpointUpdate,
  svixEndpointHeadersInSchema,
  svixEndpointHeadersOutSchema,
  svixEndpointHeadersPatchInSchema,
  svixEndpointInSchema,
  svixEndpointOutSchema,
  svixEndpointPatchSchema,
  svixEndpointSecretOutSchema,
  svixEndpointSecretRotateInSchema,
  svixEndpointStatsSchema,
  svixEndpointUpdateSchema,
  svixEventExampleInSchema,
  svixListQuerySchema,
  svixListSchema,
  svixMessageOutSchema,
  svixOrderingSchema,
  svixRecoverInSchema,
  svixRecoverOutSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import { ApiError, fieldErrors } from "../errors.ts";
import { bearerSecurity, jsonBody } from "../openapi.ts";
import { endpointDeliveryCounts } from "../services/attempts.ts";
import {
  createEndpoint,
  deleteEndpoint,
  findEndpoint,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  updateEndpoint,
} from "../services/endpoints.ts";
import { getEvent } from "../services/events.ts";
import { recoverEndpoint } from "../services/recover.ts";
import { sendTestEvent } from "../services/test-send.ts";
import { appParams, endpointParams, svixErrorResponses, svixJson, svixTags } from "./openapi.ts";
import { endpointOut, listOut, messageOut, storedPayload } from "./views.ts";

const tags = svixTags.endpoint;
const base = "/api/v1/app/{app_id}/endpoint";
const one = `${base}/{endpoint_id}`;

/** Svix's rate limit has two names; the newer one wins. */
const rateLimitOf = (body: { rateLimit?: number | null | undefined; throttleRate?: number | null | undefined }) =>
  body.throttleRate !== undefined ? body.throttleRate : body.rateLimit;

/** Herald's name is Svix's description; an endpoint without one is named by its URL. */
const nameOf = (description: string | undefined, url: string) => (description?.trim() ? description.trim() : url);

export function endpointRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: base,
      tags,
      summary: "List an application's endpoints",
      security: bearerSecurity,
      request: { params: appParams, query: svixListQuerySchema.extend({ order: svixOrderingSchema.optional() }) },
      responses: { 200: svixJson(svixListSchema(svixEndpointOutSchema), "A page of endpoints"), ...svixErrorResponses },
    }),
    async (c) => {
      const { limit, iterator, order } = c.req.valid("query");
      const { rows, nextCursor } = await listEndpoints(c.var.ctx, c.req.valid("param").app_id, {
        limit,
        cursor: iterator,
        order: order === "ascending" ? "oldest" : "newest",
      });
      return c.json(listOut(rows.map(endpointOut), nextCursor), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: base,
      tags,
      summary: "Create an endpoint",
      security: bearerSecurity,
      request: { params: appParams, body: jsonBody(svixEndpointInSchema) },
      responses: { 201: svixJson(svixEndpointOutSchema, "Created"), ...svixErrorResponses },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const rateLimit = rateLimitOf(body);
      const endpoint = await createEndpoint(c.var.ctx, c.req.valid("param").app_id, {
        name: nameOf(body.description, body.url),
        url: body.url,
        ...(body.uid ? { uid: body.uid } : {}),
        eventTypes: body.filterTypes ?? [],
        ...(body.headers ? { headers: body.headers } : {}),
        ...(rateLimit !== undefined ? { rateLimit } : {}),
        ...(body.secret ? { secret: body.secret } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        ...(body.metadata ? { metadata: body.metadata } : {}),
      });
      return c.json(endpointOut(endpoint), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: one,
      tags,
      summary: "Get an endpoint",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 200: svixJson(svixEndpointOutSchema, "The endpoint"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      return c.json(endpointOut(await getEndpoint(c.var.ctx, app_id, endpoint_id)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: one,
      tags,
      summary: "Update an endpoint, or create it when there is none with this id or uid",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixEndpointUpdateSchema) },
      responses: {
        200: svixJson(svixEndpointOutSchema, "Updated"),
        201: svixJson(svixEndpointOutSchema, "Created"),
        ...svixErrorResponses,
      },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const body = c.req.valid("json");
      // Svix replaces every field: what is absent goes back to its default.
      const fields = {
        name: nameOf(body.description, body.url),
        url: body.url,
        eventTypes: body.filterTypes ?? [],
        rateLimit: rateLimitOf(body) ?? null,
        disabled: body.disabled ?? false,
        metadata: body.metadata ?? {},
      };
      if (!(await findEndpoint(c.var.ctx, app_id, endpoint_id))) {
        const created = await createEndpoint(c.var.ctx, app_id, { ...fields, ...(body.uid ? { uid: body.uid } : {}) });
        return c.json(endpointOut(created), 201);
      }
      return c.json(endpointOut(await updateEndpoint(c.var.ctx, app_id, endpoint_id, { ...fields, uid: body.uid ?? null })), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: one,
      tags,
      summary: "Change some fields of an endpoint",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixEndpointPatchSchema) },
      responses: { 200: svixJson(svixEndpointOutSchema, "Updated"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const current = await getEndpoint(c.var.ctx, app_id, endpoint_id);
      const url = body.url ?? current.url;
      const rateLimit = rateLimitOf(body);
      const changes: EndpointUpdate = {
        ...(body.url !== undefined || body.description !== undefined
          ? { url, name: nameOf(body.description ?? (current.name === current.url ? "" : current.name), url) }
          : {}),
        ...(body.uid !== undefined ? { uid: body.uid } : {}),
        ...(body.filterTypes !== undefined ? { eventTypes: body.filterTypes ?? [] } : {}),
        ...(rateLimit !== undefined ? { rateLimit } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        ...(body.metadata !== undefined ? { metadata: body.metadata } : {}),
      };
      // Svix's patch sets the secret outright: a rotation with no grace period.
      if (body.secret) await rotateSecret(c.var.ctx, app_id, current.id, { secret: body.secret, gracePeriod: "0s" });
      return c.json(endpointOut(await updateEndpoint(c.var.ctx, app_id, current.id, changes)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: one,
      tags,
      summary: "Delete an endpoint with its deliveries",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 204: { description: "Deleted" }, ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      await deleteEndpoint(c.var.ctx, app_id, endpoint_id);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${one}/secret`,
      tags,
      summary: "Get the endpoint's signing secret",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 200: svixJson(svixEndpointSecretOutSchema, "The current secret"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      return c.json({ key: (await getEndpoint(c.var.ctx, app_id, endpoint_id)).secret }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${one}/secret/rotate`,
      tags,
      summary: "Rotate the signing secret; the old one keeps signing for the grace period",
      security: bearerSecurity,
      request: { params: endpointParams, body: { ...jsonBody(svixEndpointSecretRotateInSchema), required: false } },
      responses: { 204: { description: "Rotated" }, ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const body = c.req.valid("json") ?? {};
      await rotateSecret(c.var.ctx, app_id, endpoint_id, {
        ...(body.key ? { secret: body.key } : {}),
        ...(body.gracePeriodSeconds !== undefined && body.gracePeriodSeconds !== null
          ? { gracePeriod: `${body.gracePeriodSeconds}s` }
          : {}),
      });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${one}/headers`,
      tags,
      summary: "Get the endpoint's custom headers",
      security: bearerSecurity,
      request: { params: endpointParams },
      responses: { 200: svixJson(svixEndpointHeadersOutSchema, "The headers (Herald marks none as sensitive)"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      return c.json({ headers: (await getEndpoint(c.var.ctx, app_id, endpoint_id)).headers, sensitive: [] }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: `${one}/headers`,
      tags,
      summary: "Replace the endpoint's custom headers",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixEndpointHeadersInSchema) },
      responses: { 204: { description: "Replaced" }, ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      await updateEndpoint(c.var.ctx, app_id, endpoint_id, { headers: c.req.valid("json").headers });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "patch",
      path: `${one}/headers`,
      tags,
      summary: "Add, change or remove some custom headers (a null value or deleteHeaders removes one)",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixEndpointHeadersPatchInSchema) },
      responses: { 204: { description: "Changed" }, ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const body = c.req.valid("json");
      const current = await getEndpoint(c.var.ctx, app_id, endpoint_id);
      const removed = new Set([...(body.deleteHeaders ?? []), ...Object.keys(body.headers).filter((name) => body.headers[name] === null)]);
      const merged: Record<string, string> = {};
      for (const [name, value] of Object.entries({ ...current.headers, ...body.headers })) {
        if (value !== null && !removed.has(name)) merged[name] = value;
      }
      const checked = customHeadersSchema.safeParse(merged);
      if (!checked.success) {
        const errors = fieldErrors(checked.error.issues, "headers");
        throw new ApiError("validation_failed", errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
      }
      await updateEndpoint(c.var.ctx, app_id, current.id, { headers: checked.data });
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${one}/stats`,
      tags,
      summary: "Count the endpoint's deliveries by status (default: the 28 days before until, or before now)",
      security: bearerSecurity,
      request: {
        params: endpointParams,
        query: z.object({ since: z.iso.datetime({ offset: true }).optional(), until: z.iso.datetime({ offset: true }).optional() }),
      },
      responses: { 200: svixJson(svixEndpointStatsSchema, "Deliveries by status"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const { since, until } = c.req.valid("query");
      // As in Svix: without since, the 28 days before until (or before now).
      const end = until ? new Date(until) : undefined;
      const counts = await endpointDeliveryCounts(c.var.ctx, app_id, endpoint_id, {
        since: since ? new Date(since) : new Date((end?.getTime() ?? Date.now()) - 28 * 86_400_000),
        until: end,
      });
      return c.json(
        { success: counts.succeeded, pending: counts.pending, sending: counts.failed, fail: counts.exhausted, canceled: counts.held },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${one}/send-example`,
      tags,
      summary: "Send the event type's example payload to the endpoint now",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixEventExampleInSchema) },
      responses: { 202: svixJson(svixMessageOutSchema, "Sent; the attempt is in the log"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const result = await sendTestEvent(c.var.ctx, app_id, endpoint_id, { eventType: c.req.valid("json").eventType });
      const { event } = await getEvent(c.var.ctx, app_id, result.eventId);
      return c.json(messageOut(event, storedPayload(event)), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${one}/recover`,
      tags,
      summary: "Send again every delivery that failed since a time",
      description:
        "Failed, exhausted and held deliveries created in [since, until) are released at the endpoint's pace. " +
        "The answer is Svix's background task; Herald has already queued the deliveries when it answers.",
      security: bearerSecurity,
      request: { params: endpointParams, body: jsonBody(svixRecoverInSchema) },
      responses: { 202: svixJson(svixRecoverOutSchema, "Recovery started"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const { since, until } = c.req.valid("json");
      await recoverEndpoint(c.var.ctx, app_id, endpoint_id, { since, until: until ?? undefined });
      const task = { id: `qtask_${randomUUID().replaceAll("-", "")}`, status: "running" as const, task: "endpoint.recover" as const };
      return c.json({ ...task, updatedAt: new Date().toISOString() }, 202);
    },
  );
}
