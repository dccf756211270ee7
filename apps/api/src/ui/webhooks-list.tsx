/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Endpoint } from "@herald/schema";
import type { Child } from "hono/jsx";
import { ago, formatTime, successRate } from "./format.ts";
import { CsrfField, Flash, Layout, type PageContext } from "./layout.tsx";
import { tenantPath } from "./render.tsx";

export function EventTags({ names }: { names: string[] }) {
  if (names.length === 0) return <span class="badge">All events</span>;
  return (
    <span class="tags">
      {names.map((name) => (
        <span class="tag">{name}</span>
      ))}
    </span>
  );
}

export function EnabledBadge({ endpoint }: { endpoint: Endpoint }) {
  return endpoint.disabled ? (
    <>
      <span class="badge disabled">disabled</span>
      {endpoint.disabledReason && <div class="small muted">{endpoint.disabledReason}</div>}
    </>
  ) : (
    <span class="badge enabled">enabled</span>
  );
}

export function TestButton({
  csrf,
  action,
  from,
  label = "Send Test Event",
}: {
  csrf: string;
  action: string;
  from: string;
  label?: string;
}) {
  return (
    <form method="post" action={action}>
      <CsrfField csrf={csrf} />
      <input type="hidden" name="from" value={from} />
      <button type="submit" class="secondary">
        {label}
      </button>
    </form>
  );
}

function Row({ page, tenantId, endpoint }: { page: PageContext; tenantId: string; endpoint: Endpoint }) {
  const base = tenantPath(tenantId, `/webhooks/${encodeURIComponent(endpoint.id)}`);
  return (
    <tr>
      <td data-label="Name">
        <a href={base}>{endpoint.name}</a>
        <div class="url">{endpoint.url}</div>
      </td>
      <td data-label="Events">
        <EventTags names={endpoint.eventTypes} />
      </td>
      <td data-label="Status">
        <EnabledBadge endpoint={endpoint} />
      </td>
      <td data-label="Sent" class="num">
        {endpoint.sentCount}
      </td>
      <td data-label="Failed" class="num">
        {endpoint.failedCount}
      </td>
      <td data-label="Success rate" class="num">
        {successRate(endpoint.succeededCount, endpoint.sentCount)}
      </td>
      <td data-label="Last success">
        <span title={formatTime(endpoint.lastSuccessAt)}>{ago(endpoint.lastSuccessAt)}</span>
      </td>
      <td data-label="Last failure">
        <span title={formatTime(endpoint.lastFailureAt)}>{ago(endpoint.lastFailureAt)}</span>
      </td>
      <td data-label="Actions">
        <div class="actions">
          <TestButton csrf={page.csrf} action={`${base}/test`} from="list" />
          <form method="post" action={`${base}/enabled`}>
            <CsrfField csrf={page.csrf} />
            <input type="hidden" name="enabled" value={endpoint.disabled ? "true" : "false"} />
            <button type="submit" class="secondary" aria-label={`${endpoint.disabled ? "Enable" : "Disable"} ${endpoint.name}`}>
              {endpoint.disabled ? "Enable" : "Disable"}
            </button>
          </form>
          <a class="button secondary" href={base} aria-label={`Edit ${endpoint.name}`}>
            Edit
          </a>
          <a class="button danger" href={`${base}/delete`} aria-label={`Delete ${endpoint.name}`}>
            Delete
          </a>
        </div>
      </td>
    </tr>
  );
}

export function WebhooksPage({
  page,
  tenantId,
  rows,
  nextCursor,
  query,
  paged,
  flash,
  dialog,
}: {
  page: PageContext;
  tenantId: string;
  rows: Endpoint[];
  nextCursor: string | null;
  query: string;
  /** Showing a page after the first. */
  paged: boolean;
  flash?: string | undefined;
  dialog?: Child;
}) {
  const listPath = tenantPath(tenantId, "/webhooks");
  const more = nextCursor ? `${listPath}?${new URLSearchParams({ ...(query ? { q: query } : {}), cursor: nextCursor })}` : undefined;
  return (
    <Layout page={page} title="Webhooks" section="webhooks">
      <div class="spread">
        <h1>Webhooks{page.tenant ? ` · ${page.tenant.name}` : ""}</h1>
        <a class="button" href={`${listPath}/new`}>
          Add New Webhook
        </a>
      </div>
      {flash && <Flash kind="ok">{flash}</Flash>}
      <form method="get" action={listPath} class="row panel">
        <div>
          <label for="q">Search by name or URL</label>
          <input type="search" id="q" name="q" value={query} />
        </div>
        <button type="submit" class="secondary">
          Search
        </button>
        {query && <a href={listPath}>Clear</a>}
      </form>
      {rows.length === 0 ? (
        <div class="panel">{query ? "No webhook matches that search." : "No webhooks yet. Add one to start receiving events."}</div>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <caption class="skip">Webhooks</caption>
            <thead>
              <tr>
                <th scope="col">Name and URL</th>
                <th scope="col">Events</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Sent
                </th>
                <th scope="col" class="num">
                  Failed
                </th>
                <th scope="col" class="num">
                  Success
                </th>
                <th scope="col">Last success</th>
                <th scope="col">Last failure</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((endpoint) => (
                <Row page={page} tenantId={tenantId} endpoint={endpoint} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {paged && (
          <a class="button secondary" href={query ? `${listPath}?${new URLSearchParams({ q: query })}` : listPath}>
            First page
          </a>
        )}
        {more && (
          <a class="button secondary" href={more}>
            Next page
          </a>
        )}
      </nav>
      {dialog}
    </Layout>
  );
}
