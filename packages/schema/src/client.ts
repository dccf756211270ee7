import { drizzle } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as tables from "./tables.ts";

export type Sql = postgres.Sql;

export interface DatabaseOptions {
  /** Pool size; postgres.js opens connections lazily up to this many. */
  max?: number;
  /** Application name shown in pg_stat_activity. */
  appName?: string;
}

/**
 * Opens a lazily connecting pool; nothing happens until the first query.
 * drizzle installs its own date parsing on the shared client, so raw `sql`
 * queries get timestamps back as ISO strings, not Dates.
 */
export function createDatabase(url: string, options: DatabaseOptions = {}) {
  const sql = createSql(url, options);
  const db = drizzle(sql, { schema: tables });
  return { sql, db };
}

/**
 * A plain postgres.js pool with its standard type handling, for code that
 * writes SQL itself (the worker's hot path): Dates in and out, typed arrays.
 */
export function createSql(url: string, options: DatabaseOptions = {}): Sql {
  return postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    connection: { application_name: options.appName ?? "herald" },
  });
}

export type Database = ReturnType<typeof createDatabase>["db"];
