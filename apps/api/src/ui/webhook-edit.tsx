/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Endpoint, EventType } from "@herald/schema";
import type { Child } from "hono/jsx";
import type { EndpointFormValues } from "./endpoint-form-input.ts";
import { formatTime, successRate } from "./format.ts";
import { CsrfField, Flash, Layout, type PageContext } from "./layout.tsx";
import { tenantPath } from "./render.tsx";
import { WebhookForm } from "./webhook-form.tsx";
import { EnabledBadge, TestButton } from "./webhooks-list.tsx";

export function NewWebhookPage({
  page,
  tenantId,
  values,
  errors,
  formError,
  catalog,
}: {
  page: PageContext;
  tenantId: string;
  values: EndpointFormValues;
  errors: Record<string, string[]>;
  formError?: string | undefined;
  catalog: EventType[];
}) {
  return (
    <Layout page={page} title="Add New Webhook" section="webhooks">
      <p>
        <a href={tenantPath(tenantId, "/webhooks")}>← Webhooks</a>
      </p>
      <h1>Add New Webhook</h1>
      <WebhookForm
        csrf={page.csrf}
        action={tenantPath(tenantId, "/webhooks")}
        submitLabel="Create webhook"
        values={values}
        errors={errors}
        formError={formError}
        catalog={catalog}
      />
    </Layout>
  );
}

function SecretPanel({ page, base, endpoint, show }: { page: PageContext; base: string; endpoint: Endpoint; show: boolean }) {
  return (
    <section class="panel" aria-labelledby="secret-title" id="secret">
      <h2 id="secret-title">Signing secret</h2>
      <p class="small muted">
        Receivers verify the webhook-signature header with this secret (Standard Webhooks). Rotating keeps the old secret signing for a
        grace period, so receivers can switch over without missing a delivery.
      </p>
      <div class="row">
        {show ? (
          <>
            <code class="secret" id="secret-value">
              {endpoint.secret}
            </code>
            <button type="button" class="secondary" data-copy="secret-value" hidden>
              Copy
            </button>
            <a class="button secondary" href={`${base}#secret`}>
              Hide
            </a>
          </>
        ) : (
          <a class="button secondary" href={`${base}?secret=show#secret`}>
            Show secret
          </a>
        )}
        <form
          method="post"
          action={`${base}/rotate`}
          data-confirm="Rotate the signing secret? The old one keeps signing during the grace period."
        >
          <CsrfField csrf={page.csrf} />
          <button type="submit" class="secondary">
            Rotate secret
          </button>
        </form>
      </div>
    </section>
  );
}

function defaultSince(): string {
  return new Date(Date.now() - 24 * 3600 * 1000).toISOString().slice(0, 16);
}

