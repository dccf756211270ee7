import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";

/**
 * Hono's bodyLimit, minus its cost on the common path. Hono's version reads
 * `c.req.raw.body`, which makes @hono/node-server build a full web `Request`
 * and stream every body through WHATWG streams, instead of reading it
 * straight from the socket (its fast path). A body with a Content-Length is
 * judged by that header alone (Node's parser never hands on more bytes than
 * it declares); only a chunked body is counted as it streams.
 */
export function limitBody(maxSize: number, onError: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const streaming = bodyLimit({ maxSize, onError });
  return async (c, next) => {
    const length = c.req.header("content-length");
    if (length !== undefined && c.req.header("transfer-encoding") === undefined) {
      return Number(length) > maxSize ? onError(c) : next();
    }
    if (c.req.method === "GET" || c.req.method === "HEAD") return next();
    return streaming(c, next);
  };
}
