import { ConfigError } from "@herald/config";
import { Redis } from "ioredis";
import { type Logger, pino } from "pino";
import postgres from "postgres";

export { TtlCache } from "./ttl-cache.ts";

export function createLogger(level: string, name: string): Logger {
  return pino({ level, name, base: { pid: process.pid } });
}

/** A connection BullMQ can use: it must retry forever rather than fail commands. */
export function createRedis(url: string, options: { lazy?: boolean } = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: options.lazy ?? false });
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*)(:[^@/]*)?@/, (_m, user) => `//${user ? `${user}@` : ""}`);
}

export class UnreachableError extends Error {}

/**
 * Start-up check: PostgreSQL and Redis must answer. A failure becomes one line
 * that names the URL tried and how to start the service, not a stack trace.
 */
export async function checkServices(databaseUrl: string, redisUrl: string): Promise<void> {
  await checkPostgres(databaseUrl);
  await checkRedis(redisUrl);
}

export async function checkPostgres(databaseUrl: string): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, connect_timeout: 5, onnotice: () => {} });
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
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 5000 });
  // connect() rejects with a bare "Connection is closed"; the socket error says why.
  let cause: Error | undefined;
  redis.on("error", (error: Error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new UnreachableError(
      `Redis is not answering at ${redact(redisUrl)} (${(cause ?? (error as Error)).message}). ` +
        "Start one (for example: redis-server --daemonize yes, or docker compose -f infra/docker-compose.yml up -d redis) or set REDIS_URL.",
    );
  } finally {
    redis.disconnect();
  }
}

/** Prints a start-up failure in one line and exits; unexpected errors keep their stack. */
export function exitOnStartupError(error: unknown): never {
  if (error instanceof ConfigError || error instanceof UnreachableError) {
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
