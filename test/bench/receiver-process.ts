/**
 * The fast receiver: a separate process so that answering webhooks never
 * competes with the bench driver's event loop. It answers 200 at once, counts
 * what arrives, and reports over the IPC channel of `fork`. Paths under
 * /hang never get an answer: they stand for a receiver that holds the
 * connection until the sender gives up. Paths under /fail/<percent>/ answer
 * 500 that often, and under /slow/<ms>/ answer after that long: the soak's
 * unreliable receivers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ReceiverCommand =
  | { op: "reset"; track: boolean }
  | { op: "stats" }
  | { op: "waitFor"; count: number }
  | { op: "receipts" }
  | { op: "delivered" }
  | { op: "releaseHung" };

interface Counters {
  count: number;
  /** Answered with a 5xx on purpose (the /fail paths). */
  failed: number;
  signed: number;
  hung: number;
  first: number;
  last: number;
}

const now = () => performance.timeOrigin + performance.now();

const zero = (): Counters => ({ count: 0, failed: 0, signed: 0, hung: 0, first: 0, last: 0 });
let counters = zero();
let track = false;
/** webhook-id -> receive times (ms since the epoch, sub-millisecond), kept only while tracking. */
let receipts = new Map<string, number[]>();
/** "<path> <webhook-id>" -> 2xx answers given, kept only while tracking: what was delivered, and how often. */
let delivered = new Map<string, number>();
let waiters: { count: number; reply: (value: unknown) => void }[] = [];
const hungSockets = new Set<Socket>();

function answer(req: IncomingMessage, res: ServerResponse): void {
  if (req.url?.startsWith("/hang")) {
    counters.hung++;
    hungSockets.add(req.socket);
    req.socket.once("close", () => hungSockets.delete(req.socket));
    req.resume();
    return;
  }
  const behaviour = req.url?.match(/^\/(fail|slow)\/(\d+)\//);
  req.on("data", () => {});
  req.on("end", () => {
    if (behaviour?.[1] === "slow") setTimeout(() => respond(req, res, true), Number(behaviour[2]));
    else respond(req, res, !(behaviour?.[1] === "fail" && Math.random() * 100 < Number(behaviour[2])));
  });
}

function respond(req: IncomingMessage, res: ServerResponse, ok: boolean): void {
  if (ok) {
    res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
    res.end("ok");
  } else {
    res.writeHead(500, { "content-type": "text/plain", "content-length": "4" });
    res.end("fail");
    counters.failed++;
  }
  const at = now();
  counters.count++;
  if (req.headers["webhook-signature"]) counters.signed++;
  if (counters.first === 0) counters.first = at;
  counters.last = at;
  if (track) {
    const id = String(req.headers["webhook-id"] ?? "");
    const times = receipts.get(id);
    if (times) times.push(at);
    else receipts.set(id, [at]);
    if (ok) {
      const key = `${req.url} ${id}`;
      delivered.set(key, (delivered.get(key) ?? 0) + 1);
    }
  }
  if (waiters.length > 0) {
    const due = waiters.filter((waiter) => counters.count >= waiter.count);
    if (due.length > 0) {
      waiters = waiters.filter((waiter) => counters.count < waiter.count);
      for (const waiter of due) waiter.reply({ ...counters });
    }
  }
}

// A second port for the endpoint that never answers: a dead receiver is another origin, with its own connections.
const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, answer);
const hangServer = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0 }, answer);
const listen = (target: typeof server) =>
  new Promise<number>((resolve) => target.listen(0, "127.0.0.1", () => resolve((target.address() as AddressInfo).port)));
Promise.all([listen(server), listen(hangServer)]).then(([port, hangPort]) => process.send?.({ ready: true, port, hangPort }));

process.on("message", (message: { id: number; command: ReceiverCommand }) => {
  const reply = (value: unknown) => process.send?.({ id: message.id, value });
  const { command } = message;
  switch (command.op) {
    case "reset":
      counters = zero();
      receipts = new Map();
      delivered = new Map();
      track = command.track;
      for (const waiter of waiters) waiter.reply({ ...counters });
      waiters = [];
      return reply({ ...counters });
    case "stats":
      return reply({ ...counters });
    case "waitFor":
      if (counters.count >= command.count) return reply({ ...counters });
      waiters.push({ count: command.count, reply });
      return;
    case "receipts":
      return reply([...receipts]);
    case "delivered":
      return reply([...delivered]);
    case "releaseHung":
      return reply([...hungSockets].map((socket) => socket.destroy()).length);
  }
});

process.on("disconnect", () => process.exit(0));
