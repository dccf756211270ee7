/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Child } from "hono/jsx";
import type { Session } from "./session.ts";

export type Section = "dashboard" | "webhooks" | "deliveries" | "catalog" | "tenants";

export interface PageContext {
  session: Session;
  csrf: string;
  /** The tenant the page is about, when it is about one. */
  tenant?: { id: string; name: string } | undefined;
  /** The admin's tenant picker; absent for tenant sessions. */
  tenants?: { id: string; name: string }[] | undefined;
}

export function CsrfField({ csrf }: { csrf: string }) {
  return <input type="hidden" name="_csrf" value={csrf} />;
}

function NavLink({ href, here, children }: { href: string; here: boolean; children: Child }) {
  return (
    <a href={href} aria-current={here ? "page" : undefined}>
      {children}
    </a>
  );
}

export function Document({ title, children }: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · Herald`}</title>
        <link rel="stylesheet" href="/ui/assets/console.css" />
        <script src="/ui/assets/console.js" defer />
      </head>
      <body>{children}</body>
    </html>
  );
}

/** The frame of every signed-in page: navigation, tenant picker, sign out. */
export function Layout({ page, title, section, children }: { page: PageContext; title: string; section: Section; children: Child }) {
  const { session, tenant, tenants } = page;
  const base = tenant ? `/ui/t/${encodeURIComponent(tenant.id)}` : undefined;
  const isAdmin = session.kind === "admin";
  return (
    <Document title={title}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/ui">
          Herald
        </a>
        <nav aria-label="Main">
          {!session.portal && (
            <NavLink href={base ? `${base}/dashboard` : "/ui/dashboard"} here={section === "dashboard"}>
              Dashboard
            </NavLink>
          )}
          <NavLink href={base ? `${base}/webhooks` : "/ui/tenants"} here={section === "webhooks"}>
            Webhooks
          </NavLink>
          <NavLink href={base ? `${base}/deliveries` : "/ui/tenants"} here={section === "deliveries"}>
            Delivery log
          </NavLink>
          <NavLink href={base ? `${base}/catalog` : "/ui/catalog"} here={section === "catalog"}>
            Event catalog
          </NavLink>
          {isAdmin && (
            <NavLink href="/ui/tenants" here={section === "tenants"}>
              Tenants
            </NavLink>
          )}
        </nav>
        <div class="who">
          {isAdmin && tenants && (
            <form method="get" action="/ui/go" class="row">
              <label for="tenant-picker" class="skip">
                Tenant
              </label>
              <select id="tenant-picker" name="tenant" data-autosubmit>
                {!tenant && <option value="">Choose a tenant…</option>}
                {tenants.map((t) => (
                  <option value={t.id} selected={t.id === tenant?.id}>
                    {t.name}
                  </option>
                ))}
              </select>
              <noscript>
                <button type="submit" class="secondary">
                  Go
                </button>
              </noscript>
            </form>
          )}
          <span>{isAdmin ? "Admin" : `${tenant?.name ?? "Tenant"}${session.portal ? " (portal)" : ""}`}</span>
          <form method="post" action="/ui/sign-out">
            <CsrfField csrf={page.csrf} />
            <button type="submit" class="secondary">
              Sign out
            </button>
          </form>
        </div>
      </header>
      <main id="main">{children}</main>
    </Document>
  );
}

/** A form field's errors, in the API's own words; the input points at it with aria-describedby. */
export function FieldErrors({ id, messages }: { id: string; messages: string[] | undefined }) {
  if (!messages?.length) return null;
  return (
    <div class="error" id={id}>
      {messages.join("; ")}
    </div>
  );
}

export function Flash({ kind, children }: { kind: "ok" | "bad"; children: Child }) {
  return (
    <div class={`flash ${kind}`} role={kind === "bad" ? "alert" : "status"}>
      {children}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge ${status}`}>{status}</span>;
}
