/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Tenant } from "@herald/schema";
import type { Context, Hono } from "hono";
import { ApiError } from "../errors.ts";
import { createPortalLink, portalLinkUrl } from "../services/portal-links.ts";
import { listTenants } from "../services/tenants.ts";
import type { UiEnv } from "./env.ts";
import { formatTime } from "./format.ts";
import { CsrfField, Flash, Layout, type PageContext } from "./layout.tsx";
import { pageContext, render, tenantPath } from "./render.tsx";

const PORTAL_LINK_SECONDS = 3600;

function TenantsPage({
  page,
  tenants,
  nextCursor,
  link,
}: {
  page: PageContext;
  tenants: Tenant[];
  nextCursor: string | null;
  link?: { tenant: string; url: string; expiresAt: Date } | undefined;
}) {
  return (
    <Layout page={page} title="Tenants" section="tenants">
      <h1>Tenants</h1>
      {link && (
        <Flash kind="ok">
          Portal link for {link.tenant} (works until {formatTime(link.expiresAt)}):{" "}
          <code class="secret" id="portal-link">
            {link.url}
          </code>{" "}
          <button type="button" class="secondary" data-copy="portal-link" hidden>
            Copy
          </button>
        </Flash>
      )}
      {tenants.length === 0 ? (
        <div class="panel">No tenants yet. Create one with POST /v1/tenants.</div>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">uid</th>
                <th scope="col">Created</th>
                <th scope="col">Open</th>
              </tr>
            </thead>
            <tbody>
              {tenants.map((tenant) => (
                <tr>
                  <td data-label="Tenant">
                    <a href={tenantPath(tenant.id, "/webhooks")}>{tenant.name}</a>
                    <div class="small muted">
                      <code>{tenant.id}</code>
                    </div>
                  </td>
                  <td data-label="uid">{tenant.uid ?? "—"}</td>
                  <td data-label="Created">{formatTime(tenant.createdAt)}</td>
                  <td data-label="Open">
                    <div class="actions">
                      <a class="button secondary" href={tenantPath(tenant.id, "/webhooks")}>
                        Webhooks
                      </a>
                      <a class="button secondary" href={tenantPath(tenant.id, "/deliveries")}>
                        Delivery log
                      </a>
                      <form method="post" action={tenantPath(tenant.id, "/portal-link")}>
                        <CsrfField csrf={page.csrf} />
                        <button type="submit" class="secondary" aria-label={`Portal link for ${tenant.name}`}>
                          Portal link
                        </button>
                      </form>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {nextCursor && (
        <nav class="pager" aria-label="Pages">
          <a class="button secondary" href={`/ui/tenants?cursor=${encodeURIComponent(nextCursor)}`}>
            Next page
          </a>
        </nav>
      )}
    </Layout>
  );
}

async function renderTenants(c: Context<UiEnv>, link?: { tenant: string; url: string; expiresAt: Date }) {
  const { rows, nextCursor } = await listTenants(c.var.ctx, { limit: 50, cursor: c.req.query("cursor") || undefined });
  return render(c, <TenantsPage page={pageContext(c)} tenants={rows} nextCursor={nextCursor} link={link} />);
}

export function tenantRoutes(ui: Hono<UiEnv>) {
  ui.get("/tenants", (c) => renderTenants(c));

  ui.post("/t/:tenant/portal-link", async (c) => {
    const tenant = c.var.tenant as { id: string; name: string };
    // A portal visitor must not be able to extend their own access by minting new links.
    if (c.var.session.portal) throw new ApiError("forbidden", "portal sessions cannot create portal links");
    const link = await createPortalLink(c.var.ctx, tenant.id, { expiresInSeconds: PORTAL_LINK_SECONDS });
    const url = portalLinkUrl(link.token, c.req.url);
    return renderTenants(c, { tenant: tenant.name, url, expiresAt: link.expiresAt });
  });
}
