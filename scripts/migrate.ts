/** `npm run db:migrate`: applies the committed migrations to DATABASE_URL. */
import { parseConfig } from "@herald/config";
import { checkPostgres, exitOnStartupError } from "@herald/runtime";
import { runMigrations } from "@herald/schema/migrate";
import { z } from "zod";

try {
  const { DATABASE_URL } = parseConfig(
    z.object({ DATABASE_URL: z.string().default("postgres://postgres@127.0.0.1:5432/herald") }),
    process.env,
  );
  await checkPostgres(DATABASE_URL);
  await runMigrations(DATABASE_URL);
  console.log(`migrations applied to ${new URL(DATABASE_URL).host}${new URL(DATABASE_URL).pathname}`);
} catch (error) {
  exitOnStartupError(error);
}
