import { buildEnvelope } from "@herald/delivery";
import { TtlCache } from "@herald/runtime";
import { type DeliveryStatus, ID_PREFIXES, idBounds } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import { openSecret, type SecretKeys } from "@herald/schema/secrets";
import { BatchLoader } from "./batch-loader.ts";

export interface DeliveryState {
  id: string;
  status: DeliveryStatus;
  attempts: number;
  /** Waiting in PostgreSQL for a release; a released delivery (in the queue, not yet attempted) is not. */
  parked: boolean;
  nextAttemptAt: Date | null;
  /** The publish's W3C traceparent, when it was traced. */
  traceContext: string | null;
}

export interface EndpointTarget {
  id: string;
  tenantId: string;
  url: string;
  headers: Record<string, string>;
  /** The current secret, then the previous one while its grace period lasts. */
  secrets: string[];
  disabled: boolean;
  rateLimit: number | null;
  maxAttempts: number | null;
}

export interface EventBody {
  id: string;
  eventType: string;
  /** The envelope, serialised once: every delivery and retry signs these bytes. */
  body: string;
  createdAt: Date;
}

const DELIVERY_ID_PREFIX = `${ID_PREFIXES.delivery}_`;

/** How long an endpoint's settings may be stale in a worker: edits and disables apply within this. */
export const ENDPOINT_CACHE_MS = 5_000;
const EVENT_CACHE_MS = 60_000;

/**
 * Loads what a delivery needs with batched queries. Events and endpoints are
 * shared by many deliveries of a fan-out, so they are cached; the delivery's
 * own state is read fresh every time because it decides whether to send.
 */
export function createContextLoader(sql: Sql, secretKeys?: SecretKeys) {
  // A job's delivery state and, unless cached, its event's body, asked for in the same turn of the event loop, come
  // from one statement: both selects, each bounded by its own ids (so each reaches only its partitions), joined by
  // UNION ALL into one round trip and one transaction (read apart, the states alone took 0.06–0.2 statements a
  // delivery in the durable bench). Ids carry their kind (dlv_, evt_), so one loader takes both.
  type Row = {
    id: string;
    status: DeliveryStatus | null;
    attempts: number | null;
    parked: boolean | null;
    nextAttemptAt: Date | null;
    traceContext: string | null;
    eventType: string | null;
    payload: string | null;
    createdAt: Date | null;
  };
  const deliveryRows = (ids: string[]) => {
    const [lo, hi] = idBounds(ids);
    return sql`
      select id, status, attempts, parked and released_at is null as parked, next_attempt_at as "nextAttemptAt",
             trace_context as "traceContext", null::text as "eventType", null::text as payload, null::timestamptz as "createdAt"
      from deliveries where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
  };
  const eventRows = (ids: string[]) => {
    const [lo, hi] = idBounds(ids);
    return sql`
      select id, null::text as status, null::int as attempts, null::boolean as parked, null::timestamptz as "nextAttemptAt",
             null::text as "traceContext", event_type as "eventType", payload, created_at as "createdAt"
      from events where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
  };
  const rows = new BatchLoader<string, DeliveryState | EventBody>(async (ids) => {
    const deliveryIds = ids.filter((id) => id.startsWith(DELIVERY_ID_PREFIX));
    const eventIds = ids.filter((id) => !id.startsWith(DELIVERY_ID_PREFIX));
    const found =
      deliveryIds.length === 0
        ? await sql<Row[]>`${eventRows(eventIds)}`
        : eventIds.length === 0
          ? await sql<Row[]>`${deliveryRows(deliveryIds)}`
          : await sql<Row[]>`${deliveryRows(deliveryIds)} union all ${eventRows(eventIds)}`;
    return new Map(
      found.map((row): [string, DeliveryState | EventBody] =>
        !row.id.startsWith(DELIVERY_ID_PREFIX) && row.eventType !== null && row.payload !== null && row.createdAt !== null
          ? [
              row.id,
              {
                id: row.id,
                eventType: row.eventType,
                body: buildEnvelope(row.eventType, row.createdAt, row.payload),
                createdAt: row.createdAt,
              },
            ]
          : [
              row.id,
              {
                id: row.id,
                status: row.status as DeliveryStatus,
                attempts: row.attempts ?? 0,
                parked: row.parked ?? false,
                nextAttemptAt: row.nextAttemptAt,
                traceContext: row.traceContext,
              },
            ],
      ),
    );
  });

  const endpoints = new BatchLoader<string, EndpointTarget>(async (ids) => {
    const rows = await sql<
      (Omit<EndpointTarget, "secrets"> & { secret: string; previousSecret: string | null; previousSecretExpiresAt: Date | null })[]
    >`
      select id, tenant_id as "tenantId", url, headers, secret, previous_secret as "previousSecret",
             previous_secret_expires_at as "previousSecretExpiresAt", disabled, rate_limit as "rateLimit",
             max_attempts as "maxAttempts"
      from endpoints where id = any(${ids}::text[])`;
    const now = new Date();
    return new Map(
      rows.map(({ secret, previousSecret, previousSecretExpiresAt, ...row }) => [
        row.id,
        {
          ...row,
          // Stored encrypted under HERALD_ENCRYPTION_KEY; held readable only in this process's short-lived cache.
          secrets: (previousSecret && previousSecretExpiresAt && previousSecretExpiresAt > now ? [secret, previousSecret] : [secret]).map(
            (stored) => openSecret(secretKeys, stored),
          ),
        },
      ]),
    );
  });

  const eventCache = new TtlCache<string, EventBody>(EVENT_CACHE_MS, 10_000);
  const endpointCache = new TtlCache<string, EndpointTarget>(ENDPOINT_CACHE_MS, 10_000);

  async function cached<V>(cache: TtlCache<string, V>, load: (id: string) => Promise<V | undefined>, id: string): Promise<V | undefined> {
    const hit = cache.get(id);
    if (hit) return hit;
    const value = await load(id);
    if (value) cache.set(id, value);
    return value;
  }

  return {
    delivery: (id: string) => rows.load(id) as Promise<DeliveryState | undefined>,
    event: (id: string) => cached(eventCache, (key) => rows.load(key) as Promise<EventBody | undefined>, id),
    endpoint: (id: string) => cached(endpointCache, (key) => endpoints.load(key), id),
    /** Drops a cached endpoint after this worker changed it (for example disabled it). */
    forgetEndpoint: (id: string) => endpointCache.delete(id),
  };
}

export type ContextLoader = ReturnType<typeof createContextLoader>;
