import { randomUUID } from "node:crypto";
import { trace } from "@herald/telemetry";
import { OpenAPIHono } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import { bearerAuth } from "./auth.ts";
import { limitBody } from "./body-limit.ts";
import type { AppDeps, AppEnv } from "./deps.ts";
import { ApiError, errorAnswer, fieldErrors, problemBody, RETRY_AFTER_SECONDS } from "./errors.ts";
import { createApiMetrics } from "./metrics.ts";
import { apiKeyRoutes } from "./routes/api-keys.ts";
import { deliveryRoutes } from "./routes/deliveries.ts";
import { docsRoutes } from "./routes/docs.ts";
import { endpointRoutes } from "./routes/endpoints.ts";
import { eventTypeRoutes } from "./routes/event-types.ts";
import { eventRoutes } from "./routes/events.ts";
import { healthRoutes } from "./routes/health.ts";
import { metricsRoutes } from "./routes/metrics.ts";
import { portalLinkRoutes } from "./routes/portal-links.ts";
import { sessionRoutes } from "./routes/sessions.ts";
import { tenantRoutes } from "./routes/tenants.ts";
import { PORTAL_PATH } from "./services/portal-links.ts";
import { svixError } from "./svix/errors.ts";
import { SVIX_PREFIX, svixRoutes } from "./svix/index.ts";
import { consoleRoutes } from "./ui/index.tsx";

/** A request's path as logs and traces keep it: a portal link's token (its last segment) is a credential, so not that. */
export function loggablePath(path: string): string {
  return path.startsWith(PORTAL_PATH) ? `${PORTAL_PATH}REDACTED` : path;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH"]);

/** Builds the whole HTTP API from its dependencies; opens nothing itself. */
export function createApp(deps: AppDeps) {
  const app = new OpenAPIHono<AppEnv>({
    // `/api/v1/app/` is `/api/v1/app`: Svix's documentation writes its paths with a trailing slash, and so do
    // clients built from it.
    strict: false,
    defaultHook: (result) => {
      if (!result.success) {
        const errors = fieldErrors(result.error.issues, result.target === "json" ? undefined : result.target);
        throw new ApiError("validation_failed", errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
      }
    },
  });

  if (deps.tracing) {
    app.use(deps.tracing);
    // A portal link's token is a credential: the server span's url.full, which a trace backend keeps, goes without it.
    app.use(`${PORTAL_PATH}*`, async (c, next) => {
      trace.getActiveSpan()?.setAttribute("url.full", new URL(loggablePath(c.req.path), c.req.url).toString());
      await next();
    });
  }
  app.use(async (c, next) => {
    const incoming = c.req.header("x-request-id");
    const requestId = incoming && /^[\w.-]{1,100}$/.test(incoming) ? incoming : randomUUID();
    c.set("requestId", requestId);
    c.header("x-request-id", requestId);
    const started = performance.now();
    await next();
    deps.logger.debug(
      {
        requestId,
        method: c.req.method,
        path: loggablePath(c.req.path),
        status: c.res.status,
        ms: Math.round(performance.now() - started),
      },
      "request",
    );
  });

  const metrics = createApiMetrics(deps);
  app.use(metrics.middleware);

  // The envelope around the payload is small; the limit is on what the caller sends.
  const singleLimit = limitBody(deps.config.HERALD_MAX_PAYLOAD_BYTES + 16 * 1024, () => {
    throw new ApiError("payload_too_large", `the body is larger than ${deps.config.HERALD_MAX_PAYLOAD_BYTES} bytes`);
  });
  // A batch carries up to 1000 payloads; each is still held to HERALD_MAX_PAYLOAD_BYTES by the publish service.
  const batchLimit = limitBody(deps.config.HERALD_MAX_BATCH_BYTES, () => {
    throw new ApiError("payload_too_large", `the batch is larger than ${deps.config.HERALD_MAX_BATCH_BYTES} bytes`);
  });
  app.use("/v1/*", (c, next) => (c.req.path.endsWith("/events/batch") ? batchLimit(c, next) : singleLimit(c, next)));
  app.use("/api/v1/*", singleLimit);
  const requireJson = createMiddleware<AppEnv>(async (c, next) => {
    // A POST without a body (e.g. a retry) has no content type to check.
    const bodyless = !c.req.header("content-type") && !c.req.header("transfer-encoding") && (c.req.header("content-length") ?? "0") === "0";
    if (BODY_METHODS.has(c.req.method) && !bodyless) {
      const type = c.req.header("content-type") ?? "";
      if (!/^application\/(.+\+)?json\b/i.test(type)) {
        throw new ApiError("unsupported_media_type", "send the body as application/json");
      }
    }
    await next();
  });
  app.use("/v1/*", requireJson);
  app.use("/api/v1/*", requireJson);
  const auth = bearerAuth(deps);
  app.use("/v1/*", auth);
  // Svix's health check is open, as Svix's own is.
  app.use("/api/v1/*", (c, next) => (c.req.path === "/api/v1/health" ? next() : auth(c, next)));

  healthRoutes(app, deps);
  tenantRoutes(app);
  apiKeyRoutes(app);
  eventTypeRoutes(app);
  endpointRoutes(app);
  portalLinkRoutes(app);
  sessionRoutes(app);
  eventRoutes(app, metrics);
  deliveryRoutes(app);
  metricsRoutes(app, metrics);
  docsRoutes(app);
  svixRoutes(app, deps, metrics);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "The admin token from HERALD_ADMIN_TOKEN, or a tenant API key (hk_…).",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Herald API",
      version: "0.1.0",
      description: "Publish events once; Herald delivers signed webhooks to every subscribed endpoint.",
    },
  });

  consoleRoutes(app, deps);

  app.notFound((c) => {
    const detail = `no route for ${c.req.method} ${c.req.path}`;
    if (c.req.path.startsWith(SVIX_PREFIX)) return c.json(svixError("not_found", detail).body, 404);
    return c.json(problemBody("not_found", detail, c.get("requestId")), 404, { "content-type": "application/problem+json" });
  });

  app.onError((error, c) => {
    const requestId = c.get("requestId");
    const answer = errorAnswer(error, deps.logger, { requestId, method: c.req.method, path: loggablePath(c.req.path) });
    if (answer.code === "service_unavailable") c.header("retry-after", String(RETRY_AFTER_SECONDS));
    if (answer.retryAfterSeconds) c.header("retry-after", String(answer.retryAfterSeconds));
    if (c.req.path.startsWith(SVIX_PREFIX)) {
      const svix = svixError(answer.code, answer.detail, answer.errors);
      return c.json(svix.body, svix.status as 400);
    }
    const body = problemBody(answer.code, answer.detail, requestId, answer.errors);
    return c.json(body, body.status as 400, { "content-type": "application/problem+json" });
  });

  return app;
}

export type App = ReturnType<typeof createApp>;
