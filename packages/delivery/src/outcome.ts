import { InvalidHeaderError } from "./headers.ts";
import { BlockedTargetError } from "./target-guard.ts";

/**
 * Why an attempt failed. Each kind is stored on the attempt and drives what
 * happens next (for example `gone` disables the endpoint).
 */
export const ERROR_KINDS = [
  "http_status",
  "redirect",
  "rate_limited",
  "gone",
  "timeout",
  "connect_timeout",
  "connection_refused",
  "connection_reset",
  "dns",
  "tls",
  "blocked_target",
  "invalid_url",
  "invalid_header",
  "network",
  // The worker stopped (killed, or released at shutdown) before learning the outcome; the receiver may have it.
  "interrupted",
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

export interface Outcome {
  ok: boolean;
  statusCode: number | null;
  errorKind: ErrorKind | null;
  errorMessage: string | null;
  durationMs: number;
  responseHeaders: Record<string, string>;
  responseBody: string | null;
  /** Milliseconds the receiver asked us to wait (Retry-After on 429/503). */
  retryAfterMs: number | null;
}

/** Retry-After as seconds or an HTTP date, in milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP date names its month; Date.parse alone would take "-5" for a year.
  if (!/[a-z]{3}/i.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, date - now);
}

export function classifyResponse(
  statusCode: number,
  responseHeaders: Record<string, string>,
  responseBody: string,
  durationMs: number,
): Outcome {
  const ok = statusCode >= 200 && statusCode < 300;
  let errorKind: ErrorKind | null = null;
  if (!ok) {
    if (statusCode >= 300 && statusCode < 400) errorKind = "redirect";
    else if (statusCode === 410) errorKind = "gone";
    else if (statusCode === 429) errorKind = "rate_limited";
    else errorKind = "http_status";
  }
  const retryAfterMs = statusCode === 429 || statusCode === 503 ? parseRetryAfter(responseHeaders["retry-after"]) : null;
  return {
    ok,
    statusCode,
    errorKind,
    errorMessage: ok ? null : `receiver answered ${statusCode}`,
    durationMs,
    responseHeaders,
    responseBody,
    retryAfterMs,
  };
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH|ERR_OSSL)/;

function kindOf(error: unknown): ErrorKind {
  if (error instanceof BlockedTargetError) return "blocked_target";
  if (error instanceof InvalidHeaderError) return "invalid_header";
  const { code, name } = (error ?? {}) as { code?: string; name?: string };
  const cause = (error as { cause?: unknown })?.cause;
  if (name === "TimeoutError" || name === "AbortError") return "timeout";
  switch (code) {
    case "UND_ERR_CONNECT_TIMEOUT":
      return "connect_timeout";
    case "UND_ERR_HEADERS_TIMEOUT":
    case "UND_ERR_BODY_TIMEOUT":
    case "ETIMEDOUT":
      return "timeout";
    case "ECONNREFUSED":
      return "connection_refused";
    case "ECONNRESET":
    case "EPIPE":
    case "UND_ERR_SOCKET":
    case "UND_ERR_CLOSED":
      return "connection_reset";
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
    case "EAI_NODATA":
      return "dns";
    case "ERR_INVALID_URL":
    case "UND_ERR_INVALID_ARG":
      return "invalid_url";
  }
  if (code && TLS_CODE.test(code)) return "tls";
  if (cause && cause !== error) return kindOf(cause);
  return "network";
}

/** An attempt whose worker stopped before it learned (or recorded) the outcome. */
export function interruptedOutcome(): Outcome {
  return {
    ok: false,
    statusCode: null,
    errorKind: "interrupted",
    errorMessage: "the worker making this attempt stopped before recording its outcome; the receiver may have received it",
    durationMs: 0,
    responseHeaders: {},
    responseBody: null,
    retryAfterMs: null,
  };
}

export function classifyError(error: unknown, durationMs: number): Outcome {
  const errorKind = kindOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return {
    ok: false,
    statusCode: null,
    errorKind,
    errorMessage: errorKind === "timeout" ? `no complete answer within the deadline (${message})` : message,
    durationMs,
    responseHeaders: {},
    responseBody: null,
    retryAfterMs: null,
  };
}
