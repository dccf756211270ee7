/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import { readFileSync } from "node:fs";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { type Context, Hono } from "hono";
import { limitBody } from "../body-limit.ts";
import type { AppDeps, AppEnv } from "../deps.ts";
import { errorAnswer, RETRY_AFTER_SECONDS } from "../errors.ts";
import { listTenants, resolveTenant } from "../services/tenants.ts";
import { catalogRoutes } from "./catalog.tsx";
import { dashboardRoutes } from "./dashboard.tsx";
import { deliveryRoutes } from "./deliveries.tsx";
import type { UiEnv } from "./env.ts";
import { ErrorPage, pageContext, render, tenantPath } from "./render.tsx";
import { endSession, requireSession } from "./session.ts";
import { signInRoutes } from "./sign-in.tsx";
import { tenantRoutes } from "./tenants.tsx";
import { webhookRoutes } from "./webhooks.tsx";

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

function asset(name: string): string {
  return readFileSync(new URL(`./assets/${name}`, import.meta.url), "utf8");
}

/**
 * The console at /ui: server-rendered pages that call the same services as
 * the API, with the signed-in admin or tenant as the principal.
 */
export function consoleRoutes(app: OpenAPIHono<AppEnv>, deps: AppDeps) {
  const ui = new Hono<UiEnv>();
  const css = asset("console.css");
  const js = asset("console.js");

  ui.use(async (c, next) => {
    await next();
    c.header("content-security-policy", CONTENT_SECURITY_POLICY);
    c.header("x-content-type-options", "nosniff");
    c.header("x-frame-options", "DENY");
    // Portal links carry their token in the path; never leak it to another site.
    c.header("referrer-policy", "no-referrer");
    if (!c.res.headers.has("cache-control")) c.header("cache-control", "no-store");
  });
  ui.get("/assets/console.css", (c) =>
    c.body(css, 200, { "content-type": "text/css; charset=utf-8", "cache-control": "public, max-age=300" }),
  );
  ui.get("/assets/console.js", (c) =>
    c.body(js, 200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=300" }),
  );

  // Console forms are small; anything bigger is not a person typing.
  ui.use(limitBody(256 * 1024, (c) => c.text("That form is too large.", 413)));
  signInRoutes(ui, deps);
  ui.use(requireSession(deps));

  ui.post("/sign-out", async (c) => {
    await endSession(c, deps);
    return c.redirect("/ui/sign-in", 303);
  });

  // The admin's tenant picker on every page.
  ui.use(async (c, next) => {
    if (c.var.session.kind === "admin") {
      const { rows } = await listTenants(c.var.ctx, { limit: 250 });
      c.set(
        "tenants",
        rows.map((t) => ({ id: t.id, name: t.name })),
      );
    }
    await next();
  });
  ui.use("/t/:tenant/*", async (c, next) => {
    const tenant = await resolveTenant(c.var.ctx, c.req.param("tenant"));
    c.set("tenant", { id: tenant.id, name: tenant.name });
    await next();
  });

  const home = (c: Context<UiEnv>) => {
    const { session } = c.var;
    if (session.kind === "tenant" && session.tenantId) {
      return c.redirect(tenantPath(session.tenantId, session.portal ? "/webhooks" : "/dashboard"), 303);
    }
    return c.redirect("/ui/dashboard", 303);
  };
  ui.get("/", home);
  ui.get("/go", (c) => {
    const tenant = c.req.query("tenant");
    return tenant ? c.redirect(tenantPath(tenant, "/webhooks"), 303) : c.redirect("/ui/tenants", 303);
  });
  ui.use("/dashboard", async (c, next) => (c.var.session.kind === "tenant" ? home(c) : next()));

  dashboardRoutes(ui);
  tenantRoutes(ui);
  webhookRoutes(ui);
  deliveryRoutes(ui);
  catalogRoutes(ui);

  ui.all("*", (c) =>
    render(
      c,
      <ErrorPage page={pageContext(c)} status={404} title="Page not found" detail="There is no console page at this address." />,
      404,
    ),
  );

  ui.onError((error, c) => {
    const page = c.var.session ? pageContext(c) : undefined;
    const requestId = c.get("requestId");
    const answer = errorAnswer(error, deps.logger, { requestId, method: c.req.method, path: c.req.path });
    if (answer.retryAfterSeconds) c.header("retry-after", String(answer.retryAfterSeconds));
    if (answer.status < 500) {
      const title = answer.status === 404 ? "Not found" : answer.status === 403 ? "Not allowed" : "That did not work";
      return render(c, <ErrorPage page={page} status={answer.status} title={title} detail={answer.detail} />, answer.status as 400);
    }
    if (answer.code === "service_unavailable") {
      c.header("retry-after", String(RETRY_AFTER_SECONDS));
      return render(
        c,
        <ErrorPage
          page={page}
          status={503}
          title="Temporarily unavailable"
          detail={`${answer.detail}. Reload the page in a few seconds.`}
        />,
        503,
      );
    }
    return render(c, <ErrorPage page={page} status={500} title="Something went wrong" detail={answer.detail} />, 500);
  });

  // `/ui/` is `/ui`: the app ignores a trailing slash (createApp's `strict: false`), and every link here is absolute.
  app.route("/ui", ui);
  app.get("/", (c) => c.redirect("/ui", 302));
}
