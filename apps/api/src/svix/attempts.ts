import {
  type DeliveryStatus,
  svixAttemptListQuerySchema,
  svixEndpointMessageOutSchema,
  svixListQuerySchema,
  svixListSchema,
  svixMessageAttemptOutSchema,
} from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv, ServiceContext } from "../deps.ts";
import { ApiError } from "../errors.ts";
import { bearerSecurity } from "../openapi.ts";
import { getAttempt, listAttempts } from "../services/attempts.ts";
import { listDeliveries } from "../services/deliveries.ts";
import { getEndpoint } from "../services/endpoints.ts";
import { eventsByIds } from "../services/events.ts";
import { endpointParams, msgParams, svixErrorResponses, svixJson, svixTags } from "./openapi.ts";
import { attemptOut, endpointMessageOut, listOut } from "./views.ts";

const tags = svixTags.attempt;
type AttemptQuery = z.infer<typeof svixAttemptListQuerySchema>;

/** Svix's status numbers as the delivery statuses they stand for (see deliveryStatus in views.ts). */
const DELIVERY_STATUS_OF: DeliveryStatus[] = ["succeeded", "pending", "exhausted", "failed", "held"];

/**
 * Svix's attempt filters on Herald's attempt log. Every Herald attempt has
 * finished (succeeded or failed), so asking for pending, sending or canceled
 * attempts finds none.
 */
async function attemptPage(ctx: ServiceContext, appId: string, scope: { event?: string; endpoint?: string }, query: AttemptQuery) {
  if (query.with_msg) {
    throw new ApiError("validation_failed", "with_msg is not supported; get the message with its msgId", [
      { path: "query.with_msg", message: "is not supported by Herald; get the message with its msgId" },
    ]);
  }
  if (query.event_types) {
    throw new ApiError("validation_failed", "attempts cannot be filtered by event type; list the messages of a type instead", [
      { path: "query.event_types", message: "is not supported by Herald for attempts" },
    ]);
  }
  if (query.status !== undefined && query.status !== 0 && query.status !== 2) return listOut([], null);
  const codeClass = query.status_code_class;
  const { rows, nextCursor } = await listAttempts(ctx, appId, {
    limit: query.limit,
    cursor: query.iterator,
    ...scope,
    ...(query.endpoint_id ? { endpoint: query.endpoint_id } : {}),
    outcome: query.status === 0 ? "succeeded" : query.status === 2 ? "failed" : undefined,
    statusCodes: codeClass === undefined ? undefined : codeClass === 0 ? [0, 99] : [codeClass, codeClass + 99],
    after: query.after,
    before: query.before,
  });
  return listOut(rows.map(attemptOut), nextCursor);
}

export function attemptRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/app/{app_id}/attempt/endpoint/{endpoint_id}",
      tags,
      summary: "List an endpoint's attempts, newest first",
      security: bearerSecurity,
      request: { params: endpointParams, query: svixAttemptListQuerySchema },
      responses: { 200: svixJson(svixListSchema(svixMessageAttemptOutSchema), "A page of attempts"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      return c.json(await attemptPage(c.var.ctx, app_id, { endpoint: endpoint_id }, c.req.valid("query")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
      tags,
      summary: "List a message's attempts, newest first",
      security: bearerSecurity,
      request: { params: msgParams, query: svixAttemptListQuerySchema },
      responses: { 200: svixJson(svixListSchema(svixMessageAttemptOutSchema), "A page of attempts"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, msg_id } = c.req.valid("param");
      return c.json(await attemptPage(c.var.ctx, app_id, { event: msg_id }, c.req.valid("query")), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/app/{app_id}/endpoint/{endpoint_id}/msg",
      tags,
      summary: "List the messages sent to an endpoint, newest first, with their delivery status there",
      security: bearerSecurity,
      request: {
        params: endpointParams,
        query: svixListQuerySchema.extend({
          status: z.coerce.number().int().min(0).max(4).optional(),
          before: z.iso.datetime({ offset: true }).optional(),
          after: z.iso.datetime({ offset: true }).optional(),
          with_content: z.stringbool().optional(),
        }),
      },
      responses: { 200: svixJson(svixListSchema(svixEndpointMessageOutSchema), "A page of messages"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, endpoint_id } = c.req.valid("param");
      const query = c.req.valid("query");
      const endpoint = await getEndpoint(c.var.ctx, app_id, endpoint_id);
      const { rows, nextCursor } = await listDeliveries(c.var.ctx, app_id, {
        limit: query.limit,
        cursor: query.iterator,
        endpointId: endpoint.id,
        status: query.status === undefined ? undefined : DELIVERY_STATUS_OF[query.status],
        before: query.before,
        after: query.after,
      });
      const events = new Map(
        (
          await eventsByIds(
            c.var.ctx,
            app_id,
            rows.map((row) => row.eventId),
          )
        ).map((row) => [row.id, row]),
      );
      const data = rows.flatMap((delivery) => {
        const event = events.get(delivery.eventId);
        return event ? [endpointMessageOut(event, delivery, query.with_content ?? true)] : [];
      });
      return c.json(listOut(data, nextCursor), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
      tags,
      summary: "Get one attempt of a message",
      security: bearerSecurity,
      request: {
        params: msgParams.extend({
          attempt_id: z
            .string()
            .min(1)
            .max(100)
            .meta({ param: { name: "attempt_id", in: "path" } }),
        }),
      },
      responses: { 200: svixJson(svixMessageAttemptOutSchema, "The attempt"), ...svixErrorResponses },
    }),
    async (c) => {
      const { app_id, msg_id, attempt_id } = c.req.valid("param");
      return c.json(attemptOut(await getAttempt(c.var.ctx, app_id, msg_id, attempt_id)), 200);
    },
  );
}
