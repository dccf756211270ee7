import { sign } from "./signing.ts";

export const HERALD_VERSION = "0.1.0";

/** RFC 9110 token: what a header name may be. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/**
 * Visible ASCII, spaces and tabs: what a header value can carry. RFC 9110
 * also allows obs-text bytes, but a JavaScript string has no bytes, and
 * Node refuses anything above U+00FF, so non-ASCII is refused outright.
 */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/;
export const MAX_CUSTOM_HEADERS = 20;

/** Headers Herald sets itself or that would break the request. */
export const RESERVED_HEADERS = new Set([
  "host",
  "content-length",
  "content-type",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "upgrade",
  "te",
  "trailer",
  "user-agent",
  "expect",
]);

export interface HeaderProblem {
  name: string;
  message: string;
}

/** Why a header cannot go on the wire as it is, if it cannot. */
function unsendable(name: string, value: string): string | undefined {
  if (!HEADER_NAME.test(name)) return "is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)";
  if (/[\r\n]/.test(value)) return "contains a line break";
  if (!HEADER_VALUE.test(value)) return "holds a character HTTP cannot carry (only visible ASCII, spaces and tabs)";
  if (value !== value.trim()) return "starts or ends with whitespace";
  return undefined;
}

/**
 * What is wrong with an endpoint's custom headers: names and values HTTP
 * cannot carry, names Herald sets itself, and the same name twice in
 * different case (HTTP names are case-insensitive, so both would be sent).
 */
export function customHeaderProblems(custom: Record<string, string>): HeaderProblem[] {
  const problems: HeaderProblem[] = [];
  const seen = new Map<string, string>();
  const names = Object.keys(custom);
  if (names.length > MAX_CUSTOM_HEADERS) problems.push({ name: "", message: `at most ${MAX_CUSTOM_HEADERS} headers` });
  for (const name of names) {
    const lower = name.toLowerCase();
    const reason = unsendable(name, custom[name] ?? "");
    if (reason) problems.push({ name, message: reason });
    else if (RESERVED_HEADERS.has(lower) || lower.startsWith("webhook-"))
      problems.push({ name, message: "is reserved: Herald sets it itself" });
    const earlier = seen.get(lower);
    if (earlier !== undefined) problems.push({ name, message: `repeats ${earlier}: header names are case-insensitive` });
    seen.set(lower, name);
  }
  return problems;
}

/** A header that cannot be sent; the delivery is recorded with the error kind `invalid_header`. */
export class InvalidHeaderError extends Error {
  constructor(readonly problems: HeaderProblem[]) {
    super(`header ${problems.map((p) => `${p.name} ${p.message}`).join("; ")}`);
    this.name = "InvalidHeaderError";
  }
}

/** Throws InvalidHeaderError when an outgoing request's headers cannot be sent. */
export function assertSendableHeaders(headers: Record<string, string>): void {
  const problems = Object.entries(headers).flatMap(([name, value]) => {
    const message = unsendable(name, value);
    return message ? [{ name, message }] : [];
  });
  if (problems.length > 0) throw new InvalidHeaderError(problems);
}
export const USER_AGENT = `Herald/${HERALD_VERSION}`;

/**
 * The headers of one attempt, as DESIGN.md's delivery contract lists them.
 * Custom endpoint headers go first so that none can replace a signed one.
 */
export function buildHeaders(
  eventId: string,
  body: string,
  secrets: readonly string[],
  custom: Record<string, string>,
  timestampSeconds: number = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    ...custom,
    "content-type": "application/json",
    "user-agent": USER_AGENT,
    "webhook-id": eventId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": sign(secrets, eventId, timestampSeconds, body),
  };
}
