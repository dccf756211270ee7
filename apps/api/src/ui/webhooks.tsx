/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Endpoint } from "@herald/schema";
import type { Context, Hono } from "hono";
import type { Child } from "hono/jsx";
import { ApiError, callerError } from "../errors.ts";
import { searchEndpoints } from "../services/console-endpoints.ts";
import { createEndpoint, deleteEndpoint, getEndpoint, listEndpoints, rotateSecret, updateEndpoint } from "../services/endpoints.ts";
import { listEventTypes } from "../services/event-types.ts";
import { recoverEndpoint } from "../services/recover.ts";
import { sendTestEvent } from "../services/test-send.ts";
import { endpointBody, errorsByField, formValues, headersText } from "./endpoint-form-input.ts";
import { field, type UiEnv } from "./env.ts";
import { flashOf, pageContext, render, tenantPath } from "./render.tsx";
import { TestDialog, type TestOutcome } from "./test-dialog.tsx";
import { DeleteWebhookPage, EditWebhookPage, NewWebhookPage } from "./webhook-edit.tsx";
import { WebhooksPage } from "./webhooks-list.tsx";

const PAGE_SIZE = 20;
type Ctx = Context<UiEnv>;

function tenantId(c: Ctx): string {
  return (c.var.tenant as { id: string }).id;
}

async function catalog(c: Ctx) {
  return (await listEventTypes(c.var.ctx, { limit: 250 })).rows;
}

async function renderList(c: Ctx, dialog?: Child) {
  const query = (c.req.query("q") ?? "").trim().slice(0, 200);
  const cursor = c.req.query("cursor") || undefined;
  const { rows, nextCursor } = query
    ? await searchEndpoints(c.var.ctx, tenantId(c), { query, limit: PAGE_SIZE, cursor })
    : await listEndpoints(c.var.ctx, tenantId(c), { limit: PAGE_SIZE, cursor });
  return render(
    c,
    <WebhooksPage
      page={pageContext(c)}
      tenantId={tenantId(c)}
      rows={rows}
      nextCursor={nextCursor}
      query={query}
      paged={Boolean(cursor)}
      flash={flashOf(c)}
      dialog={dialog}
    />,
  );
}

function valuesOf(endpoint: Endpoint) {
  return {
    name: endpoint.name,
    url: endpoint.url,
    eventTypes: endpoint.eventTypes,
    headers: headersText(endpoint.headers),
    rateLimit: endpoint.rateLimit === null ? "" : String(endpoint.rateLimit),
  };
}

async function renderEdit(
  c: Ctx,
  endpoint: Endpoint,
  extra: Partial<{
    values: ReturnType<typeof valuesOf>;
    errors: Record<string, string[]>;
    formError: string;
    problem: string;
    dialog: Child;
  }> = {},
  status: 200 | 400 | 409 | 422 = 200,
) {
  return render(
    c,
    <EditWebhookPage
      page={pageContext(c)}
      tenantId={tenantId(c)}
      endpoint={endpoint}
      values={extra.values ?? valuesOf(endpoint)}
      errors={extra.errors ?? {}}
      formError={extra.formError}
      catalog={await catalog(c)}
      showSecret={c.req.query("secret") === "show"}
      flash={
        flashOf(c) ??
        (c.req.query("recovered") ? `Queued ${Number(c.req.query("recovered")) || 0} deliveries to be sent again.` : undefined)
      }
      problem={extra.problem}
      dialog={extra.dialog}
    />,
    status,
  );
}

/** An ApiError from a service as field errors (or one message for the whole form). */
function formProblem(raw: unknown): { errors: Record<string, string[]>; formError?: string } {
  const error = callerError(raw);
  if (!error || error.status === 404 || error.status === 401 || error.status === 403) throw raw;
  if (error.errors?.length) return { errors: errorsByField(error.errors) };
  return { errors: {}, formError: error.detail };
}

