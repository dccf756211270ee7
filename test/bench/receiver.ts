import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import type { ReceiverCommand } from "./receiver-process.ts";

export interface ReceiverCounters {
  /** Answered requests (everything but /hang). */
  count: number;
  /** Of those, answered 500 on purpose (the /fail/<percent>/ paths). */
  failed: number;
  /** Answered requests that carried a webhook-signature header. */
  signed: number;
  /** Requests to /hang that were never answered. */
  hung: number;
  /** Receive times of the first and last answered request, ms since the epoch. */
  first: number;
  last: number;
}

export interface FastReceiver {
  url: string;
  /** Another port of the same process; its /hang paths never answer. */
  hangUrl: string;
  pid: number;
  /** Zeroes the counters; `track` keeps each webhook-id's receive times for latency. */
  reset(track?: boolean): Promise<ReceiverCounters>;
  stats(): Promise<ReceiverCounters>;
  /** Resolves when `count` answered requests arrived since the last reset. */
  waitFor(count: number): Promise<ReceiverCounters>;
  receipts(): Promise<Map<string, number[]>>;
  /** While tracking: "<path> <webhook-id>" -> how many times it was answered 2xx. */
  delivered(): Promise<Map<string, number>>;
  /** Drops the connections held open under /hang, so senders see them fail now. */
  releaseHung(): Promise<number>;
  close(): Promise<void>;
}

/** Forks the receiver process and talks to it over IPC. */
export async function startFastReceiver(): Promise<FastReceiver> {
  const child: ChildProcess = fork(fileURLToPath(new URL("./receiver-process.ts", import.meta.url)), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const [ready] = (await once(child, "message")) as [{ ready: boolean; port: number; hangPort: number }];
  let nextId = 0;
  const pending = new Map<number, (value: unknown) => void>();
  child.on("message", (message: { id?: number; value?: unknown }) => {
    if (message.id === undefined) return;
    pending.get(message.id)?.(message.value);
    pending.delete(message.id);
  });
  const call = <T>(command: ReceiverCommand) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve as (value: unknown) => void);
      child.send({ id, command });
    });
  return {
    url: `http://127.0.0.1:${ready.port}`,
    hangUrl: `http://127.0.0.1:${ready.hangPort}`,
    pid: child.pid ?? 0,
    reset: (track = false) => call({ op: "reset", track }),
    stats: () => call({ op: "stats" }),
    waitFor: (count) => call({ op: "waitFor", count }),
    receipts: async () => new Map(await call<[string, number[]][]>({ op: "receipts" })),
    delivered: async () => new Map(await call<[string, number][]>({ op: "delivered" })),
    releaseHung: () => call({ op: "releaseHung" }),
    async close() {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.disconnect();
      await exited;
    },
  };
}
