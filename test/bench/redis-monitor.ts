import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { closeSync, createReadStream, mkdtempSync, openSync, readSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { createDeliveryQueues, createEndpointGuard } from "@herald/queue";
import { Redis } from "ioredis";
import { pollUntil } from "./progress.ts";

const run = promisify(execFile);

/** Which process sent a command: found by its socket's local port (`ss -tnp`). */
export type Issuer = "api" | "worker" | "bench" | "other";

export interface OperationCount {
  issuer: Issuer;
  /** What the command or script does, e.g. "BullMQ add (addStandardJob)". */
  operation: string;
  /** Commands the client sent (a script call counts once). */
  calls: number;
  /** EVALSHA and EVAL among them. */
  scriptCalls: number;
  /** calls + the commands scripts ran inside: what INFO commandstats counts. */
  commands: number;
  /** The same commands by name. */
  byCommand: Record<string, number>;
}

/** Friendly names of BullMQ's scripts (the name it defines them under, less its version). */
const BULLMQ_SCRIPTS: Record<string, string> = {
  addStandardJob: "BullMQ add (addStandardJob)",
  addDelayedJob: "BullMQ add, delayed (addDelayedJob)",
  addPrioritizedJob: "BullMQ add, prioritized (addPrioritizedJob)",
  moveToActive: "BullMQ fetch (moveToActive)",
  moveToFinished: "BullMQ complete, fetching the next job (moveToFinished)",
  moveToDelayed: "BullMQ retry later / put back (moveToDelayed)",
  extendLock: "BullMQ lock renewal (extendLock)",
  extendLocks: "BullMQ lock renewal (extendLocks)",
  moveStalledJobsToWait: "BullMQ stalled-job check (moveStalledJobsToWait)",
  getCounts: "queue depth for metrics (getCounts)",
  getState: "job state (getState)",
  getStateV2: "job state (getStateV2)",
  promote: "promote a delayed job (promote)",
  removeJob: "remove a job (removeJob)",
};

const HERALD_SCRIPTS: Record<string, string> = {
  heraldGuard: "guard admissions and releases (heraldGuard)",
  heraldPark: "guard park (heraldPark)",
  heraldLeave: "guard leave (heraldLeave)",
  heraldAdmit: "admission at enqueue (heraldAdmit)",
};

/**
 * SHA1 → operation of every script Herald and BullMQ define: Herald's queue
 * package and a BullMQ queue define their commands on a connection, as the
 * apps do, and ioredis keeps each script's SHA there. Built from the same
 * source tree as the processes measured, so no Lua text is copied here.
 */
export async function scriptNames(url: string): Promise<Map<string, string>> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const queues = createDeliveryQueues({ redis, prefix: "{herald-bench-scripts}", shards: 1 });
  try {
    createEndpointGuard(redis, { prefix: "{herald-bench-scripts}", concurrency: 1, circuitThreshold: 1, circuitCooldownMs: 1, leaseMs: 1 });
    await Promise.all(queues.queues.map((queue) => queue.waitUntilReady()));
    const defined = (redis as unknown as { scriptsSet: Record<string, { sha: string }> }).scriptsSet;
    const names = new Map<string, string>();
    for (const [name, script] of Object.entries(defined)) {
      const bare = name.split(":")[0] as string;
      names.set(script.sha, HERALD_SCRIPTS[bare] ?? BULLMQ_SCRIPTS[bare] ?? `BullMQ ${bare}`);
    }
    return names;
  } finally {
    await queues.close();
    redis.disconnect();
  }
}

/** Commands that name no key: connection upkeep, whoever sends them. */
const UPKEEP = new Set([
  "ping",
  "info",
  "client",
  "cluster",
  "select",
  "hello",
  "echo",
  "script",
  "time",
  "command",
  "readonly",
  "auth",
  "quit",
]);

