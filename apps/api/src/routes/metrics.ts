import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { z } from "zod";
import type { AppEnv } from "../deps.ts";
import type { ApiMetrics } from "../metrics.ts";

/**
 * Unauthenticated, like /healthz: Prometheus scrapers rarely carry tokens, and
 * the numbers are cluster-wide counts with no tenant ids, URLs or payloads.
 * Operators who expose the API publicly keep /metrics behind their firewall.
 */
export function metricsRoutes(app: OpenAPIHono<AppEnv>, metrics: ApiMetrics) {
  app.openapi(
    createRoute({
      method: "get",
      path: "/metrics",
      tags: ["Operations"],
      summary: "Prometheus metrics",
      description:
        "HTTP requests by route and status, events published, delivery jobs by queue state and the age of the oldest due delivery. " +
        "No authentication: keep it behind your firewall.",
      responses: {
        200: {
          description: "Prometheus text exposition format",
          content: {
            "text/plain": {
              schema: z.string().meta({
                example: '# TYPE herald_queue_jobs gauge\nherald_queue_jobs{state="waiting"} 0\n',
              }),
            },
          },
        },
      },
    }),
    async (c) => c.text(await metrics.registry.metrics(), 200, { "content-type": metrics.registry.contentType }),
  );
}
