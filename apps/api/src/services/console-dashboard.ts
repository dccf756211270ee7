import { idFloor } from "@herald/schema";
import type { ServiceContext } from "../deps.ts";
import { resolveTenant } from "./tenants.ts";

const WINDOW_MINUTES = 60;

export interface MinuteBucket {
  /** Start of the minute, unix ms. */
  at: number;
  succeeded: number;
  failed: number;
}

export interface FailingEndpoint {
  id: string;
  tenantId: string;
  name: string;
  url: string;
  disabled: boolean;
  disabledReason: string | null;
  failingSince: Date | null;
  lastFailureAt: Date | null;
}

export interface Dashboard {
  /** Attempts per minute over the last hour, oldest first, one bucket per minute (empty ones included). */
  minutes: MinuteBucket[];
  /** Deliveries waiting to be sent: queued jobs for the admin's whole view, unfinished rows for one tenant. */
  queueDepth: number;
  /** Age of the oldest unfinished delivery, or null when none waits. */
  oldestPendingMs: number | null;
  failingEndpoints: FailingEndpoint[];
}

/**
 * What the console's dashboard shows, for the whole deployment (admin, no
 * tenant) or for one tenant. Reads go by time-sortable id ranges, so the hour
 * window uses the primary keys instead of scanning attempts by time.
 */
export async function getDashboard(ctx: ServiceContext, input: { tenantIdOrUid?: string | undefined }): Promise<Dashboard> {
  const tenantKey = input.tenantIdOrUid ?? (ctx.principal.kind === "tenant" ? ctx.principal.tenantId : undefined);
  const tenantId = tenantKey === undefined ? null : (await resolveTenant(ctx, tenantKey)).id;
  const now = Date.now();
  const windowStart = Math.floor(now / 60_000) * 60_000 - (WINDOW_MINUTES - 1) * 60_000;

  const [perMinute, oldest, failing, depth] = await Promise.all([
    ctx.sql<{ minute: string; ok: number; failed: number }[]>`
      select floor(extract(epoch from a.started_at) / 60)::bigint::text as minute,
             (count(*) filter (where a.error_kind is null))::int as ok,
             (count(*) filter (where a.error_kind is not null))::int as failed
      from attempts a
      ${tenantId === null ? ctx.sql`` : ctx.sql`join deliveries d on d.id = a.delivery_id and d.tenant_id = ${tenantId}`}
      where a.id >= ${idFloor("attempt", new Date(windowStart))}
      group by 1`,
    ctx.sql<{ oldest: number | null }[]>`
      select extract(epoch from min(created_at))::float8 as oldest from deliveries
      where status in ('pending', 'failed') ${tenantId === null ? ctx.sql`` : ctx.sql`and tenant_id = ${tenantId}`}`,
    ctx.sql<FailingEndpoint[]>`
      select id, tenant_id as "tenantId", name, url, disabled, disabled_reason as "disabledReason",
             failing_since as "failingSince", last_failure_at as "lastFailureAt"
      from endpoints
      where (failing_since is not null or disabled) ${tenantId === null ? ctx.sql`` : ctx.sql`and tenant_id = ${tenantId}`}
      order by failing_since asc nulls last, id desc
      limit 10`,
    tenantId === null
      ? ctx.queues
          .depth(["waiting", "active", "delayed", "prioritized"])
          .then((shards) =>
            shards.reduce(
              (sum, { counts, backlog }) => sum + [...Object.values(counts), ...Object.values(backlog)].reduce((a, b) => a + b, 0),
              0,
            ),
          )
      : ctx.sql<
          { n: number }[]
        >`select count(*)::int as n from deliveries where tenant_id = ${tenantId} and status in ('pending', 'failed')`.then(
          (rows) => rows[0]?.n ?? 0,
        ),
  ]);

  const byMinute = new Map(perMinute.map((row) => [Number(row.minute) * 60_000, row]));
  const minutes: MinuteBucket[] = [];
  for (let at = windowStart; at <= now; at += 60_000) {
    const row = byMinute.get(at);
    minutes.push({ at, succeeded: row?.ok ?? 0, failed: row?.failed ?? 0 });
  }
  const oldestSeconds = oldest[0]?.oldest ?? null;
  return {
    minutes,
    queueDepth: depth,
    oldestPendingMs: oldestSeconds === null ? null : Math.max(0, now - oldestSeconds * 1000),
    failingEndpoints: [...failing],
  };
}
