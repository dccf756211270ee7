import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitForReadyLine } from "@herald/runtime/server-process";

/** How long a redis-server may take to say it is ready, on a busy machine. */
const READY_TIMEOUT_MS = 20_000;

/** Live redis-server children, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export interface RedisServerProcess {
  child: ChildProcess;
  /** SIGTERM (or `signal`), then resolves once the process has exited and its directory is removed. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns one redis-server on `port` with its own temporary directory and no
 * persistence, and resolves when it accepts connections. Rejects with the
 * server's output when it exits first (a port taken meanwhile, say).
 */
export async function spawnRedisServer(port: number, extraArgs: string[] = []): Promise<RedisServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), "herald-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extraArgs];
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => {
      live.delete(child);
      rmSync(dir, { recursive: true, force: true });
      resolve();
    });
  });
  await waitForReadyLine(child, {
    ready: "Ready to accept connections",
    timeoutMs: READY_TIMEOUT_MS,
    exited,
    notReady: (reason, output) =>
      new Error(
        reason === "timeout"
          ? `redis-server on port ${port} not ready within ${READY_TIMEOUT_MS} ms:\n${output}`
          : `redis-server on port ${port} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${output}`,
      ),
  });
  return {
    child,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Spawns a redis-server on a free port, trying a few ports in case another process takes one between the check and the bind. */
export async function spawnOnFreePort(args: (port: number) => Promise<string[]> | string[] = () => []) {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return { port, server: await spawnRedisServer(port, await args(port)) };
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("Address already in use")) throw error;
    }
  }
}

export interface PrivateRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM, or SIGKILL for a crash) and waits for it to exit: Redis is unreachable until `start()`. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port, empty, after `stop()`. */
  start(): Promise<void>;
  /** `stop()` then `start()`: a short outage that loses every key. */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its connections and accepts new ones, and answers nothing (a hung Redis). */
  freeze(): void;
  /** SIGCONT after `freeze()`. */
  thaw(): void;
}

/**
 * A redis-server of the test's own, on a free loopback port, without
 * persistence: for tests that break, flush or count Redis, and must never do
 * that to the machine's shared one.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  const first = await spawnOnFreePort();
  const port = first.port;
  let server: RedisServerProcess | undefined = first.server;
  const handle: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop(signal) {
      await server?.stop(signal);
      server = undefined;
    },
    async start() {
      if (server) throw new Error(`the private redis-server on port ${port} is already running`);
      server = await spawnRedisServer(port);
    },
    async restart() {
      await handle.stop();
      await handle.start();
    },
    freeze: () => server?.child.kill("SIGSTOP"),
    thaw: () => server?.child.kill("SIGCONT"),
  };
  return handle;
}
