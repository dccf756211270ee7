/**
 * `npm test`: every workspace's tests through turbo, one workspace at a time.
 * The tests reach PostgreSQL at TEST_DATABASE_URL and Redis at TEST_REDIS_URL
 * (the machine's defaults when unset; see packages/testing). On a machine
 * without them (or with HERALD_EMBEDDED=true), this starts an embedded
 * PostgreSQL and a private redis-server once for the whole run, throw-away,
 * in a temporary directory, passes their URLs down to every workspace's
 * tests (turbo.json lets TEST_* through), and stops them at the end.
 *
 * Arguments go to `turbo run test`, e.g. `npm test -- --filter=@herald/api`.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "@herald/config";
import { exitOnStartupError } from "@herald/runtime";
import { ensureDatabase } from "@herald/schema/migrate";
import { z } from "zod";
import { decide, embeddedSetting, type LocalServices, startLocalServices } from "./local-services.ts";
import { LocalServiceError } from "./service-process.ts";

const ROOT = join(import.meta.dirname, "..");
const env: NodeJS.ProcessEnv = { ...process.env };

let services: LocalServices | undefined;
let dataDir: string | undefined;
async function cleanUp(): Promise<void> {
  await services?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
// A signal stops the tests first (turbo passes it on); this process waits for them to end, then cleans up.
let forward: (signal: NodeJS.Signals) => void = () => {
  void cleanUp().finally(() => process.exit(1));
};
process.on("SIGINT", () => forward("SIGINT"));
process.on("SIGTERM", () => forward("SIGTERM"));

try {
  const { HERALD_EMBEDDED } = parseConfig(z.object({ HERALD_EMBEDDED: embeddedSetting }), env);
  const wanted = await decide({
    embedded: HERALD_EMBEDDED,
    postgresConfigured: Boolean(env.TEST_DATABASE_URL),
    redisConfigured: Boolean(env.TEST_REDIS_URL),
  });
  if (wanted.postgres || wanted.redis) {
    dataDir = mkdtempSync(join(tmpdir(), "herald-test-services-"));
    const started = startLocalServices(wanted, { dataDir, durable: false });
    services = started.services;
    await started.ready;
    const { postgres, redis } = started.services;
    if (postgres) {
      // Like the machine's: a `test` database the tests connect to and create their own databases from.
      env.TEST_DATABASE_URL = postgres.url("test");
      await ensureDatabase(env.TEST_DATABASE_URL);
      console.log(`tests use an embedded PostgreSQL ${postgres.version} at 127.0.0.1:${postgres.port}, for this run only`);
    }
    if (redis) {
      env.TEST_REDIS_URL = redis.url;
      console.log(`tests use a private redis-server ${redis.version} at 127.0.0.1:${redis.port}, for this run only`);
    }
  }
} catch (error) {
  await cleanUp();
  if (error instanceof LocalServiceError) {
    console.error(`herald: ${error.message}`);
    process.exit(1);
  }
  exitOnStartupError(error);
}

const turbo = spawn(join(ROOT, "node_modules", ".bin", "turbo"), ["run", "test", "--concurrency=1", ...process.argv.slice(2)], {
  cwd: ROOT,
  env,
  stdio: "inherit",
});
forward = (signal) => turbo.kill(signal);
const [code, signal] = (await once(turbo, "exit")) as [number | null, NodeJS.Signals | null];
await cleanUp();
process.exit(code ?? (signal ? 1 : 0));
