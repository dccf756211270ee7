/**
 * The quick start: migrations, then one API and one worker in this terminal.
 * Operators running several workers use `npm run start:api` and
 * `npm run start:worker` with their own configuration instead.
 *
 * The apps run as plain `node dist/main.mjs` children of this process, with no
 * npm or shell between: a SIGTERM or SIGINT sent here is passed to each of
 * them, and this process exits only after they have shut down gracefully.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiConfigSchema, parseConfig } from "@herald/config";
import { checkServices, exitOnStartupError } from "@herald/runtime";
import { ensureDatabase, runMigrations } from "@herald/schema/migrate";
import { bundleApp } from "./bundle-app.ts";

const APPS = ["api", "worker"].map((name) => join(import.meta.dirname, "..", "apps", name));

const DEV_ADMIN_TOKEN = "herald-dev-admin-token";
const LOCAL_KEY_FILE = join(import.meta.dirname, "..", ".herald", "encryption-key");

/**
 * The demo encrypts signing secrets too: a key made once for this checkout and
 * kept in .herald/ (ignored by git). Production sets HERALD_ENCRYPTION_KEY.
 */
function localEncryptionKey(): string {
  if (existsSync(LOCAL_KEY_FILE)) return readFileSync(LOCAL_KEY_FILE, "utf8").trim();
  const key = `local:${randomBytes(32).toString("base64")}`;
  mkdirSync(join(LOCAL_KEY_FILE, ".."), { recursive: true });
  writeFileSync(LOCAL_KEY_FILE, `${key}\n`, { mode: 0o600 });
  console.log(`made a local encryption key for signing secrets in ${LOCAL_KEY_FILE}`);
  return key;
}

const env: NodeJS.ProcessEnv = {
  HERALD_ADMIN_TOKEN: DEV_ADMIN_TOKEN,
  // A local demo delivers to receivers on this machine; production keeps the default (off).
  HERALD_ALLOW_PRIVATE_TARGETS: "true",
  ...process.env,
};
if (!env.HERALD_ENCRYPTION_KEY) env.HERALD_ENCRYPTION_KEY = localEncryptionKey();

try {
  const config = parseConfig(apiConfigSchema, env);
  await checkServices(config.DATABASE_URL.replace(/\/[^/]*$/, "/postgres"), config.REDIS_URL);
  if (await ensureDatabase(config.DATABASE_URL)) console.log(`created database ${new URL(config.DATABASE_URL).pathname.slice(1)}`);
  await runMigrations(config.DATABASE_URL);
  console.log("migrations applied");
  if (env.HERALD_ADMIN_TOKEN === DEV_ADMIN_TOKEN) {
    console.log(`admin token: ${DEV_ADMIN_TOKEN} (local default; set HERALD_ADMIN_TOKEN for anything else)`);
  }
  if (env.HERALD_ALLOW_PRIVATE_TARGETS === "true") console.log("private targets allowed (local default): webhooks may point at localhost");
  for (const app of APPS) await bundleApp(app);
} catch (error) {
  exitOnStartupError(error);
}

const children: ChildProcess[] = APPS.map((app) => spawn(process.execPath, [join(app, "dist", "main.mjs")], { env, stdio: "inherit" }));
let stopping = false;
function stop(signal: NodeJS.Signals): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill(signal);
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
let exited = 0;
for (const child of children) {
  child.on("exit", (code) => {
    exited++;
    if (!stopping) {
      // One process died on its own: bring the other down too rather than run half a Herald.
      process.exitCode = code ?? 1;
      stop("SIGTERM");
    }
    if (exited === children.length) process.exit(process.exitCode ?? 0);
  });
}