/** What a keyed command does, from its name and the key's shape (keys are `<prefix>:…` with the prefix in braces). */
function operationOfKey(command: string, key: string): string {
  if (key.endsWith(":marker")) return "BullMQ fetch: wait for a job (marker)";
  if (/:ep:[^:]+:queued$/.test(key)) return "parked backlog: count of released jobs";
  if (/:ep:[^:]+:circuit$/.test(key)) return "guard state read (scheduler)";
  if (key.endsWith(":parked")) return "parked set (scheduler)";
  if (key.endsWith(":again")) return "operator retries (again list)";
  if (key.includes(":lock:")) return "scheduler and reconciler locks";
  if (key.endsWith(":scheduler:cursor")) return "scheduler cursor";
  if (command === "exists") return "reconciler: job existence check";
  if (/:(deliveries|backlog):meta$/.test(key)) return "BullMQ queue settings (meta)";
  if (/:(deliveries|backlog):events$/.test(key)) return "BullMQ event stream";
  const shape = key.replace(/\{[^}]*\}/, "{…}").replace(/[a-z]{2,4}_[0-9A-Za-z]{8,}/g, "<id>");
  return `${command} ${shape}`;
}

/**
 * The first `limit` arguments of a MONITOR line (`<time> [<db> <source>] "cmd" "arg" …`),
 * unescaped enough to read names, SHAs and keys; a job's payload further on is not parsed.
 */
export function parseMonitorLine(line: string, limit = 4): { source: string; args: string[] } | undefined {
  const open = line.indexOf("[");
  const close = line.indexOf("]", open);
  if (open < 0 || close < 0) return undefined;
  const source = line.slice(open + 1, close).split(" ")[1] ?? "";
  const args: string[] = [];
  let i = close + 1;
  while (args.length < limit) {
    const start = line.indexOf('"', i);
    if (start < 0) break;
    let value = "";
    let j = start + 1;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === "\\") {
        j++;
        const escaped = line[j];
        if (escaped === "x") {
          value += String.fromCharCode(Number.parseInt(line.slice(j + 1, j + 3), 16));
          j += 2;
        } else value += escaped === "n" ? "\n" : escaped === "r" ? "\r" : escaped === "t" ? "\t" : (escaped ?? "");
      } else value += line[j];
    }
    args.push(value);
    i = j + 1;
  }
  return { source, args };
}

export interface MonitorSession {
  /** Marks the end of the window, stops watching and answers what was sent in the window, by who and what for. */
  stop(roles: Map<number, Issuer>): Promise<{ operations: OperationCount[]; commands: number }>;
}

/**
 * Watches every command a Redis runs (`redis-cli monitor` into a file, so the
 * suite's event loop does not parse them while the run is measured) between
 * two markers the suite sends, and classifies each: scripts by SHA (inner
 * commands go with the script that ran them), other commands by key shape,
 * and every one by the process that sent it (`roles`: pid → issuer).
 * MONITOR slows Redis down: a monitored run measures counts, not speed.
 */
