/**
 * Starting a server as a child process: a free port for it, and waiting for it
 * to say it is ready. What `npm start` does for its embedded PostgreSQL and
 * private redis-server, and what the test harness does for the redis-servers
 * and Herald processes it starts. Only node: built-ins, so scripts and tests
 * can both import it; not part of the index, so the apps' bundles never carry it.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

/** A loopback port nobody listens on right now (the kernel picks it); a server that loses it meanwhile must be started again. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || address === null) throw new Error("no free port");
  return address.port;
}

export interface ReadyLineOptions {
  /** What the child prints (on stdout or stderr) once it is ready: a literal text or a pattern. */
  ready: string | RegExp;
  timeoutMs: number;
  /** Settles once the child has gone: a child that goes before it is ready fails the wait. */
  exited: Promise<unknown>;
  /** The error to reject with when the child is not ready in time (`timeout`) or goes first (`exited`); `output` is all it printed. */
  notReady(reason: "timeout" | "exited", output: string): Error;
  /** Every chunk the child prints, before and after it is ready (to a log file, say). */
  onOutput?: (chunk: Buffer) => void;
  /** Keep adding to `output()` after the child is ready (true), or stop there so a long-running server's output is not held (false). */
  collectAfterReady?: boolean;
}

export interface ReadyLine {
  /** The match of `ready` in what the child printed. */
  match: RegExpMatchArray;
  /** What the child has printed so far (until it was ready, with `collectAfterReady: false`). */
  output(): string;
}

function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Resolves once the child prints `ready`. If it spawns with an error, goes
 * first or takes longer than `timeoutMs`, it is killed (SIGKILL), its exit is
 * awaited, and the wait rejects: nothing is left running behind a failed start.
 */
export async function waitForReadyLine(child: ChildProcess, options: ReadyLineOptions): Promise<ReadyLine> {
  const pattern = typeof options.ready === "string" ? new RegExp(literal(options.ready)) : options.ready;
  const collectAfterReady = options.collectAfterReady ?? true;
  let output = "";
  let found: RegExpMatchArray | null = null;
  try {
    const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
      const timer = setTimeout(() => reject(options.notReady("timeout", output)), options.timeoutMs);
      const onData = (chunk: Buffer) => {
        options.onOutput?.(chunk);
        if (found && !collectAfterReady) return;
        output += chunk.toString();
        if (found) return;
        found = output.match(pattern);
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", onData);
      child.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      void options.exited.then(() => {
        clearTimeout(timer);
        reject(options.notReady("exited", output));
      });
    });
    return { match, output: () => output };
  } catch (error) {
    child.kill("SIGKILL");
    await options.exited;
    throw error;
  }
}
