import { once } from "node:events";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  receivedAt: number;
}

export type Responder = (request: ReceivedRequest, index: number, res: ServerResponse) => void | Promise<void>;

/** Which requests a wait is for: a `webhook-id` (the event id Herald sends), or any test on the request. */
export type RequestMatch = string | ((request: ReceivedRequest) => boolean);

/** Answers every request with one status (and an optional body and headers). */
export const respondWith =
  (status: number, body = "", headers: Record<string, string> = {}): Responder =>
  (_request, _index, res) => {
    res.writeHead(status, headers);
    res.end(body);
  };

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Replaces how the receiver answers from now on. */
  respond(responder: Responder): void;
  /**
   * Resolves with the first request that matches, whether it arrived before
   * this call or arrives later: Herald may deliver before the API call that
   * caused the delivery has answered, so a test never reads a count first and
   * waits for "one more".
   */
  waitFor(match: RequestMatch, options?: { timeoutMs?: number }): Promise<ReceivedRequest>;
  /** Resolves with the first `count` matching requests (for example every try of one webhook-id), in arrival order. */
  waitForMatching(match: RequestMatch, count: number, options?: { timeoutMs?: number }): Promise<ReceivedRequest[]>;
  /**
   * Resolves once `count` requests in all have arrived. Only for a count the
   * test fixes (a fresh receiver, N deliveries); to wait for a given delivery
   * use `waitFor`.
   */
  waitForRequests(count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

interface Waiter {
  test: (request: ReceivedRequest) => boolean;
  count: number;
  found: ReceivedRequest[];
  /** Resolves with `found`, or rejects with `error`; either way the wait ends and its timer is cleared. */
  settle: (error?: Error) => void;
}

const DEFAULT_TIMEOUT_MS = 20_000;

function describeMatch(match: RequestMatch): string {
  return typeof match === "string" ? `webhook-id ${match}` : "the given test";
}

/** A real HTTP server on a free loopback port that records what Herald sends. */
export async function startReceiver(responder: Responder = respondWith(200, "ok")): Promise<Receiver> {
  let current = responder;
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<Waiter>();

  /** Checks what already arrived, then waits for the rest: a request can never slip between the two. */
  function waitUntil(match: RequestMatch | undefined, count: number, timeoutMs: number, what: string): Promise<ReceivedRequest[]> {
    const test =
      match === undefined ? () => true : typeof match === "string" ? (r: ReceivedRequest) => r.headers["webhook-id"] === match : match;
    const found = requests.filter(test).slice(0, count);
    if (found.length >= count) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        test,
        count,
        found,
        settle: (error) => {
          clearTimeout(timer);
          waiters.delete(waiter);
          if (error) reject(error);
          else resolve(waiter.found);
        },
      };
      const timer = setTimeout(
        () =>
          waiter.settle(
            new Error(`receiver got ${found.length} of ${count} ${what} within ${timeoutMs} ms (${requests.length} requests in all)`),
          ),
        timeoutMs,
      );
      waiters.add(waiter);
    });
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const request: ReceivedRequest = {
        method: req.method ?? "",
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        receivedAt: Date.now(),
      };
      const index = requests.length;
      requests.push(request);
      for (const waiter of [...waiters]) {
        if (!waiter.test(request)) continue;
        waiter.found.push(request);
        if (waiter.found.length >= waiter.count) waiter.settle();
      }
      try {
        await current(request, index, res);
      } catch {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    respond(next) {
      current = next;
    },
    async waitFor(match, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
      const [request] = await waitUntil(match, 1, timeoutMs, `requests with ${describeMatch(match)}`);
      return request as ReceivedRequest;
    },
    waitForMatching(match, count, { timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
      return waitUntil(match, count, timeoutMs, `requests with ${describeMatch(match)}`);
    },
    async waitForRequests(count, timeoutMs = DEFAULT_TIMEOUT_MS) {
      await waitUntil(undefined, count, timeoutMs, "requests");
      return requests.slice();
    },
    async close() {
      server.closeAllConnections();
      server.close();
      // A wait still pending can no longer be met: it fails now rather than at its timeout.
      for (const waiter of [...waiters])
        waiter.settle(new Error(`receiver closed with ${waiter.found.length} of ${waiter.count} requests`));
    },
  };
}
