import { svixHttpErrorSchema } from "@herald/schema";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../deps.ts";
import type { ApiMetrics } from "../metrics.ts";
import { bearerSecurity } from "../openapi.ts";
import { applicationRoutes } from "./applications.ts";
import { attemptRoutes } from "./attempts.ts";
import { endpointRoutes } from "./endpoints.ts";
import { notImplemented } from "./errors.ts";
import { eventTypeRoutes } from "./event-types.ts";
import { svixHealthRoutes } from "./health.ts";
import { messageRoutes } from "./messages.ts";
import { svixJson } from "./openapi.ts";

/** Where Svix's API lives; the prefix that selects Svix's error shapes. */
export const SVIX_PREFIX = "/api/v1/";

/** Svix operations Herald does not offer, answered 501 by name rather than a bare 404. */
const UNSUPPORTED: [method: string, path: string, what: string][] = [
  ["POST", "/api/v1/app/{app_id}/msg/precheck/active", "message precheck"],
  ["DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/content", "expunging message content (HERALD_RETENTION removes old events)"],
  ["POST", "/api/v1/app/{app_id}/msg/expunge-all-contents", "expunging message content (HERALD_RETENTION removes old events)"],
  ["DELETE", "/api/v1/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content", "expunging attempt content"],
  ["POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/replay-missing", "replay-missing (use recover)"],
  ["POST", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/bulk-replay", "bulk-replay (use recover)"],
  ["GET", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", "transformations"],
  ["PATCH", "/api/v1/app/{app_id}/endpoint/{endpoint_id}/transformation", "transformations"],
  ["POST", "/api/v1/event-type/import/openapi", "importing event types from OpenAPI"],
  ["POST", "/api/v1/auth/app-portal-access/{app_id}", "Svix's app portal (use Herald's portal links)"],
  ["POST", "/api/v1/auth/dashboard-access/{app_id}", "Svix's app portal (use Herald's portal links)"],
  ["POST", "/api/v1/stats/usage/app", "usage statistics"],
  ["PUT", "/api/v1/stats/usage/event-types", "usage statistics"],
];

/** Svix's REST API under /api/v1, translated onto Herald's services. */
export function svixRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps, metrics: ApiMetrics) {
  svixHealthRoutes(app, deps);
  for (const [method, path, what] of UNSUPPORTED) {
    const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1] as string);
    const params = z.object(Object.fromEntries(names.map((name) => [name, z.string().meta({ param: { name, in: "path" } })])));
    app.openapi(
      createRoute({
        method: method.toLowerCase() as "get",
        path,
        tags: ["Svix: not supported"],
        summary: `Not supported by Herald: ${what}`,
        security: bearerSecurity,
        ...(names.length > 0 ? { request: { params } } : {}),
        responses: { 501: svixJson(svixHttpErrorSchema, "Herald does not offer this Svix operation") },
      }),
      (c) => {
        const { status, body } = notImplemented(what);
        return c.json(body, status);
      },
    );
  }
  applicationRoutes(app);
  eventTypeRoutes(app);
  endpointRoutes(app);
  messageRoutes(app, metrics);
  attemptRoutes(app);
}
