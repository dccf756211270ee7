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

/**
 * How long readiness waits for each dependency. A load balancer's probe
 * usually times out after a second; an answer it gets is worth more than one
 * it gives up on, so a dependency that has not answered by then is
 * `unreachable`.
 */
export const READY_CHECK_MS = 800;

export function answersWithin(check: () => Promise<unknown>, ms: number): Promise<"ok" | "unreachable"> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"unreachable">((resolve) => {
    timer = setTimeout(() => resolve("unreachable"), ms);
  });
  const answered = check().then(
    () => "ok" as const,
    () => "unreachable" as const,
  );
  return Promise.race([answered, late]).finally(() => clearTimeout(timer));
}

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
      description: `Answers within about a second: a dependency that has not answered within ${READY_CHECK_MS} ms is \`unreachable\`.`,
      responses: {
        200: jsonResponse(readySchema, "Ready to serve"),
        503: jsonResponse(readySchema, "A dependency is unreachable: `postgres` or `redis` says `unreachable`"),
      },
    }),
    async (c) => {
      const [postgres, redis] = await Promise.all([
        answersWithin(() => deps.sql`select 1`, READY_CHECK_MS),
        answersWithin(() => deps.redis.ping(), READY_CHECK_MS),
      ]);
      const ready = postgres === "ok" && redis === "ok";
      const body = { status: ready ? ("ok" as const) : ("unavailable" as const), postgres, redis };
      return ready ? c.json(body, 200) : c.json(body, 503);
    },
  );
}
