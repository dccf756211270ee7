import { runMigrations } from "./migrate.ts";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/herald";
try {
  await runMigrations(url);
  console.log(`migrations applied to ${url.replace(/\/\/[^@]*@/, "//")}`);
} catch (error) {
  console.error(`could not migrate ${url}: ${(error as Error).message}`);
  process.exit(1);
}
