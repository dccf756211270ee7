import { fileURLToPath } from "node:url";
import { drizzle } from "drizzle-orm/postgres-js";
import { migrate } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { createDayPartitions, DAY_MS } from "./partitions.ts";

/** Days after today whose partitions a migration makes (the workers' default HERALD_PARTITIONS_AHEAD). */
const MIGRATE_DAYS_AHEAD = 7;

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));

/**
 * Applies the committed migrations. Safe to run from many processes at once:
 * an advisory lock makes the others wait instead of racing.
 */
export async function runMigrations(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(7283461)`;
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
    // Today's and the next days' partitions, which the workers' maintenance pass otherwise keeps ahead: a
    // database whose workers were all stopped for longer than that takes writes again after a migrate.
    const today = Date.now() - (Date.now() % DAY_MS);
    await createDayPartitions(
      sql,
      Array.from({ length: MIGRATE_DAYS_AHEAD + 1 }, (_, n) => new Date(today + n * DAY_MS)),
    );
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Creates the database named in the URL when it does not exist yet (local quick start). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const probe = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await probe`select 1`;
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== "3D000") throw error;
  } finally {
    await probe.end({ timeout: 1 });
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = "/postgres";
  const admin = postgres(target.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name.replaceAll('"', '""')}"`);
  } catch (error) {
    if ((error as { code?: string }).code !== "42P04") throw error;
  } finally {
    await admin.end({ timeout: 1 });
  }
  return true;
}
