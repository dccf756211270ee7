import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { waitForReadyLine } from "@herald/runtime/server-process";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export interface HeraldProcess {
  child: ChildProcess;
  output: () => string;
  /** SIGTERM, then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface StartOptions {
  /**
   * Run the production bundle (`apps/<app>/dist/main.mjs`, made by
   * `npm run build`) instead of the TypeScript through tsx: what benchmarks
   * measure. Tests run the source, so they need no build step.
   */
  built?: boolean;
  timeoutMs?: number;
}

/**
 * Starts an app as a real child process and resolves when it prints the line
 * that says it is ready.
 */
export async function startProcess(
  app: "api" | "worker",
  env: Record<string, string>,
  { built = false, timeoutMs = 60_000 }: StartOptions = {},
): Promise<HeraldProcess & { match: RegExpMatchArray }> {
  const readyPattern = app === "api" ? /listening on (http:\/\/\S+)/ : /worker started/;
  const entry = built ? [`apps/${app}/dist/main.mjs`] : ["--import", "tsx", `apps/${app}/src/main.ts`];
  const child = spawn(process.execPath, entry, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HERALD_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = once(child, "exit").then(([code]) => code as number | null);
  // A child that is not ready in time is killed: nobody else holds its handle to stop it after the failed test.
  const { match, output } = await waitForReadyLine(child, {
    ready: readyPattern,
    timeoutMs,
    exited,
    notReady: (reason, output) =>
      new Error(
        reason === "timeout"
          ? `${app} did not start within ${timeoutMs} ms:\n${output}`
          : `${app} exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${output}`,
      ),
  });
  return {
    child,
    match,
    output,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Re-checks a condition until it holds: for state that lives in another
 * process (a delivery's status in PostgreSQL) and has no event to await.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  { timeoutMs = 20_000, intervalMs = 50, what = "condition" } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
