/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Attempt, Delivery, Endpoint, Event } from "@herald/schema";
import { errorInWords, formatTime, prettyJson } from "./format.ts";
import { CsrfField, Flash, Layout, type PageContext, StatusBadge } from "./layout.tsx";
import { tenantPath } from "./render.tsx";

export interface LogFilters {
  status: string;
  endpointId: string;
  eventId: string;
  after: string;
  before: string;
}

export const STATUSES = ["pending", "succeeded", "failed", "exhausted", "held"] as const;

function lastResult(delivery: Delivery): string {
  if (delivery.lastStatusCode !== null) return `HTTP ${delivery.lastStatusCode}`;
  return delivery.lastError ?? (delivery.attempts === 0 ? "not sent yet" : "no response");
}

export function DeliveryLogPage({
  page,
  tenantId,
  filters,
  rows,
  events,
  endpoints,
  nextCursor,
  paged,
}: {
  page: PageContext;
  tenantId: string;
  filters: LogFilters;
  rows: Delivery[];
  events: Map<string, Event>;
  endpoints: Endpoint[];
  nextCursor: string | null;
  paged: boolean;
}) {
  const logPath = tenantPath(tenantId, "/deliveries");
  const names = new Map(endpoints.map((endpoint) => [endpoint.id, endpoint.name]));
  const query = Object.fromEntries(
    Object.entries({
      status: filters.status,
      endpoint: filters.endpointId,
      event: filters.eventId,
      after: filters.after,
      before: filters.before,
    }).filter(([, v]) => v),
  );
  return (
    <Layout page={page} title="Delivery log" section="deliveries">
      <h1>Delivery log{page.tenant ? ` · ${page.tenant.name}` : ""}</h1>
      <form method="get" action={logPath} class="row panel" aria-label="Filters">
        <div>
          <label for="status">Status</label>
          <select id="status" name="status">
            <option value="">Any status</option>
            {STATUSES.map((status) => (
              <option value={status} selected={filters.status === status}>
                {status}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="endpoint">Webhook</label>
          <select id="endpoint" name="endpoint">
            <option value="">Any webhook</option>
            {endpoints.map((endpoint) => (
              <option value={endpoint.id} selected={filters.endpointId === endpoint.id}>
                {endpoint.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="event">Event id</label>
          <input type="text" id="event" name="event" value={filters.eventId} placeholder="evt_…" size={30} />
        </div>
        <div>
          <label for="after">From (UTC)</label>
          <input type="datetime-local" id="after" name="after" value={filters.after} />
        </div>
        <div>
          <label for="before">To (UTC)</label>
          <input type="datetime-local" id="before" name="before" value={filters.before} />
        </div>
        <button type="submit" class="secondary">
          Filter
        </button>
        {Object.keys(query).length > 0 && <a href={logPath}>Clear</a>}
      </form>
      {rows.length === 0 ? (
        <div class="panel">No deliveries match.</div>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <caption class="skip">Deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Webhook</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Last result</th>
                <th scope="col">Next attempt</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((delivery) => (
                <tr>
                  <td data-label="Time">
                    <a href={`${logPath}/${encodeURIComponent(delivery.id)}`}>{formatTime(delivery.createdAt)}</a>
                  </td>
                  <td data-label="Event">
                    <code>{events.get(delivery.eventId)?.eventType ?? delivery.eventId}</code>
                    {delivery.isTest && (
                      <>
                        {" "}
                        <span class="badge">test</span>
                      </>
                    )}
                  </td>
                  <td data-label="Webhook">{names.get(delivery.endpointId) ?? delivery.endpointId}</td>
                  <td data-label="Status">
                    <StatusBadge status={delivery.status} />
                  </td>
                  <td data-label="Attempts" class="num">
                    {delivery.attempts}
                  </td>
                  <td data-label="Last result">{lastResult(delivery)}</td>
                  <td data-label="Next attempt">{delivery.nextAttemptAt ? formatTime(delivery.nextAttemptAt) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        {paged && (
          <a class="button secondary" href={`${logPath}?${new URLSearchParams(query)}`}>
            First page
          </a>
        )}
        {nextCursor && (
          <a class="button secondary" href={`${logPath}?${new URLSearchParams({ ...query, cursor: nextCursor })}`}>
            Next page
          </a>
        )}
      </nav>
    </Layout>
  );
}

function Headers({ headers }: { headers: Record<string, string> | null }) {
  if (!headers || Object.keys(headers).length === 0) return <p class="muted small">none recorded</p>;
  return (
    <pre>
      {Object.entries(headers)
        .map(([name, value]) => `${name}: ${value}`)
        .join("\n")}
    </pre>
  );
}

function AttemptRow({ attempt }: { attempt: Attempt }) {
  const ok = attempt.errorKind === null && attempt.statusCode !== null && attempt.statusCode < 300;
  return (
    <article class="panel" aria-label={`Attempt ${attempt.attemptNumber}`}>
      <div class="spread">
        <h3>
          Attempt {attempt.attemptNumber} <span class={`badge ${ok ? "ok" : "bad"}`}>{ok ? "succeeded" : "failed"}</span>
        </h3>
        <span class="muted small">{formatTime(attempt.startedAt)}</span>
      </div>
      <dl class="facts">
        <dt>Status</dt>
        <dd>{attempt.statusCode === null ? "no response" : `HTTP ${attempt.statusCode}`}</dd>
        <dt>Latency</dt>
        <dd>{attempt.durationMs} ms</dd>
        {!ok && (
          <>
            <dt>Error</dt>
            <dd>{errorInWords(attempt.errorKind, attempt.errorMessage)}</dd>
          </>
        )}
      </dl>
      <h4 class="small">Response body (beginning)</h4>
      <pre>{attempt.responseBody || "(empty)"}</pre>
      <details>
        <summary>Request headers sent</summary>
        <Headers headers={attempt.requestHeaders ?? null} />
      </details>
      <details>
        <summary>Response headers</summary>
        <Headers headers={attempt.responseHeaders ?? null} />
      </details>
    </article>
  );
}

export function DeliveryPage({
  page,
  tenantId,
  delivery,
  attempts,
  event,
  endpoint,
  flash,
  problem,
}: {
  page: PageContext;
  tenantId: string;
  delivery: Delivery;
  attempts: Attempt[];
  event: Event;
  endpoint: Endpoint;
  flash?: string | undefined;
  problem?: string | undefined;
}) {
  const path = tenantPath(tenantId, `/deliveries/${encodeURIComponent(delivery.id)}`);
  const envelope = { type: event.eventType, timestamp: event.createdAt.toISOString(), data: JSON.parse(event.payload) };
  return (
    <Layout page={page} title={`Delivery ${delivery.id}`} section="deliveries">
      <p>
        <a href={tenantPath(tenantId, "/deliveries")}>← Delivery log</a>
      </p>
      <div class="spread">
        <h1>
          Delivery <StatusBadge status={delivery.status} />
        </h1>
        <form method="post" action={`${path}/retry`}>
          <CsrfField csrf={page.csrf} />
          {delivery.status === "succeeded" && <input type="hidden" name="force" value="true" />}
          <button type="submit">{delivery.status === "succeeded" ? "Send again" : "Retry now"}</button>
        </form>
      </div>
      {flash && <Flash kind="ok">{flash}</Flash>}
      {problem && <Flash kind="bad">{problem}</Flash>}
      <section class="panel" aria-label="Summary">
        <dl class="facts">
          <dt>Delivery id</dt>
          <dd>
            <code>{delivery.id}</code>
          </dd>
          <dt>Event</dt>
          <dd>
            <code>{event.eventType}</code> ·{" "}
            <a href={tenantPath(tenantId, `/deliveries?event=${encodeURIComponent(event.id)}`)}>
              <code>{event.id}</code>
            </a>
            {delivery.isTest && (
              <>
                {" "}
                <span class="badge">test</span>
              </>
            )}
          </dd>
          <dt>Webhook</dt>
          <dd>
            <a href={tenantPath(tenantId, `/webhooks/${encodeURIComponent(endpoint.id)}`)}>{endpoint.name}</a>{" "}
            <span class="url">{endpoint.url}</span>
          </dd>
          <dt>Attempts</dt>
          <dd>{delivery.attempts}</dd>
          <dt>Created</dt>
          <dd>{formatTime(delivery.createdAt)}</dd>
          <dt>Next attempt</dt>
          <dd>{delivery.nextAttemptAt ? formatTime(delivery.nextAttemptAt) : "none scheduled"}</dd>
          {delivery.lastError && (
            <>
              <dt>Last error</dt>
              <dd>{delivery.lastError}</dd>
            </>
          )}
        </dl>
      </section>
      <h2>Payload sent</h2>
      <pre>{prettyJson(envelope)}</pre>
      <h2>Attempts</h2>
      {attempts.length === 0 ? <div class="panel">No attempt yet.</div> : attempts.map((attempt) => <AttemptRow attempt={attempt} />)}
    </Layout>
  );
}
