import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppDeps, AppEnv } from "../deps.ts";
import { jsonResponse } from "../openapi.ts";

const tags = ["Operations"];
const liveSchema = z.object({ status: z.literal("ok") }).meta({ id: "Liveness", example: { status: "ok" } });
const check = z.enum(["ok", "unreachable"]);
const readySchema = z
  .object({ status: z.enum(["ok", "unavailable"]), postgres: check, redis: check })
  .meta({ id: "Readiness", example: { status: "ok", postgres: "ok", redis: "ok" } });

/** Liveness needs nothing; readiness needs PostgreSQL and Redis to answer. Both are open, for load balancers. */
export function healthRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/healthz",
      tags,
      summary: "Liveness: the process is up",
      responses: { 200: jsonResponse(liveSchema, "The process answers") },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/readyz",
      tags,
      summary: "Readiness: PostgreSQL and Redis are reachable",
      responses: {
        200: jsonResponse(readySchema, "Ready to serve"),
        503: jsonResponse(readySchema, "A dependency is unreachable: `postgres` or `redis` says `unreachable`"),
      },
    }),
    async (c) => {
      const checks = await Promise.allSettled([deps.sql`select 1`, deps.redis.ping()]);
      const [postgres, redis] = checks.map((result) => (result.status === "fulfilled" ? ("ok" as const) : ("unreachable" as const)));
      const ready = postgres === "ok" && redis === "ok";
      const body = {
        status: ready ? ("ok" as const) : ("unavailable" as const),
        postgres: postgres ?? "unreachable",
        redis: redis ?? "unreachable",
      };
      return ready ? c.json(body, 200) : c.json(body, 503);
    },
  );
}
