/** @jsxRuntime automatic @jsxImportSource hono/jsx */
import type { Context, Hono } from "hono";
import { type Dashboard, getDashboard } from "../services/console-dashboard.ts";
import { MinuteChart } from "./chart.tsx";
import type { UiEnv } from "./env.ts";
import { ago, formatAge, formatTime, successRate } from "./format.ts";
import { Layout, type PageContext } from "./layout.tsx";
import { pageContext, render, tenantPath } from "./render.tsx";

function DashboardPage({ page, data, tenantId }: { page: PageContext; data: Dashboard; tenantId: string | undefined }) {
  const succeeded = data.minutes.reduce((sum, m) => sum + m.succeeded, 0);
  const failed = data.minutes.reduce((sum, m) => sum + m.failed, 0);
  const lastMinutes = data.minutes.slice(-5);
  const recentRate = lastMinutes.reduce((sum, m) => sum + m.succeeded + m.failed, 0) / Math.max(1, lastMinutes.length);
  return (
    <Layout page={page} title="Dashboard" section="dashboard">
      <h1>Dashboard{page.tenant ? ` · ${page.tenant.name}` : " · all tenants"}</h1>
      <div class="cards">
        <div class="card">
          <div class="value">{Math.round(recentRate * 10) / 10}</div>
          <div class="label">attempts per minute (last 5 min)</div>
        </div>
        <div class="card">
          <div class="value">{successRate(succeeded, succeeded + failed)}</div>
          <div class="label">success rate, last hour ({succeeded + failed} attempts)</div>
        </div>
        <div class="card">
          <div class="value">{data.queueDepth}</div>
          <div class="label">{tenantId ? "deliveries waiting" : "jobs in the queue"}</div>
        </div>
        <div class="card">
          <div class="value">{formatAge(data.oldestPendingMs)}</div>
          <div class="label">oldest pending delivery</div>
        </div>
      </div>
      <section class="panel" aria-labelledby="chart-title">
        <div class="spread">
          <h2 id="chart-title">Attempts per minute, last hour</h2>
          <div class="legend" aria-hidden="true">
            <span>
              <span class="swatch ok" />
              succeeded
            </span>
            <span>
              <span class="swatch bad" />
              failed
            </span>
          </div>
        </div>
        <MinuteChart minutes={data.minutes} />
      </section>
      <h2>Failing webhooks</h2>
      {data.failingEndpoints.length === 0 ? (
        <div class="panel">Every webhook is healthy.</div>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Webhook</th>
                <th scope="col">State</th>
                <th scope="col">Failing since</th>
                <th scope="col">Last failure</th>
              </tr>
            </thead>
            <tbody>
              {data.failingEndpoints.map((endpoint) => (
                <tr>
                  <td data-label="Webhook">
                    <a href={tenantPath(endpoint.tenantId, `/webhooks/${encodeURIComponent(endpoint.id)}`)}>{endpoint.name}</a>
                    <div class="url">{endpoint.url}</div>
                  </td>
                  <td data-label="State">
                    {endpoint.disabled ? <span class="badge disabled">disabled</span> : <span class="badge failed">failing</span>}
                    {endpoint.disabledReason && <div class="small muted">{endpoint.disabledReason}</div>}
                  </td>
                  <td data-label="Failing since">{endpoint.failingSince ? ago(endpoint.failingSince) : "—"}</td>
                  <td data-label="Last failure">{formatTime(endpoint.lastFailureAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Layout>
  );
}

export function dashboardRoutes(ui: Hono<UiEnv>) {
  const show = async (c: Context<UiEnv>) => {
    const tenantId = c.var.tenant?.id;
    const data = await getDashboard(c.var.ctx, { tenantIdOrUid: tenantId });
    return render(c, <DashboardPage page={pageContext(c)} data={data} tenantId={tenantId} />);
  };
  ui.get("/dashboard", show);
  ui.get("/t/:tenant/dashboard", show);
}
