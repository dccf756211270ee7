import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

/**
 * The CLI as its users run it: a separate process with its own stdout and
 * stderr (pipes, so not a terminal), built once per test file into one
 * bundle so that each run costs a Node.js start and no TypeScript loader.
 */
export interface Cli {
  run(args: string[], options?: RunOptions): Promise<CliResult>;
  start(args: string[], options?: RunOptions): CliProcess;
  close(): void;
}

export interface RunOptions {
  env?: Record<string, string>;
  input?: string;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), as the output arrives. */
  waitFor(pattern: RegExp, stream?: "stdout" | "stderr", timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Sends a signal and resolves with the exit code and everything printed. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
}

export async function buildCli(env: Record<string, string>): Promise<Cli> {
  const dir = mkdtempSync(join(tmpdir(), "herald-cli-"));
  const bundle = join(dir, "herald.mjs");
  await build({
    stdin: {
      contents: 'import { main } from "./src/main.ts";\nprocess.exitCode = await main(process.argv);\n',
      resolveDir: join(import.meta.dirname, ".."),
      loader: "ts",
    },
    outfile: bundle,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    // Bundled CommonJS packages still call require.
    banner: { js: 'import { createRequire } from "node:module"; const require = createRequire(import.meta.url);' },
  });

  function start(args: string[], options: RunOptions = {}): CliProcess {
    const child = spawn(process.execPath, [bundle, ...args], {
      env: { PATH: process.env.PATH ?? "", ...env, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const output = { stdout: "", stderr: "" };
    const exited = once(child, "exit").then(([code]) => code as number | null);
    child.stdout?.on("data", (chunk: Buffer) => {
      output.stdout += chunk.toString();
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output.stderr += chunk.toString();
    });
    child.stdin?.end(options.input ?? "");
    return {
      child,
      stdout: () => output.stdout,
      stderr: () => output.stderr,
      waitFor(pattern, stream = "stdout", timeoutMs = 30_000) {
        return new Promise((resolve, reject) => {
          const check = () => {
            const found = output[stream].match(pattern);
            if (!found) return false;
            clearTimeout(timer);
            child.stdout?.off("data", check);
            child.stderr?.off("data", check);
            resolve(found);
            return true;
          };
          const timer = setTimeout(() => {
            child.stdout?.off("data", check);
            child.stderr?.off("data", check);
            reject(new Error(`no ${pattern} in ${stream} within ${timeoutMs} ms:\n${output.stdout}\n${output.stderr}`));
          }, timeoutMs);
          if (check()) return;
          // Registered after the collectors above, so the output already holds the chunk.
          child.stdout?.on("data", check);
          child.stderr?.on("data", check);
          exited.then(() =>
            setImmediate(() => check() || reject(new Error(`exited without ${pattern}:\n${output.stdout}\n${output.stderr}`))),
          );
        });
      },
      async stop(signal = "SIGINT") {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        const code = await exited;
        return { code, ...output };
      },
    };
  }

  return {
    start,
    async run(args, options) {
      const running = start(args, options);
      const code = await once(running.child, "close").then(([exitCode]) => exitCode as number | null);
      return { code, stdout: running.stdout(), stderr: running.stderr() };
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
