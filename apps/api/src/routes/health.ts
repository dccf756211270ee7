import type { Hono } from "hono";
import type { AppDeps, AppEnv } from "../deps.ts";

/** Liveness needs nothing; readiness needs PostgreSQL and Redis to answer. */
export function healthRoutes(app: Hono<AppEnv>, deps: AppDeps) {
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const checks = await Promise.allSettled([deps.sql`select 1`, deps.redis.ping()]);
    const [postgres, redis] = checks.map((check) => (check.status === "fulfilled" ? "ok" : "unreachable"));
    const ready = postgres === "ok" && redis === "ok";
    return c.json({ status: ready ? "ok" : "unavailable", postgres, redis }, ready ? 200 : 503);
  });
}
