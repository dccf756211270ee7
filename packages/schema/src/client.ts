import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as tables from "./tables.ts";

export type Sql = postgres.Sql;

export interface DatabaseOptions {
  /** Pool size; postgres.js opens connections lazily up to this many. */
  max?: number;
  /** Application name shown in pg_stat_activity. */
  appName?: string;
  /** PostgreSQL's statement_timeout for every statement of this pool; 0 turns it off. */
  statementTimeoutMs?: number;
  /** How long opening one connection (TCP and start-up) may take. */
  connectTimeoutMs?: number;
}

/** Long enough for any statement Herald writes; short enough that a stuck one ends. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/**
 * Seconds before a closed connection opens again, by consecutive failures.
 * postgres.js waits up to 20 s by default, and every query that arrives while
 * the database is down waits for one such attempt: publishes then hang for the
 * whole outage and readiness lags for seconds after it. Refused connections are
 * cheap, so a quarter of a second at most.
 */
export function reconnectBackoff(failures: number): number {
  return Math.min(0.01 * 2 ** failures, 0.25);
}

/** Date and time types (and their arrays) whose parsers and serializers drizzle replaces with pass-throughs. */
const TIME_TYPES = [1082, 1083, 1114, 1184, 1182, 1183, 1115, 1185];

/**
 * Opens a lazily connecting pool; nothing happens until the first query.
 *
 * One rule for timestamps in the whole codebase: the client parses them, so a
 * `timestamptz` column is a `Date` whether it was read through drizzle or
 * through raw `sql`, in the API and in the worker alike. drizzle installs
 * pass-through parsers on the client it is given (it maps its own columns from
 * strings); they are put back afterwards, since its `Date` columns accept a
 * `Date` as well as a string.
 */
export function createDatabase(url: string, options: DatabaseOptions = {}) {
  const sql = createSql(url, options);
  const { parsers, serializers } = sql.options;
  const kept = TIME_TYPES.map((type) => [type, parsers[type], serializers[type]] as const);
  const db = drizzle(sql, { schema: tables });
  for (const [type, parser, serializer] of kept) {
    restore(parsers, type, parser);
    restore(serializers, type, serializer);
  }
  return { sql, db };
}

function restore(map: Record<number, (value: never) => unknown>, type: number, value: ((value: never) => unknown) | undefined): void {
  // An array type without an entry gets one from the element type when the first connection reads the catalog.
  if (value) map[type] = value;
  else delete map[type];
}

/**
 * A plain postgres.js pool with its standard type handling (Dates in and out,
 * typed arrays). Every statement has a deadline and a lost database fails
 * queries within a bounded time instead of queueing them for the outage, so
 * callers can answer "unavailable" rather than hang.
 */
export function createSql(url: string, options: DatabaseOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: (options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS) / 1000,
    backoff: reconnectBackoff,
    connection: {
      application_name: options.appName ?? "herald",
      statement_timeout: options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS,
    },
  });
}

export type Database = ReturnType<typeof createDatabase>["db"];