export function EditWebhookPage({
  page,
  tenantId,
  endpoint,
  values,
  errors,
  formError,
  catalog,
  showSecret,
  flash,
  problem,
  dialog,
}: {
  page: PageContext;
  tenantId: string;
  endpoint: Endpoint;
  values: EndpointFormValues;
  errors: Record<string, string[]>;
  formError?: string | undefined;
  catalog: EventType[];
  showSecret: boolean;
  flash?: string | undefined;
  problem?: string | undefined;
  dialog?: Child;
}) {
  const base = tenantPath(tenantId, `/webhooks/${encodeURIComponent(endpoint.id)}`);
  return (
    <Layout page={page} title={`Webhook ${endpoint.name}`} section="webhooks">
      <p>
        <a href={tenantPath(tenantId, "/webhooks")}>← Webhooks</a>
      </p>
      <div class="spread">
        <h1>{endpoint.name}</h1>
        <div class="actions">
          <TestButton csrf={page.csrf} action={`${base}/test`} from="edit" />
          <a class="button secondary" href={tenantPath(tenantId, `/deliveries?endpoint=${encodeURIComponent(endpoint.id)}`)}>
            Delivery log
          </a>
        </div>
      </div>
      {flash && <Flash kind="ok">{flash}</Flash>}
      {problem && <Flash kind="bad">{problem}</Flash>}
      <section class="panel" aria-label="Status">
        <dl class="facts">
          <dt>Id</dt>
          <dd>
            <code>{endpoint.id}</code>
          </dd>
          <dt>Status</dt>
          <dd>
            <EnabledBadge endpoint={endpoint} />
          </dd>
          <dt>Attempts</dt>
          <dd>
            {endpoint.sentCount === 0
              ? "none yet (test events are not counted)"
              : `${endpoint.sentCount} sent, ${endpoint.succeededCount} succeeded, ${endpoint.failedCount} failed (${successRate(endpoint.succeededCount, endpoint.sentCount)} success)`}
          </dd>
          <dt>Last success</dt>
          <dd>{formatTime(endpoint.lastSuccessAt)}</dd>
          <dt>Last failure</dt>
          <dd>{formatTime(endpoint.lastFailureAt)}</dd>
        </dl>
      </section>
      <h2>Settings</h2>
      <WebhookForm
        csrf={page.csrf}
        action={base}
        submitLabel="Save changes"
        values={values}
        errors={errors}
        formError={formError}
        catalog={catalog}
      />
      <SecretPanel page={page} base={base} endpoint={endpoint} show={showSecret} />
      <section class="panel" aria-labelledby="test-title">
        <h2 id="test-title">Send a test event</h2>
        <p class="small muted">Sends the event type's example payload now, signed like a real delivery, and shows the receiver's answer.</p>
        <form method="post" action={`${base}/test`} class="row">
          <CsrfField csrf={page.csrf} />
          <input type="hidden" name="from" value="edit" />
          <div>
            <label for="test-type">Event type</label>
            <select id="test-type" name="eventType">
              <option value="">First subscribed type</option>
              {catalog.map((type) => (
                <option value={type.name}>{type.name}</option>
              ))}
            </select>
          </div>
          <button type="submit" class="secondary">
            Send test
          </button>
        </form>
      </section>
      <section class="panel" aria-labelledby="recover-title">
        <h2 id="recover-title">Recover failed deliveries</h2>
        <p class="small muted">Sends again every failed, exhausted or held delivery to this webhook created since the time you choose.</p>
        <form method="post" action={`${base}/recover`} class="row">
          <CsrfField csrf={page.csrf} />
          <div>
            <label for="since">Recover failed since (UTC)</label>
            <input type="datetime-local" id="since" name="since" value={defaultSince()} required />
          </div>
          <button type="submit" class="secondary">
            Recover
          </button>
        </form>
      </section>
      <section class="panel" aria-labelledby="danger-title">
        <h2 id="danger-title">Delete</h2>
        <p class="small muted">Deleting removes the webhook and its delivery history.</p>
        <a class="button danger" href={`${base}/delete`}>
          Delete this webhook
        </a>
      </section>
      {dialog}
    </Layout>
  );
}

export function DeleteWebhookPage({ page, tenantId, endpoint }: { page: PageContext; tenantId: string; endpoint: Endpoint }) {
  const base = tenantPath(tenantId, `/webhooks/${encodeURIComponent(endpoint.id)}`);
  return (
    <Layout page={page} title="Delete webhook" section="webhooks">
      <div class="panel" role="alertdialog" aria-labelledby="delete-title" aria-describedby="delete-detail">
        <h1 id="delete-title">Delete “{endpoint.name}”?</h1>
        <p id="delete-detail">
          Herald stops sending to <span class="url">{endpoint.url}</span> and forgets its deliveries. This cannot be undone.
        </p>
        <form method="post" action={`${base}/delete`} class="actions">
          <CsrfField csrf={page.csrf} />
          <button type="submit" class="danger">
            Delete webhook
          </button>
          <a class="button secondary" href={tenantPath(tenantId, "/webhooks")}>
            Cancel
          </a>
        </form>
      </div>
    </Layout>
  );
}
