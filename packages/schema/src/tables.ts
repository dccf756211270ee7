import { sql } from "drizzle-orm";
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

const createdAt = () => timestamp("created_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const updatedAt = () => timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull().defaultNow();
const at = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });

export const tenants = pgTable("tenants", {
  id: text("id").primaryKey(),
  uid: text("uid").unique(),
  name: text("name").notNull(),
  metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
  /** The admin's overrides of the deployment's per-tenant limits; a missing field takes the default. */
  limits: jsonb("limits").$type<TenantLimitOverrides>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

/** Per-tenant limits; each is a positive whole number. */
export interface TenantLimitOverrides {
  maxEndpoints?: number;
  testSendsPerMinute?: number;
  maxDeliveriesPerPublish?: number;
  publishPerSecond?: number;
}

export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** First characters of the key, shown so people can tell keys apart. */
    start: text("start").notNull(),
    /** SHA-256 of the whole key; the key itself is shown once and never stored. */
    hash: text("hash").notNull().unique(),
    createdAt: createdAt(),
    lastUsedAt: at("last_used_at"),
    expiresAt: at("expires_at"),
    revokedAt: at("revoked_at"),
  },
  (t) => [index("api_keys_tenant_idx").on(t.tenantId, t.id)],
);

export const SESSION_KINDS = ["admin", "tenant", "portal"] as const;
export type SessionKind = (typeof SESSION_KINDS)[number];

/**
 * A console session. The cookie only names a row (signed, so it cannot be
 * forged); the row decides whether it is still open, so signing out, revoking
 * the key it was opened with, or an admin ending it takes effect at once.
 */
export const consoleSessions = pgTable(
  "console_sessions",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: SESSION_KINDS }).notNull(),
    tenantId: text("tenant_id").references(() => tenants.id, { onDelete: "cascade" }),
    /** The key the session was opened with, or the key that minted the portal link; null for the admin. */
    keyId: text("key_id"),
    address: text("address"),
    userAgent: text("user_agent"),
    createdAt: createdAt(),
    expiresAt: at("expires_at").notNull(),
    revokedAt: at("revoked_at"),
  },
  (t) => [index("console_sessions_key_idx").on(t.keyId), index("console_sessions_expires_idx").on(t.expiresAt)],
);

/** Failed console sign-ins, counted per address and per token prefix to slow guessing down. */
export const signInFailures = pgTable(
  "sign_in_failures",
  {
    id: bigint("id", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    address: text("address").notNull(),
    tokenPrefix: text("token_prefix").notNull(),
    failedAt: at("failed_at").notNull().defaultNow(),
  },
  (t) => [
    index("sign_in_failures_address_idx").on(t.address, t.failedAt),
    index("sign_in_failures_prefix_idx").on(t.tokenPrefix, t.failedAt),
  ],
);

export const eventTypes = pgTable("event_types", {
  name: text("name").primaryKey(),
  description: text("description").notNull(),
  example: jsonb("example"),
  schema: jsonb("schema"),
  archived: boolean("archived").notNull().default(false),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
});

export const endpoints = pgTable(
  "endpoints",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    name: text("name").notNull(),
    /** The caller's own id for the endpoint (Svix's endpoint `uid`), unique within the tenant. */
    uid: text("uid"),
    url: text("url").notNull(),
    /** Subscribed event types; empty means all, `payment.*` matches a prefix. */
    eventTypes: text("event_types").array().notNull().default(sql`'{}'::text[]`),
    headers: jsonb("headers").$type<Record<string, string>>().notNull().default({}),
    /** Deliveries per second; null means unlimited. */
    rateLimit: integer("rate_limit"),
    /** Overrides the deployment's attempt count for this endpoint. */
    maxAttempts: integer("max_attempts"),
    secret: text("secret").notNull(),
    /** The secret before the last rotation; it keeps signing until it expires. */
    previousSecret: text("previous_secret"),
    previousSecretExpiresAt: at("previous_secret_expires_at"),
    disabled: boolean("disabled").notNull().default(false),
    disabledReason: text("disabled_reason"),
    disabledAt: at("disabled_at"),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    sentCount: bigint("sent_count", { mode: "number" }).notNull().default(0),
    succeededCount: bigint("succeeded_count", { mode: "number" }).notNull().default(0),
    failedCount: bigint("failed_count", { mode: "number" }).notNull().default(0),
    lastSuccessAt: at("last_success_at"),
    lastFailureAt: at("last_failure_at"),
    /** Start of the current run of failures with no success; null while healthy. */
    failingSince: at("failing_since"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index("endpoints_tenant_idx").on(t.tenantId, t.id), uniqueIndex("endpoints_tenant_uid_idx").on(t.tenantId, t.uid)],
);

/*
 * events, deliveries and attempts are range-partitioned by id, a day per partition (migration 0007 and
 * partitions.ts): ids start with their creation time, so the id is the time key. They have no foreign keys
 * between them, so a day's partition can be dropped whole without checks against the others; see partitions.ts.
 */
export const events = pgTable(
  "events",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    eventType: text("event_type").notNull(),
    /** The payload's JSON text exactly as the publisher sent it (not jsonb, which reorders keys and rewrites numbers). */
    payload: text("payload").notNull(),
    idempotencyKey: text("idempotency_key"),
    /**
     * The publisher's own id for the event (Svix's message `eventId`), unique within the tenant: event_uids holds
     * that uniqueness (a unique index here would have to contain the partition key, the id).
     */
    uid: text("uid"),
    createdAt: createdAt(),
  },
  (t) => [
    index("events_tenant_idx").on(t.tenantId, t.id),
    // The event list's type filter, newest first.
    index("events_tenant_type_idx").on(t.tenantId, t.eventType, t.id),
  ],
);

