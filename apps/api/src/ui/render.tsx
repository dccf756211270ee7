/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Context } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { UiEnv } from "./env.ts";
import { Document, Layout, type PageContext } from "./layout.tsx";

/** Sends a page; JSX escapes every interpolated value, so user data is always text. */
export function render(c: Context, node: HtmlEscapedString | Promise<HtmlEscapedString>, status: ContentfulStatusCode = 200) {
  return c.html(html`<!DOCTYPE html>${node}`, status);
}

export function pageContext(c: Context<UiEnv>): PageContext {
  return { session: c.var.session, csrf: c.var.csrf, tenant: c.var.tenant, tenants: c.var.tenants };
}

/** Where a tenant's pages live. */
export function tenantPath(tenantId: string, rest = ""): string {
  return `/ui/t/${encodeURIComponent(tenantId)}${rest}`;
}

/** Messages shown after a redirect; the query only names one, so nothing user-supplied is echoed. */
export const FLASHES: Record<string, string> = {
  created: "Webhook created.",
  saved: "Changes saved.",
  deleted: "Webhook deleted.",
  enabled: "Webhook enabled.",
  disabled: "Webhook disabled.",
  rotated: "Signing secret rotated. The previous secret keeps signing during the grace period.",
  retried: "Delivery queued to be sent again now.",
  "type-created": "Event type added to the catalog.",
  "type-saved": "Event type saved.",
};

export function flashOf(c: Context): string | undefined {
  const key = c.req.query("flash");
  return key ? FLASHES[key] : undefined;
}

export function ErrorPage({ page, status, title, detail }: { page?: PageContext; status: number; title: string; detail: string }) {
  const body = (
    <div class="panel">
      <h1>{title}</h1>
      <p>{detail}</p>
      <p class="muted small">HTTP {status}</p>
      <p>
        <a href="/ui">Back to the console</a>
      </p>
    </div>
  );
  return page ? (
    <Layout page={page} title={title} section="dashboard">
      {body}
    </Layout>
  ) : (
    <Document title={title}>
      <main id="main">{body}</main>
    </Document>
  );
}
