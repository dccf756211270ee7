import { z } from "zod";
import { formatDuration, parseDuration } from "./duration.ts";
import { parseEncryptionKeys } from "./encryption-keys.ts";

export { formatDuration, parseDuration } from "./duration.ts";
export { type EncryptionKey, type EncryptionKeys, parseEncryptionKeys } from "./encryption-keys.ts";

/** HERALD_ENCRYPTION_KEY: `id:base64key`, or several comma-separated while the key rotates (the first encrypts). */
const encryptionKeys = z
  .string()
  .optional()
  .transform((text, ctx) => {
    if (text === undefined) return undefined;
    try {
      return parseEncryptionKeys(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  });

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: "custom", message: `expected a duration such as 500ms, 5s, 5m, 2h or 5d, got "${text}"` });
        return z.NEVER;
      }
      return ms;
    });

const durationList = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const parts = text.split(",").map((part) => parseDuration(part));
      if (parts.length === 0 || parts.some((ms) => ms === undefined)) {
        ctx.addIssue({ code: "custom", message: `expected a comma-separated list of durations, got "${text}"` });
        return z.NEVER;
      }
      return parts as number[];
    });

const flag = (fallback: boolean) =>
  z
    .enum(["true", "false", "1", "0", "yes", "no", "on", "off"])
    .optional()
    .transform((value) => (value === undefined ? fallback : ["true", "1", "yes", "on"].includes(value)));

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

const url = (fallback: string, protocols: string[]) =>
  z
    .string()
    .default(fallback)
    .refine(
      (value) => {
        try {
          return protocols.includes(new URL(value).protocol);
        } catch {
          return false;
        }
      },
      `expected a ${protocols.join(" or ")} URL`,
    );

/** One Redis URL, or with HERALD_REDIS_CLUSTER a comma-separated list of cluster seed nodes. */
const redisUrls = z
  .string()
  .default("redis://127.0.0.1:6379")
  .refine(
    (value) =>
      value.split(",").every((part) => {
        try {
          return ["redis:", "rediss:"].includes(new URL(part.trim()).protocol);
        } catch {
          return false;
        }
      }),
    "expected a redis:// or rediss:// URL, or a comma-separated list of them (cluster seed nodes)",
  );

/** What both processes need: where the data lives and how deliveries are made. */
const sharedShape = {
  DATABASE_URL: url("postgres://postgres@127.0.0.1:5432/herald", ["postgres:", "postgresql:"]),
  REDIS_URL: redisUrls,
  /** Every Redis client is a Redis Cluster client, seeded from REDIS_URL. */
  HERALD_REDIS_CLUSTER: flag(false),
  HERALD_QUEUE_PREFIX: z.string().min(1).default("{herald}"),
  /** Delivery jobs spread over this many queues, each under its own hash tag (one cluster slot each). */
  HERALD_QUEUE_SHARDS: z.coerce.number().int().min(1).max(256).default(1),
  /** Requests in flight per endpoint across all workers; the API keeps at most twice this many of an endpoint's jobs in the queue. */
  HERALD_ENDPOINT_CONCURRENCY: int(10, 1),
  HERALD_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  HERALD_ALLOW_PRIVATE_TARGETS: flag(false),
  HERALD_DELIVERY_TIMEOUT: duration("15s"),
  HERALD_CONNECT_TIMEOUT: duration("5s"),
  HERALD_RETRY_SCHEDULE: durationList("0,5s,5m,30m,2h,5h,10h,14h,20h,24h"),
  /** Encrypts endpoint signing secrets at rest (AES-256-GCM); unset, they are stored as given. */
  HERALD_ENCRYPTION_KEY: encryptionKeys,
};

export const apiConfigSchema = z.object({
  ...sharedShape,
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  HERALD_ADMIN_TOKEN: z.string().min(16, "must be at least 16 characters"),
  HERALD_MAX_PAYLOAD_BYTES: int(256 * 1024, 1),
  /** The whole body of a batch publish (up to 1000 events); each payload is still held to HERALD_MAX_PAYLOAD_BYTES. */
  HERALD_MAX_BATCH_BYTES: int(8 * 1024 * 1024, 1),
  HERALD_SECRET_GRACE_PERIOD: duration("24h"),
  /** Signs console sessions and portal links; derived from HERALD_ADMIN_TOKEN when unset. */
  HERALD_SESSION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  /** Per-tenant limits (the admin may override each per tenant): endpoints a tenant may have. */
  HERALD_TENANT_MAX_ENDPOINTS: int(100, 1),
  /** Test sends a tenant may fire per minute (each is a real request to the receiver). */
  HERALD_TENANT_TEST_SENDS_PER_MINUTE: int(20, 1),
  /** Deliveries one batch publish may create (events times subscribed endpoints); a larger batch is refused. */
  HERALD_TENANT_MAX_DELIVERIES_PER_PUBLISH: int(10_000, 1),
  /** Events a tenant may publish per second, across every API process (0: no limit); a publish past it answers 429. */
  HERALD_TENANT_PUBLISH_RATE: int(0, 0),
  /** Failed console sign-ins per address, and per token prefix, within HERALD_SIGN_IN_WINDOW before sign-in is refused (429). */
  HERALD_SIGN_IN_MAX_FAILURES: int(10, 1),
  HERALD_SIGN_IN_WINDOW: duration("15m"),
  /** Behind a reverse proxy that sets X-Forwarded-For: take the caller's address from it (sign-in limits, session list). */
  HERALD_TRUST_PROXY: flag(false),
});