/**
 * Idempotency keys inside their 24-hour window, each with the event it published. A plain table (a unique index
 * on the partitioned events table would have to include the id); the maintenance pass deletes expired keys.
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    key: text("key").notNull(),
    eventId: text("event_id").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/**
 * Event uids (Svix's `eventId`), one per tenant, each with its event. A plain table for the same reason as
 * idempotency_keys; written in the statement that stores the event, and expired by the maintenance pass with the
 * retention (a row outlives its event by at most one pass).
 */
export const eventUids = pgTable(
  "event_uids",
  {
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id, { onDelete: "cascade" }),
    uid: text("uid").notNull(),
    eventId: text("event_id").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ name: "event_uids_pkey", columns: [t.tenantId, t.uid] }), index("event_uids_created_idx").on(t.createdAt)],
);

export const DELIVERY_STATUSES = ["pending", "succeeded", "failed", "exhausted", "held"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const deliveries = pgTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id").notNull(),
    eventId: text("event_id").notNull(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => endpoints.id, { onDelete: "cascade" }),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull().default("pending"),
    attempts: integer("attempts").notNull().default(0),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    nextAttemptAt: at("next_attempt_at"),
    /**
     * Waiting in PostgreSQL for its endpoint (circuit open, paused, or at its cap with a backlog) rather than
     * holding a job in Redis; the worker's scheduler releases parked deliveries, oldest first, as the endpoint
     * can take them.
     */
    parked: boolean("parked").notNull().default(false),
    /**
     * When the scheduler last released this parked delivery into the queue (null: not released). A released
     * delivery stays `parked` until its attempt is recorded: releasing writes only this column, which no index
     * reads, so PostgreSQL rewrites the row in place (a HOT update) instead of adding it to every index again.
     * A release older than the reconciler's grace with the delivery still parked is a lease run out (its job was
     * lost, or never added): the next release takes the delivery again.
     */
    releasedAt: at("released_at"),
    isTest: boolean("is_test").notNull().default(false),
    /**
     * W3C traceparent of the publish that made this delivery, when tracing was on: every attempt, however late
     * and whoever enqueues it, joins that trace. Null (no bytes stored) when tracing is off.
     */
    traceContext: text("trace_context"),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    index("deliveries_tenant_idx").on(t.tenantId, t.id),
    // The delivery list's status filter ("show me what failed"), newest first.
    index("deliveries_tenant_status_idx").on(t.tenantId, t.status, t.id),
    index("deliveries_event_idx").on(t.eventId),
    index("deliveries_endpoint_idx").on(t.endpointId, t.id),
    // The scheduler's and reconciler's scans: unfinished deliveries that are not parked, by due time.
    index("deliveries_due_idx").on(t.nextAttemptAt).where(sql`status in ('pending', 'failed') and not parked`),
    // An endpoint's parked backlog, oldest first; also how the scheduler finds endpoints with one.
    index("deliveries_parked_idx").on(t.endpointId, t.id).where(sql`parked`),
    // Deliveries held for a disabled endpoint: what the retention pass must not drop with their day (small: held
    // deliveries are few, and the index costs nothing to the others).
    index("deliveries_held_idx").on(t.endpointId, t.id).where(sql`status = 'held'`),
  ],
);

export const attempts = pgTable(
  "attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    endpointId: text("endpoint_id").notNull(),
    attemptNumber: integer("attempt_number").notNull(),
    startedAt: at("started_at").notNull(),
    durationMs: integer("duration_ms").notNull(),
    statusCode: integer("status_code"),
    /** null on success; otherwise what went wrong: `http_status`, `timeout`, `connection_refused`, … */
    errorKind: text("error_kind"),
    errorMessage: text("error_message"),
    requestHeaders: jsonb("request_headers").$type<Record<string, string>>(),
    responseHeaders: jsonb("response_headers").$type<Record<string, string>>(),
    /** At most the first 4 KiB of the response body. */
    responseBody: text("response_body"),
  },
  (t) => [index("attempts_delivery_idx").on(t.deliveryId, t.id)],
);

export type Tenant = typeof tenants.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type EventType = typeof eventTypes.$inferSelect;
export type Endpoint = typeof endpoints.$inferSelect;
export type Event = typeof events.$inferSelect;
export type Delivery = typeof deliveries.$inferSelect;
export type Attempt = typeof attempts.$inferSelect;
export type ConsoleSession = typeof consoleSessions.$inferSelect;
