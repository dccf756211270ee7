/**
 * A server process `npm start` or `npm test` runs for itself (an embedded
 * PostgreSQL, a private redis-server): started, awaited until it says it is
 * ready, and stopped again before the script exits.
 *
 * Each runs in a process group of its own (`detached`), so the Ctrl-C a
 * terminal sends to its foreground group reaches the script and its apps but
 * not the server: the apps shut down gracefully while PostgreSQL and Redis
 * still answer, and only then does the script stop the servers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { freePort, waitForReadyLine } from "@herald/runtime/server-process";

/** An error the start-up explains in one line, with what to do: printed as it is, without a stack. */
export class LocalServiceError extends Error {}

/** How long a server may take to say it is ready, on a busy machine. */
const READY_TIMEOUT_MS = 60_000;
/** How long a server may take to shut down cleanly before it is killed. */
const STOP_TIMEOUT_MS = 30_000;

export interface ServiceProcess {
  child: ChildProcess;
  /** What the server printed until it was ready (its version, say). */
  startupOutput: string;
  /** Sends `signal` (the server's clean shutdown) and resolves once it has exited; kills it if that takes too long. */
  stop(): Promise<void>;
}

export interface ServiceSpec {
  name: string;
  command: string;
  args: string[];
  /** A line the server prints once it accepts connections. */
  ready: string;
  /** Everything the server prints goes here (appended), so its pipe never fills and a failure can be read later. */
  logFile: string;
  /** The signal of the server's clean, fast shutdown. */
  stopSignal: NodeJS.Signals;
  /** Added to this process's environment. */
  env?: NodeJS.ProcessEnv;
  /** Run as this user and group (root starting PostgreSQL). */
  uid?: number;
  gid?: number;
}

/** Live servers, killed outright if the script exits without stopping them (an uncaught error, say). */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Starts the server and resolves once it prints `ready`; rejects with its output if it exits first or takes too long. */
export async function startServiceProcess(spec: ServiceSpec): Promise<ServiceProcess> {
  const log = createWriteStream(spec.logFile, { flags: "a" });
  const child = spawn(spec.command, spec.args, {
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, ...spec.env },
    ...(spec.uid === undefined ? {} : { uid: spec.uid, gid: spec.gid }),
  });
  live.add(child);
  const closed = new Promise<void>((resolve) => {
    child.once("close", () => {
      live.delete(child);
      log.end();
      resolve();
    });
  });
  const { output } = await waitForReadyLine(child, {
    ready: spec.ready,
    timeoutMs: READY_TIMEOUT_MS,
    exited: closed,
    notReady: (reason, output) =>
      reason === "timeout"
        ? new Error(`${spec.name} did not say it was ready within ${READY_TIMEOUT_MS / 1000} s:\n${output}`)
        : new ExitedEarly(spec.name, child.exitCode ?? child.signalCode, output),
    onOutput: (chunk) => log.write(chunk),
    // Only the start-up is kept: a server that runs for hours prints to its log file alone.
    collectAfterReady: false,
  });
  return {
    child,
    startupOutput: output(),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(spec.stopSignal);
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The server exited before it was ready; `output` is what it printed, to be searched for the reason. */
export class ExitedEarly extends Error {
  constructor(
    name: string,
    code: number | string | null,
    readonly output: string,
  ) {
    super(`${name} exited (${code}) before it was ready:\n${output.trim()}`);
  }
}

/** Starts a server on a free port, choosing another port if one was taken between the check and the bind. */
export async function startOnFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await freePort());
    } catch (error) {
      if (attempt >= 3 || !(error instanceof ExitedEarly) || !/address already in use/i.test(error.output)) throw error;
    }
  }
}
