import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../deps.ts";
import { answersWithin, READY_CHECK_MS } from "../routes/health.ts";
import { svixJson, svixTags } from "./openapi.ts";

const status = z.object({ status: z.enum(["OK", "ERROR"]) });
const healthSchema = z.object({ database: status, queue: status, cache: status }).meta({
  id: "SvixHealth",
  example: { database: { status: "OK" }, queue: { status: "OK" }, cache: { status: "OK" } },
});

/** Svix's health check: PostgreSQL is its database, Redis both its queue and its cache. Open, like Svix's. */
export function svixHealthRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/health",
      tags: svixTags.health,
      summary: "Health: PostgreSQL and Redis answer",
      responses: { 200: svixJson(healthSchema, "Healthy"), 503: svixJson(healthSchema, "PostgreSQL or Redis does not answer") },
    }),
    async (c) => {
      const [postgres, redis] = await Promise.all([
        answersWithin(() => deps.sql`select 1`, READY_CHECK_MS),
        answersWithin(() => deps.redis.ping(), READY_CHECK_MS),
      ]);
      const of = (check: "ok" | "unreachable") => ({ status: check === "ok" ? ("OK" as const) : ("ERROR" as const) });
      const body = { database: of(postgres), queue: of(redis), cache: of(redis) };
      return postgres === "ok" && redis === "ok" ? c.json(body, 200) : c.json(body, 503);
    },
  );
}
