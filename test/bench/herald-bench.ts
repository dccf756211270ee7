import { fileURLToPath } from "node:url";
import { generateSecret } from "@herald/delivery";
import { newId } from "@herald/schema";
import { type Herald, startHerald, TEST_ADMIN_TOKEN } from "@herald/testing";
import postgres from "postgres";
import { Pool } from "undici";
import { EVENT_TYPE, PAYLOAD, PUBLISH_BODY } from "./payload.ts";
import { log, now, pollUntil } from "./progress.ts";

const PROFILER = fileURLToPath(new URL("./cpu-profile.mjs", import.meta.url));

/** Events per request when publishing through the batch route. */
export const PUBLISH_BATCH = 100;

export interface BenchOptions {
  redisUrl: string;
  /** Extra environment for every Herald process, for experiments (`--env HERALD_WORKER_CONCURRENCY=300`). */
  env?: Record<string, string> | undefined;
  /** Writes a V8 CPU profile (.cpuprofile, as node --cpu-prof does) of every Herald process here when set. */
  profileDir?: string | undefined;
  /** Run the production bundles (`npm run build`) rather than the TypeScript source; `npm run bench` does. */
  built?: boolean | undefined;
}

export interface BenchHerald {
  herald: Herald;
  /** A direct connection to the benchmark's own database, for checks and counters. */
  sql: postgres.Sql;
  /** Keep-alive connections to the API, shared by every publish of a scenario. */
  api: Pool;
  createTenant(uid: string): Promise<string>;
  /** Adds `count` endpoints subscribed to every event type; inserted in bulk since setting up is not what is measured. */
  addEndpoints(tenantId: string, urls: string[]): Promise<string[]>;
  /** One publish through the API; answers the event id and when the request was sent. */
  publish(tenantId: string): Promise<{ id: string; sentAt: number; acceptedAt: number; deliveries: number }>;
  /**
   * Publishes `events` events with `concurrency` requests in flight, in
   * batches of PUBLISH_BATCH through the batch route when it exists (one at a
   * time otherwise), so that the API's per-request cost does not cap what the
   * delivery path is measured at. The ingest scenario measures single publishes.
   */
  publishMany(tenantId: string, events: number, concurrency?: number): Promise<{ sent: number; failed: number; batched: boolean }>;
  /** Resolves with the time at which `count` deliveries were recorded as succeeded, or undefined after the timeout. */
  recorded(count: number, timeoutMs: number): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function startBenchHerald(
  options: BenchOptions,
  { workers = 1, env = {} }: { workers?: number; env?: Record<string, string> } = {},
): Promise<BenchHerald> {
  const profile: Record<string, string> = options.profileDir
    ? { NODE_OPTIONS: `--import=${PROFILER}`, HERALD_BENCH_PROFILE_DIR: options.profileDir }
    : {};
  const herald = await startHerald({
    workers,
    built: options.built ?? false,
    env: {
      REDIS_URL: options.redisUrl,
      HERALD_LOG_LEVEL: "warn",
      // The bench is its own operator: fan-out to 10,000 endpoints is what it measures, not a runaway tenant.
      HERALD_TENANT_MAX_ENDPOINTS: "1000000",
      HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH: "100000000",
      ...profile,
      ...options.env,
      ...env,
    },
  });
  const sql = postgres(herald.database.url, { max: 2, onnotice: () => {} });
  const api = new Pool(herald.baseUrl, { connections: 64, keepAliveTimeout: 30_000 });
  const created = await herald.request("POST", "/v1/event-types", {
    name: EVENT_TYPE,
    description: "An order was paid",
    example: PAYLOAD,
  });
  if (created.status !== 201) throw new Error(`creating the event type answered ${created.status}`);
  const headers = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" };

  async function publish(tenantId: string) {
    const sentAt = now();
    const response = await api.request({ path: `/v1/tenants/${tenantId}/events`, method: "POST", headers, body: PUBLISH_BODY });
    const text = await response.body.text();
    const acceptedAt = now();
    if (response.statusCode !== 202) throw new Error(`publish answered ${response.statusCode}: ${text}`);
    const body = JSON.parse(text) as { id: string; deliveries: number };
    return { id: body.id, sentAt, acceptedAt, deliveries: body.deliveries };
  }

  async function publishBatch(tenantId: string, size: number) {
    const body = JSON.stringify({ events: Array.from({ length: size }, () => ({ eventType: EVENT_TYPE, payload: PAYLOAD })) });
    const response = await api.request({ path: `/v1/tenants/${tenantId}/events/batch`, method: "POST", headers, body });
    const text = await response.body.text();
    if (response.statusCode !== 202) throw new Error(`batch publish answered ${response.statusCode}: ${text}`);
  }

  let batchRoute: boolean | undefined;
  async function hasBatchRoute(tenantId: string) {
    if (batchRoute === undefined) {
      const probe = await api.request({ path: `/v1/tenants/${tenantId}/events/batch`, method: "POST", headers, body: "{}" });
      await probe.body.dump();
      batchRoute = probe.statusCode !== 404 && probe.statusCode !== 405;
    }
    return batchRoute;
  }

  return {
    herald,
    sql,
    api,
    async createTenant(uid) {
      const tenant = await herald.request("POST", "/v1/tenants", { name: `Bench ${uid}`, uid });
      if (tenant.status !== 201) throw new Error(`creating a tenant answered ${tenant.status}`);
      return tenant.body.id as string;
    },
    async addEndpoints(tenantId, urls) {
      const ids = urls.map(() => newId("endpoint"));
      for (let offset = 0; offset < urls.length; offset += 5000) {
        const slice = (list: string[]) => list.slice(offset, offset + 5000);
        await sql`
          insert into endpoints (id, tenant_id, name, url, secret)
          select e.id, ${tenantId}, e.name, e.url, e.secret
          from unnest(${slice(ids)}::text[], ${slice(ids.map((_, i) => `bench ${offset + i}`))}::text[], ${slice(urls)}::text[],
                      ${slice(urls.map(() => generateSecret()))}::text[]) as e(id, name, url, secret)`;
      }
      return ids;
    },
    publish,
    async publishMany(tenantId, events, concurrency = 16) {
      const batched = await hasBatchRoute(tenantId);
      const perRequest = batched ? PUBLISH_BATCH : 1;
      let next = 0;
      let failed = 0;
      const loop = async () => {
        while (next < events) {
          const size = Math.min(perRequest, events - next);
          next += size;
          await (batched ? publishBatch(tenantId, size) : publish(tenantId)).catch((error) => {
            if (failed === 0) log(`publish failed: ${(error as Error).message}`);
            failed += size;
          });
        }
      };
      await Promise.all(Array.from({ length: batched ? Math.min(concurrency, 4) : concurrency }, loop));
      return { sent: events - failed, failed, batched };
    },
    recorded(count, timeoutMs) {
      return pollUntil(
        async () => {
          const [row] = await sql<{ done: number }[]>`select count(*)::int as done from deliveries where status = 'succeeded'`;
          return (row?.done ?? 0) >= count;
        },
        { timeoutMs },
      );
    },
    async stop() {
      await api.close();
      await sql.end({ timeout: 1 });
      await herald.stop();
    },
  };
}
