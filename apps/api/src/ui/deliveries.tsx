/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { DeliveryStatus, Event } from "@herald/schema";
import type { Context, Hono } from "hono";
import { ApiError } from "../errors.ts";
import { getDelivery, listDeliveries, retryDelivery } from "../services/deliveries.ts";
import { getEndpoint, listEndpoints } from "../services/endpoints.ts";
import { getEvent } from "../services/events.ts";
import { DeliveryLogPage, DeliveryPage, type LogFilters, STATUSES } from "./deliveries-pages.tsx";
import { field, type UiEnv } from "./env.ts";
import { flashOf, pageContext, render, tenantPath } from "./render.tsx";

const PAGE_SIZE = 25;
type Ctx = Context<UiEnv>;

function tenantId(c: Ctx): string {
  return (c.var.tenant as { id: string }).id;
}

/** A datetime-local value (no zone; the form says UTC) as an ISO time, or undefined. */
function utc(value: string): string | undefined {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(value)) return undefined;
  const date = new Date(`${value}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

async function renderDelivery(c: Ctx, problem?: string, status: 200 | 409 = 200) {
  const { delivery, attempts } = await getDelivery(c.var.ctx, tenantId(c), c.req.param("id") ?? "");
  const [{ event }, endpoint] = await Promise.all([
    getEvent(c.var.ctx, tenantId(c), delivery.eventId),
    getEndpoint(c.var.ctx, tenantId(c), delivery.endpointId),
  ]);
  return render(
    c,
    <DeliveryPage
      page={pageContext(c)}
      tenantId={tenantId(c)}
      delivery={delivery}
      attempts={attempts}
      event={event}
      endpoint={endpoint}
      flash={flashOf(c)}
      problem={problem}
    />,
    status,
  );
}

export function deliveryRoutes(ui: Hono<UiEnv>) {
  ui.get("/t/:tenant/deliveries", async (c) => {
    const filters: LogFilters = {
      status: STATUSES.includes(c.req.query("status") as DeliveryStatus) ? (c.req.query("status") as string) : "",
      endpointId: /^ep_[0-9a-z]{26}$/.test(c.req.query("endpoint") ?? "") ? (c.req.query("endpoint") as string) : "",
      eventId: /^evt_[0-9a-z]{26}$/.test(c.req.query("event")?.trim() ?? "") ? (c.req.query("event")?.trim() as string) : "",
      after: utc(c.req.query("after") ?? "") ? (c.req.query("after") as string) : "",
      before: utc(c.req.query("before") ?? "") ? (c.req.query("before") as string) : "",
    };
    const cursor = c.req.query("cursor") || undefined;
    const [{ rows, nextCursor }, endpoints] = await Promise.all([
      listDeliveries(c.var.ctx, tenantId(c), {
        limit: PAGE_SIZE,
        cursor,
        status: (filters.status || undefined) as DeliveryStatus | undefined,
        endpointId: filters.endpointId || undefined,
        eventId: filters.eventId || undefined,
        after: utc(filters.after),
        before: utc(filters.before),
      }),
      listEndpoints(c.var.ctx, tenantId(c), { limit: 250 }),
    ]);
    // The log names each event's type; a page holds at most PAGE_SIZE distinct events.
    const eventIds = [...new Set(rows.map((row) => row.eventId))];
    const found = await Promise.all(eventIds.map((id) => getEvent(c.var.ctx, tenantId(c), id).then((result) => result.event)));
    const events = new Map<string, Event>(found.map((event) => [event.id, event]));
    return render(
      c,
      <DeliveryLogPage
        page={pageContext(c)}
        tenantId={tenantId(c)}
        filters={filters}
        rows={rows}
        events={events}
        endpoints={endpoints.rows}
        nextCursor={nextCursor}
        paged={Boolean(cursor)}
      />,
    );
  });

  ui.get("/t/:tenant/deliveries/:id", (c) => renderDelivery(c));

  ui.post("/t/:tenant/deliveries/:id/retry", async (c) => {
    try {
      await retryDelivery(c.var.ctx, tenantId(c), c.req.param("id"), { force: field(c.var.form, "force") === "true" });
    } catch (error) {
      if (error instanceof ApiError && error.code === "conflict") return renderDelivery(c, error.detail, 409);
      throw error;
    }
    return c.redirect(tenantPath(tenantId(c), `/deliveries/${encodeURIComponent(c.req.param("id"))}?flash=retried`), 303);
  });
}
