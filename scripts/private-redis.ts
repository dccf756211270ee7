/**
 * A redis-server of Herald's own, from the PATH, on a free loopback port with
 * its data in a directory of ours. Redis holds only the queue: what it loses
 * the worker finds again in PostgreSQL, so durability here is a convenience.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { LocalServiceError, startOnFreePort, startServiceProcess } from "./service-process.ts";

export const REDIS_INSTALL_HINT =
  "redis-server is not on the PATH: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) " +
  "or run one in Docker (docker run -d -p 6379:6379 redis:7), or set REDIS_URL";

export interface PrivateRedisServer {
  port: number;
  url: string;
  version: string;
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  dir: string;
  logFile: string;
  /** `true`: snapshots in `dir` (on shutdown too), read again at the next start; `false`: nothing written to disk. */
  durable: boolean;
}

/** The redis-server on the PATH, or undefined. */
export function findRedisServer(): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, "redis-server");
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

export async function startPrivateRedisServer(options: PrivateRedisOptions): Promise<PrivateRedisServer> {
  const command = findRedisServer();
  if (!command) throw new LocalServiceError(REDIS_INSTALL_HINT);
  // Without --save, redis-server keeps its default snapshot schedule and saves when it is stopped.
  const persistence = options.durable ? [] : ["--save", "", "--appendonly", "no"];
  return startOnFreePort(async (port) => {
    const server = await startServiceProcess({
      name: "redis-server",
      command,
      args: ["--port", String(port), "--bind", "127.0.0.1", "--dir", options.dir, ...persistence],
      ready: "Ready to accept connections",
      logFile: options.logFile,
      stopSignal: "SIGTERM",
    });
    const version = /version=([\d.]+)/.exec(server.startupOutput)?.[1] ?? "";
    return { port, url: `redis://127.0.0.1:${port}`, version, stop: server.stop };
  });
}
