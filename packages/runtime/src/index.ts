import { ConfigError } from "@herald/config";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import postgres from "postgres";

export { handleProcessFailures } from "./process-failures.ts";
export { TtlCache } from "./ttl-cache.ts";

/** A Standard Webhooks signing secret, wherever it appears in a text. */
const SIGNING_SECRET = /whsec_[A-Za-z0-9+/=_-]+/g;

function scrubbed(value: unknown): unknown {
  return typeof value === "string" ? value.replace(SIGNING_SECRET, "whsec_(redacted)") : value;
}

/**
 * A failed query's error carries its statement and parameters (drizzle puts
 * them in the message), which may hold a signing secret: errors are logged
 * with any `whsec_` value, in the error or its causes, replaced.
 */
function errorSerializer(error: unknown): unknown {
  const serialized = pino.stdSerializers.err(error as Error) as unknown as Record<string, unknown>;
  const scrub = (record: Record<string, unknown>, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record)) {
      if (key === "parameters" || key === "params") out[key] = "(redacted)";
      else if (value && typeof value === "object" && depth < 4) out[key] = scrub(value as Record<string, unknown>, depth + 1);
      else out[key] = scrubbed(value);
    }
    return out;
  };
  return serialized && typeof serialized === "object" ? scrub(serialized, 0) : serialized;
}

export function createLogger(level: string, name: string, destination?: { write(line: string): void }): Logger {
  const options = { level, name, base: { pid: process.pid }, serializers: { err: errorSerializer } };
  return destination ? pino(options, destination) : pino(options);
}

/** How long a producer's Redis command may take before it fails: a publish answers within about 2 s even when Redis hangs. */
export const PRODUCER_COMMAND_TIMEOUT_MS = 1_500;

export interface RedisOptions {
  lazy?: boolean;
  /**
   * `consumer` (the default): for BullMQ workers, whose blocking commands must
   * wait out an outage; commands queue while disconnected and retry forever.
   * `producer`: for the API, which BullMQ's docs say should fail fast. A command
   * issued while Redis is unreachable fails at once instead of waiting in the
   * offline queue, and one that Redis does not answer fails after
   * PRODUCER_COMMAND_TIMEOUT_MS. The connection itself keeps reconnecting.
   */
  role?: "consumer" | "producer";
}

/** The options of a producer's connections (see RedisOptions.role), for a single Redis or each node of a cluster. */
export const PRODUCER_REDIS_OPTIONS = {
  enableReadyCheck: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
  connectTimeout: 2_000,
  // Back within a second of Redis: publishes go straight to the queue again, not through the reconciler.
  retryStrategy: (attempt: number) => Math.min(attempt * 50, 1_000),
};

export function createRedis(url: string, options: RedisOptions = {}): Redis {
  const lazyConnect = options.lazy ?? false;
  if (options.role === "producer") return new Redis(url, { lazyConnect, ...PRODUCER_REDIS_OPTIONS });
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect });
}

/** The URL without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, (_m, user) => `//${user ? `${user}@` : ""}`);
}

export class UnreachableError extends Error {}

/**
 * Start-up check: PostgreSQL and Redis must answer. A failure becomes one line
 * that names the URL tried and how to start the service, not a stack trace.
 */
export async function checkServices(databaseUrl: string, redisUrl: string): Promise<void> {
  // Side by side, so a server that accepts connections and never answers costs one deadline, not two.
  const [postgresCheck, redisCheck] = await Promise.allSettled([checkPostgres(databaseUrl), checkRedis(redisUrl)]);
  if (postgresCheck.status === "rejected") throw postgresCheck.reason;
  if (redisCheck.status === "rejected") throw redisCheck.reason;
}

/** How long each start-up check waits for an answer; a service that accepts but never answers fails after it. */
export const CHECK_TIMEOUT_MS = 5_000;

export async function checkPostgres(databaseUrl: string): Promise<void> {
  // connect_timeout covers the whole start-up exchange, so a silent server fails within it too.
  const sql = postgres(databaseUrl, { max: 1, connect_timeout: CHECK_TIMEOUT_MS / 1000, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (error) {
    throw new UnreachableError(
      `PostgreSQL is not answering at ${redact(databaseUrl)} (${(error as Error).message}). ` +
        "Start one (for example: pg_ctlcluster 15 main start, or docker compose -f infra/docker-compose.yml up -d postgres) or set DATABASE_URL.",
    );
  } finally {
    await sql.end({ timeout: 1 });
  }
}

export async function checkRedis(redisUrl: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: CHECK_TIMEOUT_MS,
    commandTimeout: CHECK_TIMEOUT_MS,
  });
  // connect() rejects with a bare "Connection is closed"; the socket error says why.
  let cause: Error | undefined;
  redis.on("error", (error: Error) => {
    cause ??= error;
  });
  let timer: NodeJS.Timeout | undefined;
  // connectTimeout ends at the TCP connection; a server that accepts and never answers the ready check needs its own deadline.
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
  });
  const answered = (async () => {
    await redis.connect();
    await redis.ping();
  })();
  answered.catch(() => {}); // when the deadline wins, disconnecting rejects it: nobody is waiting any more
  try {
    await Promise.race([answered, deadline]);
  } catch (error) {
    throw new UnreachableError(
      `Redis is not answering at ${redact(redisUrl)} (${(cause ?? (error as Error)).message}). ` +
        "Start one (for example: redis-server --daemonize yes, or docker compose -f infra/docker-compose.yml up -d redis) or set REDIS_URL.",
    );
  } finally {
    clearTimeout(timer);
    redis.disconnect();
  }
}

/** Prints a start-up failure in one line and exits; unexpected errors keep their stack. */
export function exitOnStartupError(error: unknown): never {
  // A SecretKeyError (HERALD_ENCRYPTION_KEY missing or without a stored key id) says what to set, like a config error.
  if (error instanceof ConfigError || error instanceof UnreachableError || (error instanceof Error && error.name === "SecretKeyError")) {
    console.error(`herald: ${error.message}`);
  } else {
    console.error("herald: failed to start", error);
  }
  process.exit(1);
}

/**
 * Runs `close` once on SIGTERM or SIGINT, then exits 0 (or 1 if closing
 * failed). If closing has not finished after `forceAfterMs` (for example,
 * PostgreSQL went away and a batch cannot be written) the process exits 1
 * anyway: what it did not finish is still unfinished in PostgreSQL, and
 * another worker takes it, so a hung process would protect nothing.
 */
export function onShutdown(logger: Logger, close: () => Promise<void>, forceAfterMs = 60_000): void {
  let closing = false;
  const handler = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => {
      logger.error({ forceAfterMs }, "shutdown did not finish in time; exiting");
      process.exit(1);
    }, forceAfterMs).unref();
    close().then(
      () => process.exit(0),
      (error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => handler("SIGTERM"));
  process.on("SIGINT", () => handler("SIGINT"));
}