export const workerConfigSchema = z
  .object({
    ...sharedShape,
    /** Which shards this worker consumes, e.g. `0,1`; every shard when unset. */
    HERALD_WORKER_SHARDS: z
      .string()
      .regex(/^\s*\d+\s*(,\s*\d+\s*)*$/, "expected a comma-separated list of shard numbers such as 0,1")
      .transform((text) => [...new Set(text.split(",").map((part) => Number(part.trim())))])
      .optional(),
    /** How often one worker moves due retries and parked backlogs from PostgreSQL into the queue. */
    HERALD_SCHEDULER_INTERVAL: duration("1s"),
    HERALD_WORKER_CONCURRENCY: int(100, 1),
    HERALD_ENDPOINT_START_CONCURRENCY: int(2, 1),
    HERALD_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
    HERALD_RETRY_AFTER_MAX: duration("1h"),
    HERALD_DISABLE_AFTER: duration("5d"),
    HERALD_CIRCUIT_THRESHOLD: int(10, 1),
    HERALD_CIRCUIT_COOLDOWN: duration("30s"),
    HERALD_RECONCILE_INTERVAL: duration("30s"),
    HERALD_RECONCILE_GRACE: duration("60s"),
    HERALD_SHUTDOWN_TIMEOUT: duration("30s"),
    HERALD_METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
    HERALD_METRICS_HOST: z.string().default("127.0.0.1"),
    HERALD_OPERATOR_TENANT: z.string().min(1).default("herald-operator"),
    HERALD_OPERATOR_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
    /** With OpenTelemetry on, send W3C `traceparent` to receivers, so their spans join the delivery's trace. */
    HERALD_SEND_TRACEPARENT: flag(false),
    /** How long events, deliveries and attempts are kept; a day's partitions are dropped whole once past it. */
    HERALD_RETENTION: duration("30d"),
    /** Days after today whose partitions are made ahead of time. */
    HERALD_PARTITIONS_AHEAD: int(7, 1),
    /** How often one worker runs the storage maintenance pass (make partitions, drop expired ones). */
    HERALD_MAINTENANCE_INTERVAL: duration("1h"),
  })
  .superRefine((config, ctx) => {
    const minimum = minimumRetentionMs(config);
    if (config.HERALD_RETENTION < minimum) {
      ctx.addIssue({
        code: "custom",
        path: ["HERALD_RETENTION"],
        message: `must be at least ${formatDuration(minimum)}: the retry schedule with its jitter, plus a day, so that no delivery is cut short`,
      });
    }
    for (const shard of config.HERALD_WORKER_SHARDS ?? []) {
      if (shard >= config.HERALD_QUEUE_SHARDS) {
        ctx.addIssue({
          code: "custom",
          path: ["HERALD_WORKER_SHARDS"],
          message: `shard ${shard} does not exist: HERALD_QUEUE_SHARDS is ${config.HERALD_QUEUE_SHARDS} (shards 0 to ${config.HERALD_QUEUE_SHARDS - 1})`,
        });
      }
    }
  });

/**
 * The longest a delivery can keep retrying (every delay of the schedule at its full jitter), plus a day of
 * margin, in whole hours: the shortest retention that never drops a delivery still on its schedule.
 */
export function minimumRetentionMs(config: { HERALD_RETRY_SCHEDULE: number[]; HERALD_RETRY_JITTER: number }): number {
  const span = config.HERALD_RETRY_SCHEDULE.reduce((sum, delay) => sum + delay * (1 + config.HERALD_RETRY_JITTER), 0);
  return Math.ceil((span + 86_400_000) / 3_600_000) * 3_600_000;
}

export type ApiConfig = z.infer<typeof apiConfigSchema>;
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Parses the environment once; every bad variable is named in one error. */
export function parseConfig<S extends z.ZodType>(schema: S, env: Record<string, string | undefined>): z.infer<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ""));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const name = issue.path.join(".");
      return `${name}: ${issue.code === "invalid_type" && env[name] === undefined ? "is required" : issue.message}`;
    }),
  );
}
