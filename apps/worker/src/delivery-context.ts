import { buildEnvelope } from "@herald/delivery";
import { TtlCache } from "@herald/runtime";
import { type DeliveryStatus, idBounds } from "@herald/schema";
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

/** How long an endpoint's settings may be stale in a worker: edits and disables apply within this. */
export const ENDPOINT_CACHE_MS = 5_000;
const EVENT_CACHE_MS = 60_000;

/**
 * Loads what a delivery needs with batched queries. Events and endpoints are
 * shared by many deliveries of a fan-out, so they are cached; the delivery's
 * own state is read fresh every time because it decides whether to send.
 */
export function createContextLoader(sql: Sql, secretKeys?: SecretKeys) {
  const deliveries = new BatchLoader<string, DeliveryState>(async (ids) => {
    const [lo, hi] = idBounds(ids);
    const rows = await sql<DeliveryState[]>`
      select id, status, attempts, parked and released_at is null as parked, next_attempt_at as "nextAttemptAt", trace_context as "traceContext" from deliveries
      where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
    return new Map(rows.map((row) => [row.id, row]));
  });

  const events = new BatchLoader<string, EventBody>(async (ids) => {
    const [lo, hi] = idBounds(ids);
    const rows = await sql<{ id: string; eventType: string; payload: string; createdAt: Date }[]>`
      select id, event_type as "eventType", payload, created_at as "createdAt" from events
      where id = any(${ids}::text[]) and id between ${lo} and ${hi}`;
    return new Map(
      rows.map((row) => [
        row.id,
        { id: row.id, eventType: row.eventType, body: buildEnvelope(row.eventType, row.createdAt, row.payload), createdAt: row.createdAt },
      ]),
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

  async function cached<V>(cache: TtlCache<string, V>, loader: BatchLoader<string, V>, id: string): Promise<V | undefined> {
    const hit = cache.get(id);
    if (hit) return hit;
    const value = await loader.load(id);
    if (value) cache.set(id, value);
    return value;
  }

  return {
    delivery: (id: string) => deliveries.load(id),
    event: (id: string) => cached(eventCache, events, id),
    endpoint: (id: string) => cached(endpointCache, endpoints, id),
    /** Drops a cached endpoint after this worker changed it (for example disabled it). */
    forgetEndpoint: (id: string) => endpointCache.delete(id),
  };
}

export type ContextLoader = ReturnType<typeof createContextLoader>;