export function webhookRoutes(ui: Hono<UiEnv>) {
  ui.get("/t/:tenant/webhooks", (c) => renderList(c));

  ui.get("/t/:tenant/webhooks/new", async (c) =>
    render(
      c,
      <NewWebhookPage
        page={pageContext(c)}
        tenantId={tenantId(c)}
        values={{ name: "", url: "", eventTypes: [], headers: "", rateLimit: "" }}
        errors={{}}
        catalog={await catalog(c)}
      />,
    ),
  );

  ui.post("/t/:tenant/webhooks", async (c) => {
    const values = formValues(c.var.form);
    const { body, errors } = endpointBody(values, "create");
    let problem: { errors: Record<string, string[]>; formError?: string } = { errors: errorsByField(errors) };
    if (body && errors.length === 0) {
      try {
        const created = await createEndpoint(c.var.ctx, tenantId(c), body as Parameters<typeof createEndpoint>[2]);
        return c.redirect(tenantPath(tenantId(c), `/webhooks/${encodeURIComponent(created.id)}?flash=created`), 303);
      } catch (error) {
        problem = formProblem(error);
      }
    }
    return render(
      c,
      <NewWebhookPage
        page={pageContext(c)}
        tenantId={tenantId(c)}
        values={values}
        errors={problem.errors}
        formError={problem.formError}
        catalog={await catalog(c)}
      />,
      422,
    );
  });

  ui.get("/t/:tenant/webhooks/:id", async (c) => renderEdit(c, await getEndpoint(c.var.ctx, tenantId(c), c.req.param("id"))));

  ui.post("/t/:tenant/webhooks/:id", async (c) => {
    const endpoint = await getEndpoint(c.var.ctx, tenantId(c), c.req.param("id"));
    const values = formValues(c.var.form);
    const { body, errors } = endpointBody(values, "update");
    let problem: { errors: Record<string, string[]>; formError?: string } = { errors: errorsByField(errors) };
    if (body && errors.length === 0) {
      try {
        await updateEndpoint(c.var.ctx, tenantId(c), endpoint.id, body);
        return c.redirect(tenantPath(tenantId(c), `/webhooks/${encodeURIComponent(endpoint.id)}?flash=saved`), 303);
      } catch (error) {
        problem = formProblem(error);
      }
    }
    return renderEdit(c, endpoint, { values, errors: problem.errors, ...(problem.formError ? { formError: problem.formError } : {}) }, 422);
  });

  ui.post("/t/:tenant/webhooks/:id/enabled", async (c) => {
    const enable = field(c.var.form, "enabled") === "true";
    await updateEndpoint(c.var.ctx, tenantId(c), c.req.param("id"), { disabled: !enable });
    return c.redirect(tenantPath(tenantId(c), `/webhooks?flash=${enable ? "enabled" : "disabled"}`), 303);
  });

  ui.get("/t/:tenant/webhooks/:id/delete", async (c) =>
    render(
      c,
      <DeleteWebhookPage
        page={pageContext(c)}
        tenantId={tenantId(c)}
        endpoint={await getEndpoint(c.var.ctx, tenantId(c), c.req.param("id"))}
      />,
    ),
  );

  ui.post("/t/:tenant/webhooks/:id/delete", async (c) => {
    await deleteEndpoint(c.var.ctx, tenantId(c), c.req.param("id"));
    return c.redirect(tenantPath(tenantId(c), "/webhooks?flash=deleted"), 303);
  });

  ui.post("/t/:tenant/webhooks/:id/rotate", async (c) => {
    const endpoint = await rotateSecret(c.var.ctx, tenantId(c), c.req.param("id"), {});
    return c.redirect(tenantPath(tenantId(c), `/webhooks/${encodeURIComponent(endpoint.id)}?flash=rotated&secret=show#secret`), 303);
  });

  ui.post("/t/:tenant/webhooks/:id/recover", async (c) => {
    const endpoint = await getEndpoint(c.var.ctx, tenantId(c), c.req.param("id"));
    // datetime-local has no zone; the label says UTC, so read it as UTC.
    const since = new Date(`${field(c.var.form, "since")}Z`);
    if (Number.isNaN(since.getTime())) return renderEdit(c, endpoint, { problem: "Choose the date and time to recover from." }, 400);
    try {
      const { queued } = await recoverEndpoint(c.var.ctx, tenantId(c), endpoint.id, { since: since.toISOString() });
      return c.redirect(tenantPath(tenantId(c), `/webhooks/${encodeURIComponent(endpoint.id)}?recovered=${queued}`), 303);
    } catch (error) {
      if (error instanceof ApiError && error.code === "conflict") return renderEdit(c, endpoint, { problem: error.detail }, 409);
      throw error;
    }
  });

  ui.post("/t/:tenant/webhooks/:id/test", async (c) => {
    const endpoint = await getEndpoint(c.var.ctx, tenantId(c), c.req.param("id"));
    let outcome: TestOutcome;
    try {
      const eventType = field(c.var.form, "eventType");
      const result = await sendTestEvent(c.var.ctx, tenantId(c), endpoint.id, eventType ? { eventType } : {});
      outcome = { endpointName: endpoint.name, ...result };
    } catch (raw) {
      const error = callerError(raw);
      if (!error) throw raw;
      outcome = {
        endpointName: endpoint.name,
        eventType: null,
        ok: false,
        statusCode: null,
        durationMs: null,
        errorKind: null,
        errorMessage: error.detail,
        responseBody: null,
      };
    }
    const dialog = <TestDialog outcome={outcome} />;
    return field(c.var.form, "from") === "edit" ? renderEdit(c, endpoint, { dialog }) : renderList(c, dialog);
  });
}
