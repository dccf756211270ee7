import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { REPO_ROOT } from "@herald/testing";

/**
 * What the process tests share: the npm commands run exactly as an operator
 * types them, and a look at the processes they leave behind, read from /proc.
 */

/** The lines each app prints once it is ready (not the JSON log lines). */
export const API_STARTED = /herald api listening on (http:\/\/\S+)/;
export const WORKER_STARTED = /herald worker started/;

export interface OperatorCommand {
  /** The process the test started: `npm` itself, the one an operator would signal. */
  child: ChildProcess;
  pid: number;
  output(): string;
  exited: Promise<number | null>;
  /** Resolves with the first match of `pattern` in everything printed so far or later; rejects if the command exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/**
 * `npm <args>` in the repository root, with only PATH, HOME and `env` in its
 * environment. With `ownGroup`, npm leads a process group of its own, as a
 * terminal's foreground job does, so the test can signal the whole group the
 * way Ctrl-C does.
 */
export function runNpm(args: string[], env: Record<string, string>, { ownGroup = false } = {}): OperatorCommand {
  const child = spawn("npm", args, {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: ownGroup,
  });
  if (child.pid === undefined) throw new Error(`npm ${args.join(" ")} did not start`);
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  // "close", not "exit": a line printed just before exiting may still be in the pipe when "exit" fires.
  const exited = once(child, "close").then(([code]) => code as number | null);
  return {
    child,
    pid: child.pid,
    output: () => output,
    exited,
    waitFor(pattern, timeoutMs = 90_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = output.match(pattern);
          if (!found) return;
          done();
          resolve(found);
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`npm ${args.join(" ")} printed no ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
        exited.then((code) => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`npm ${args.join(" ")} exited with ${code} before printing ${pattern}:\n${output}`));
        });
      });
    },
  };
}

/** A process as /proc knows it; the start time tells a reused pid from the original. */
export interface ProcessEntry {
  pid: number;
  startTime: string;
  command: string;
}

function readStat(pid: number): { ppid: number; state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name in parentheses may contain spaces; the fields after it do not.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] as string, ppid: Number(fields[1]), startTime: fields[19] as string };
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** `root` and every process below it, as they are now. */
export function processTree(root: number): ProcessEntry[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
  }
  const tree: ProcessEntry[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    const stat = readStat(pid);
    if (!stat) continue;
    tree.push({ pid, startTime: stat.startTime, command: commandLine(pid) });
    queue.push(...(children.get(pid) ?? []));
  }
  return tree;
}

/** Still running: there, the same process (same start time), and not a zombie waiting to be reaped. */
export function isRunning(entry: ProcessEntry): boolean {
  const stat = readStat(entry.pid);
  return stat !== undefined && stat.startTime === entry.startTime && stat.state !== "Z" && stat.state !== "X";
}

/** Waits until none of `entries` runs; answers the ones still running after `timeoutMs`. */
export async function waitUntilGone(entries: ProcessEntry[], timeoutMs = 60_000): Promise<ProcessEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const running = entries.filter(isRunning);
    if (running.length === 0 || Date.now() > deadline) return running;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Clean-up after a failed test: what a broken signal chain left running is killed outright. */
export function killAll(entries: ProcessEntry[]): void {
  for (const entry of entries.filter(isRunning)) process.kill(entry.pid, "SIGKILL");
}

/**
 * The npm commands a test file runs and every process their trees have been
 * seen with, so that what a failed test leaves running can be killed: a broken
 * signal chain orphans processes that no tree below npm shows any more.
 */
export class OperatorCommands {
  private readonly commands: OperatorCommand[] = [];
  private readonly seen: ProcessEntry[] = [];

  /** `runNpm`, remembered for `killLeftovers`. */
  run(args: string[], env: Record<string, string>, options: { ownGroup?: boolean } = {}): OperatorCommand {
    const command = runNpm(args, env, options);
    this.commands.push(command);
    return command;
  }

  /** The command's process tree as it is now, remembered for `killLeftovers`. */
  tree(command: OperatorCommand): ProcessEntry[] {
    const tree = processTree(command.pid);
    this.seen.push(...tree);
    return tree;
  }

  /** Kills outright what still runs of the commands' trees and of every process seen, then forgets them all. */
  killLeftovers(): void {
    killAll([...this.commands.flatMap((command) => processTree(command.pid)), ...this.seen]);
    this.commands.length = 0;
    this.seen.length = 0;
  }
}

/** Whether a new server can listen on the port again, which it cannot while any process holds it. */
export async function portIsFree(port: number, host = "127.0.0.1"): Promise<boolean> {
  const server = createServer();
  try {
    server.listen(port, host);
    await once(server, "listening");
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") return false;
    throw error;
  } finally {
    server.close();
  }
}
