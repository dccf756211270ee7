import type { Context } from "hono";

/**
 * The caller's address: the socket's peer, or with HERALD_TRUST_PROXY the
 * first X-Forwarded-For hop (only behind a proxy that sets it, or anyone could
 * claim any address). "unknown" for in-process requests that have no socket.
 */
export function clientAddress(c: Context, trustProxy = false): string {
  if (trustProxy) {
    const forwarded = c.req.header("x-forwarded-for")?.split(",")[0]?.trim();
    if (forwarded) return forwarded.slice(0, 100);
  }
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}
