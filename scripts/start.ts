/**
 * The quick start: PostgreSQL and Redis if this machine has none, migrations,
 * then one API and one worker in this terminal. Operators running several
 * workers use `npm run start:api` and `npm run start:worker` with their own
 * configuration instead.
 *
 * The apps run as plain `node dist/main.mjs` children of this process, with no
 * npm or shell between: a SIGTERM or SIGINT sent here is passed to each of
 * them, and this process exits only after they have shut down gracefully and
 * the PostgreSQL and Redis it started (see local-services.ts) have stopped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { apiConfigSchema, parseConfig } from "@herald/config";
import { checkServices, exitOnStartupError } from "@herald/runtime";
import { ensureDatabase, runMigrations } from "@herald/schema/migrate";
import { z } from "zod";
import { bundleApp } from "./bundle-app.ts";
import { decide, embeddedSetting, type LocalServices, startLocalServices } from "./local-services.ts";
import { LocalServiceError } from "./service-process.ts";

const ROOT = join(import.meta.dirname, "..");
const APPS = ["api", "worker"].map((name) => join(ROOT, "apps", name));

const DEV_ADMIN_TOKEN = "herald-dev-admin-token";
const LOCAL_KEY_FILE = join(ROOT, ".herald", "encryption-key");

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

let services: LocalServices | undefined;
let children: ChildProcess[] = [];
let stopping = false;

/** Stops the apps (if running), then the services this script started, then exits (0 after a signal; `exitCode` when an app died). */
function stop(signal: NodeJS.Signals, exitCode?: number): void {
  if (stopping) return;
  process.exitCode = exitCode;
  stopping = true;
  const running = children.filter((child) => child.exitCode === null && child.signalCode === null);
  for (const child of running) child.kill(signal);
  void Promise.all(running.map((child) => new Promise((resolve) => child.once("exit", resolve))))
    .then(() => services?.stop())
    .finally(() => process.exit());
}
// From the very start: a Ctrl-C while PostgreSQL is starting must still stop it.
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));

try {
  const { HERALD_EMBEDDED, HERALD_DATA_DIR } = parseConfig(
    z.object({ HERALD_EMBEDDED: embeddedSetting, HERALD_DATA_DIR: z.string().default(join(ROOT, ".herald")) }),
    env,
  );
  const wanted = await decide({
    embedded: HERALD_EMBEDDED,
    postgresConfigured: Boolean(process.env.DATABASE_URL),
    redisConfigured: Boolean(process.env.REDIS_URL),
  });
  if (wanted.postgres || wanted.redis) {
    const started = startLocalServices(wanted, { dataDir: HERALD_DATA_DIR, durable: true });
    services = started.services;
    await started.ready;
    const shown = relative(process.cwd(), HERALD_DATA_DIR).startsWith("..") ? HERALD_DATA_DIR : relative(process.cwd(), HERALD_DATA_DIR);
    const { postgres, redis } = started.services;
    if (postgres) {
      env.DATABASE_URL = postgres.url("herald");
      console.log(`PostgreSQL ${postgres.version}, embedded: 127.0.0.1:${postgres.port}, data in ${join(shown, "postgres")}`);
    }
    if (redis) {
      env.REDIS_URL = redis.url;
      console.log(`Redis ${redis.version}, private redis-server: 127.0.0.1:${redis.port}, data in ${join(shown, "redis")}`);
    }
    if (postgres) console.log(`to start again from nothing: stop Herald, then rm -rf ${shown}`);
  }
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
  await services?.stop();
  if (error instanceof LocalServiceError) {
    console.error(`herald: ${error.message}`);
    process.exit(1);
  }
  exitOnStartupError(error);
}

if (!stopping) {
  children = APPS.map((app) => spawn(process.execPath, [join(app, "dist", "main.mjs")], { env, stdio: "inherit" }));
  for (const child of children) {
    child.on("exit", (code) => {
      // One process died on its own: bring the other down too rather than run half a Herald.
      if (!stopping) stop("SIGTERM", code ?? 1);
    });
  }
}
