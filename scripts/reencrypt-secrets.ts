/**
 * `npm run secrets:reencrypt`: after adding a new key in front of
 * HERALD_ENCRYPTION_KEY (`new:…,old:…`), encrypts every signing secret under
 * the new key, and any still stored plain; then the old key can be removed.
 */
import { parseConfig, parseEncryptionKeys } from "@herald/config";
import { checkPostgres, exitOnStartupError } from "@herald/runtime";
import { createSql } from "@herald/schema/client";
import { reencryptSecrets } from "@herald/schema/secrets";
import { z } from "zod";

try {
  const config = parseConfig(
    z.object({
      DATABASE_URL: z.string().default("postgres://postgres@127.0.0.1:5432/herald"),
      HERALD_ENCRYPTION_KEY: z.string({ error: "is required: the keys to re-encrypt with, newest first" }),
    }),
    process.env,
  );
  let keys: ReturnType<typeof parseEncryptionKeys>;
  try {
    keys = parseEncryptionKeys(config.HERALD_ENCRYPTION_KEY);
  } catch (error) {
    throw new Error(`HERALD_ENCRYPTION_KEY: ${(error as Error).message}`);
  }
  await checkPostgres(config.DATABASE_URL);
  const sql = createSql(config.DATABASE_URL, { appName: "herald-reencrypt", max: 1 });
  try {
    const count = await reencryptSecrets(sql, keys);
    console.log(`${count} signing secret(s) now encrypted under key ${keys.current.id}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
} catch (error) {
  exitOnStartupError(error);
}
