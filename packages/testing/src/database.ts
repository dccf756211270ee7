import { randomBytes } from "node:crypto";
import { runMigrations } from "@herald/schema/migrate";
import postgres from "postgres";

/** Where test databases are created from; the machine's `test` database by default. */
export const TEST_ADMIN_URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** A new, migrated database for one test file, so files run in parallel and repeatedly. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `herald_test_${Date.now().toString(36)}_${randomBytes(4).toString("hex")}`;
  const admin = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 1 });
  }
  const url = new URL(TEST_ADMIN_URL);
  url.pathname = `/${name}`;
  await runMigrations(url.toString());
  return {
    url: url.toString(),
    name,
    async drop() {
      const admin2 = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
      try {
        await admin2.unsafe(`drop database if exists ${name} with (force)`);
      } finally {
        await admin2.end({ timeout: 1 });
      }
    },
  };
}
