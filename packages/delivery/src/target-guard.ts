import ipaddr from "ipaddr.js";

/**
 * Thrown when a webhook URL, or what its host name resolves to, points at an
 * address Herald must not reach: loopback, private, link-local, CGNAT,
 * multicast, reserved, and the IPv6 forms that embed them.
 */
export class BlockedTargetError extends Error {
  readonly code = "ERR_HERALD_BLOCKED_TARGET";
  constructor(
    readonly target: string,
    readonly range: string,
  ) {
    super(`${target} is a ${range} address; deliveries to private targets are not allowed`);
    this.name = "BlockedTargetError";
  }
}

/**
 * The ipaddr.js range of an address, with IPv4-mapped IPv6 unwrapped; `unicast` is the only public one.
 * ipaddr.js calls the deprecated IPv4-compatible block (::/96, `::127.0.0.1`) unicast, but some stacks
 * still route it to the embedded IPv4 address, so it is refused as a range of its own.
 */
export function addressRange(address: string): string {
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv4") return parsed.range();
  const v6 = parsed as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range();
  const range = v6.range();
  if (range === "unicast" && v6.parts.slice(0, 6).every((part) => part === 0)) return "ipv4Compatible";
  return range;
}

export function isPublicAddress(address: string): boolean {
  return addressRange(address) === "unicast";
}

/** Strips the brackets WHATWG URLs keep around IPv6 literals. */
export function literalAddress(hostname: string): string | undefined {
  const bare = hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
  return ipaddr.isValid(bare) ? bare : undefined;
}

const LOCAL_NAMES = /(^|\.)(localhost|localdomain|internal|local|home\.arpa)\.?$/i;

export type UrlProblem = { problem: string };

/**
 * Checks a webhook URL when it is saved. Host names are checked again when a
 * delivery connects (see the HTTP client's lookup), which defeats DNS rebinding.
 */
export function checkWebhookUrl(raw: string, allowPrivateTargets: boolean): UrlProblem | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: "is not a valid URL" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return { problem: "must use http or https" };
  if (url.username || url.password) return { problem: "must not contain credentials" };
  if (!url.hostname) return { problem: "must have a host" };
  if (allowPrivateTargets) return undefined;
  const literal = literalAddress(url.hostname);
  if (literal !== undefined) {
    const range = addressRange(literal);
    return range === "unicast" ? undefined : { problem: `points at a ${range} address, which is not allowed` };
  }
  if (LOCAL_NAMES.test(url.hostname) || !url.hostname.includes(".")) {
    return { problem: "points at a local host name, which is not allowed" };
  }
  return undefined;
}
