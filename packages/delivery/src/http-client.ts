import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { Agent } from "undici";
import { assertSendableHeaders } from "./headers.ts";
import { classifyError, classifyResponse, type Outcome } from "./outcome.ts";
import { addressRange, BlockedTargetError, literalAddress } from "./target-guard.ts";

export const RESPONSE_BODY_LIMIT = 4096;
/** Past this many bytes the socket is dropped instead of drained for reuse. */
const DRAIN_LIMIT = 64 * 1024;
const KEPT_RESPONSE_HEADERS = ["content-type", "retry-after", "location"];

export interface DeliveryClientOptions {
  /** Whole request deadline: connect, send, response headers and the body we read. */
  timeoutMs: number;
  connectTimeoutMs: number;
  allowPrivateTargets: boolean;
  /** Keep-alive sockets per origin. */
  connectionsPerOrigin?: number;
}

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * Resolves like dns.lookup and refuses when any resolved address is not public.
 * The socket connects to the address approved here, so a name that resolves to
 * a public address now and to 127.0.0.1 a moment later cannot sneak through.
 */
function guardedLookup(hostname: string, options: object, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    for (const { address } of addresses) {
      const range = addressRange(address);
      if (range !== "unicast") return callback(new BlockedTargetError(`${hostname} (${address})`, range), []);
    }
    const wantsAll = (options as { all?: boolean }).all === true;
    if (wantsAll) return callback(null, addresses);
    const first = addresses[0];
    if (!first) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: "ENOTFOUND" }), []);
    callback(null, first.address, first.family);
  });
}

export interface DeliveryClient {
  send(request: OutgoingRequest): Promise<Outcome>;
  close(): Promise<void>;
}

async function readBounded(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const kept: Buffer[] = [];
  let keptBytes = 0;
  let seen = 0;
  for await (const chunk of body) {
    seen += chunk.length;
    if (keptBytes < RESPONSE_BODY_LIMIT) {
      const slice = chunk.subarray(0, RESPONSE_BODY_LIMIT - keptBytes);
      kept.push(slice);
      keptBytes += slice.length;
    }
    if (seen > DRAIN_LIMIT) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(kept).toString("utf8");
}

/**
 * The keep-alive HTTP client every delivery goes through: no redirects, a
 * connect timeout and a whole-request deadline, and a bounded read of the
 * answer so that a receiver streaming gigabytes costs nothing.
 */
export function createDeliveryClient(options: DeliveryClientOptions): DeliveryClient {
  const agent = new Agent({
    connections: options.connectionsPerOrigin ?? 64,
    keepAliveTimeout: 30_000,
    connect: {
      timeout: options.connectTimeoutMs,
      ...(options.allowPrivateTargets ? {} : { lookup: guardedLookup }),
    },
  });

  async function send(request: OutgoingRequest): Promise<Outcome> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      // Saved before header checks existed, or written to the table directly: refused before any connection.
      assertSendableHeaders(request.headers);
      const url = new URL(request.url);
      if (!options.allowPrivateTargets) {
        // IP literals skip the lookup above, so they are checked here.
        const literal = literalAddress(url.hostname);
        if (literal !== undefined) {
          const range = addressRange(literal);
          if (range !== "unicast") throw new BlockedTargetError(literal, range);
        }
      }
      const response = await agent.request({
        origin: url.origin,
        path: url.pathname + url.search,
        method: "POST",
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(options.timeoutMs),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const body = await readBounded(response.body);
      const headers: Record<string, string> = {};
      for (const name of KEPT_RESPONSE_HEADERS) {
        const value = response.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      return classifyResponse(response.statusCode, headers, body, elapsed());
    } catch (error) {
      return classifyError(error, elapsed());
    }
  }

  return { send, close: () => agent.close() };
}