export async function startMonitor(url: string, scripts: Map<string, string>): Promise<MonitorSession> {
  const dir = mkdtempSync(join(tmpdir(), "herald-monitor-"));
  const file = join(dir, "monitor.txt");
  const fd = openSync(file, "w");
  const child: ChildProcess = spawn("redis-cli", ["-u", url, "monitor"], { stdio: ["ignore", fd, "inherit"] });
  closeSync(fd);
  const exited = once(child, "exit");
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const token = `herald-monitor-${process.pid}-${Date.now()}`;
  const size = () => statSync(file).size;
  try {
    // redis-cli prints OK once MONITOR is on.
    if ((await pollUntil(async () => size() > 0, { timeoutMs: 20_000 })) === undefined) throw new Error("redis-cli monitor did not start");
    await redis.echo(`${token}:start`);
  } catch (error) {
    child.kill();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const port = Number(new URL(url).port || 6379);

  return {
    async stop(roles) {
      try {
        const sockets = await socketOwners(port);
        await redis.echo(`${token}:end`);
        // The end marker in the file means every command before it is there too.
        const seen = await pollUntil(async () => tail(file).includes(`${token}:end`), { intervalMs: 100, timeoutMs: 120_000 });
        if (seen === undefined) throw new Error("the monitor never saw the end marker");
        const issuerOf = (source: string): Issuer => {
          const pid = sockets.get(Number(source.split(":").at(-1)));
          return pid === undefined ? "other" : (roles.get(pid) ?? (pid === process.pid ? "bench" : "other"));
        };
        return await classify(file, token, scripts, issuerOf);
      } finally {
        child.kill();
        await exited;
        redis.disconnect();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The last few kilobytes of a file. */
function tail(file: string): string {
  const fd = openSync(file, "r");
  try {
    const size = statSync(file).size;
    const length = Math.min(4096, size);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString("latin1");
  } finally {
    closeSync(fd);
  }
}

/** Local port → pid of every TCP connection to `port` on this machine that this user can see (`ss -tnp`). */
async function socketOwners(port: number): Promise<Map<number, number>> {
  const { stdout } = await run("ss", ["-tnpH", "state", "established", `dport = :${port}`]);
  const owners = new Map<number, number>();
  for (const line of stdout.split("\n")) {
    const local = /\s127\.0\.0\.1:(\d+)\s/.exec(line)?.[1];
    const pid = /pid=(\d+)/.exec(line)?.[1];
    if (local && pid) owners.set(Number(local), Number(pid));
  }
  return owners;
}

async function classify(
  file: string,
  token: string,
  scripts: Map<string, string>,
  issuerOf: (source: string) => Issuer,
): Promise<{ operations: OperationCount[]; commands: number }> {
  const counts = new Map<string, OperationCount>();
  const count = (issuer: Issuer, operation: string, command: string, kind: "call" | "inner") => {
    const key = `${issuer}\u0000${operation}`;
    let entry = counts.get(key);
    if (!entry) {
      entry = { issuer, operation, calls: 0, scriptCalls: 0, commands: 0, byCommand: {} };
      counts.set(key, entry);
    }
    entry.commands++;
    entry.byCommand[command] = (entry.byCommand[command] ?? 0) + 1;
    if (kind === "call") entry.calls++;
    if (command === "evalsha" || command === "eval") entry.scriptCalls++;
  };
  // The script whose inner commands follow (Redis 7.0 shows a script call before what it runs).
  let script: { issuer: Issuer; operation: string } | undefined;
  // MULTI / EXEC go with the operation of the command they wrap, per connection.
  const pendingMulti = new Map<string, string[]>();
  const lastOperation = new Map<string, string>();
  let inside = false;
  let total = 0;
  const lines = createInterface({ input: createReadStream(file, { encoding: "latin1" }), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!inside) {
      if (line.includes(`${token}:start`)) inside = true;
      continue;
    }
    if (line.includes(`${token}:end`)) break;
    const parsed = parseMonitorLine(line);
    if (!parsed || parsed.args.length === 0) continue;
    const command = (parsed.args[0] as string).toLowerCase();
    total++;
    if (parsed.source === "lua") {
      count(script?.issuer ?? "other", script?.operation ?? "script (unknown)", command, "inner");
      continue;
    }
    const issuer = issuerOf(parsed.source);
    if (command === "evalsha" || command === "eval") {
      const sha = command === "evalsha" ? (parsed.args[1] ?? "") : sha1(parsed.args[1] ?? "");
      script = { issuer, operation: scripts.get(sha) ?? `script ${sha.slice(0, 8)}` };
      count(issuer, script.operation, command, "call");
      continue;
    }
    script = undefined;
    if (command === "multi" || command === "exec") {
      const last = lastOperation.get(parsed.source);
      if (command === "exec" && last !== undefined && !pendingMulti.has(parsed.source)) count(issuer, last, command, "call");
      else pendingMulti.set(parsed.source, [...(pendingMulti.get(parsed.source) ?? []), command]);
      continue;
    }
    const operation =
      UPKEEP.has(command) || parsed.args.length < 2 ? "connection upkeep" : operationOfKey(command, parsed.args[1] as string);
    count(issuer, operation, command, "call");
    lastOperation.set(parsed.source, operation);
    for (const wrapped of pendingMulti.get(parsed.source) ?? []) count(issuer, operation, wrapped, "call");
    pendingMulti.delete(parsed.source);
  }
  for (const [source, wrapped] of pendingMulti) for (const command of wrapped) count(issuerOf(source), "MULTI / EXEC", command, "call");
  return { operations: [...counts.values()].sort((a, b) => b.commands - a.commands), commands: total };
}

const sha1 = (text: string) => createHash("sha1").update(text, "latin1").digest("hex");
