import type { Problem } from "@herald/schema";
import { HTTPException } from "hono/http-exception";
import type { Logger } from "pino";

export type ProblemCode =
  | "validation_failed"
  | "malformed_json"
  | "unsupported_media_type"
  | "payload_too_large"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "unknown_event_type"
  | "payload_invalid"
  | "duplicate_key"
  | "invalid_url"
  | "unsupported_pattern"
  | "invalid_header"
  | "limit_exceeded"
  | "time_out_of_range"
  | "rate_limited"
  | "service_unavailable"
  | "internal_error";

const TITLES: Record<ProblemCode, [number, string]> = {
  validation_failed: [400, "The request is not valid"],
  malformed_json: [400, "The body is not valid JSON"],
  unsupported_media_type: [415, "Unsupported media type"],
  payload_too_large: [413, "The body is too large"],
  unauthorized: [401, "Authentication required"],
  forbidden: [403, "Not allowed"],
  not_found: [404, "Not found"],
  conflict: [409, "Conflict"],
  unknown_event_type: [422, "Unknown event type"],
  payload_invalid: [422, "The payload does not match the event type's schema"],
  duplicate_key: [422, "An object in the body repeats a key"],
  invalid_url: [422, "The webhook URL is not allowed"],
  unsupported_pattern: [422, "The schema holds a pattern Herald cannot run"],
  invalid_header: [422, "A custom header cannot be sent over HTTP"],
  limit_exceeded: [422, "A limit of this tenant is reached"],
  time_out_of_range: [422, "The time is out of range"],
  rate_limited: [429, "Too many requests"],
  service_unavailable: [503, "Service unavailable"],
  internal_error: [500, "Internal error"],
};

export interface FieldError {
  path: string;
  message: string;
}

/**
 * The one error type services throw. `onError` turns it into an RFC 9457
 * problem document; anything else becomes a generic 500.
 */
export class ApiError extends Error {
  readonly status: number;
  /** Seconds a 429 or 503 asks the caller to wait, sent as Retry-After. */
  retryAfterSeconds?: number;
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    readonly errors?: FieldError[],
  ) {
    super(detail);
    this.name = "ApiError";
    this.status = TITLES[code][0];
  }
}

export function notFound(what: string): ApiError {
  return new ApiError("not_found", `${what} does not exist`);
}

export function problemBody(code: ProblemCode, detail: string, requestId?: string, errors?: FieldError[]): Problem {
  const [status, title] = TITLES[code];
  return {
    type: `https://herald.dev/problems/${code.replaceAll("_", "-")}`,
    title,
    status,
    detail,
    code,
    ...(requestId ? { requestId } : {}),
    ...(errors?.length ? { errors } : {}),
  };
}

/** zod issues as `{path, message}` pairs, with the path dotted: `headers.Host`. */
export function fieldErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[], prefix?: string): FieldError[] {
  return issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    return { path: path || "(body)", message: issue.message };
  });
}

/**
 * PostgreSQL refused a value the request carried (SQLSTATE class 22: a NUL
 * character, an out-of-range number or date). That is the caller's input, not
 * our failure, so it answers 400 rather than 500. drizzle wraps the driver's
 * error, so the cause is checked too.
 */
export function isDataException(error: unknown): boolean {
  for (const { code } of causes(error, 3)) {
    if (typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}

/** An error and the errors it wraps (`cause`), outermost first, at most `depth` of them: drizzle wraps the driver's. */
function* causes(error: unknown, depth = 4): Generator<{ code?: unknown; message?: unknown; name?: unknown }> {
  for (let current = error, i = 0; current && i < depth; current = (current as { cause?: unknown }).cause, i++) {
    yield current as { code?: unknown; message?: unknown; name?: unknown };
  }
}

export type Dependency = "PostgreSQL" | "Redis";

/** What a 503 asks the caller to wait before trying again: about how long a reconnect takes. */
export const RETRY_AFTER_SECONDS = 5;

/** postgres.js's own codes for a connection that could not be opened or was lost. */
const POSTGRES_CONNECTION_CODES = new Set(["CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECTION_ENDED", "CONNECT_TIMEOUT"]);
/** Socket errors: the server refused, reset or could not be reached. */
const SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);
/**
 * SQLSTATEs that say the server cannot serve now, not that the statement is
 * wrong: connection exceptions (08), shutdown and start-up (57P01–57P03),
 * too many connections and other exhausted resources (53), and a statement
 * cancelled by statement_timeout (57014; Herald cancels nothing itself).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[123]|53[0-9A-Z]{3}|57014)$/;
/** ioredis's messages when the producer connection fails fast (offline, no answer, closed). */
const REDIS_MESSAGES =
  /^(Stream isn't writeable and enableOfflineQueue options is false|Command timed out|Connection is closed\.?|Reached the max retries per request limit)/;

/**
 * Which dependency an error says is unavailable, if any. Such a failure is a
 * 503 with Retry-After: the request was fine and may succeed shortly, so it
 * must not look like a bug (500). drizzle wraps the driver's error, so the
 * causes are checked too.
 */
export function unavailableDependency(error: unknown): Dependency | null {
  for (const { code, message, name } of causes(error)) {
    const text = typeof message === "string" ? message : "";
    if (name === "MaxRetriesPerRequestError" || REDIS_MESSAGES.test(text)) return "Redis";
    if (typeof code !== "string") continue;
    // Socket errors reach a caller only from postgres.js: the producer's Redis commands fail with the messages above.
    if (POSTGRES_CONNECTION_CODES.has(code) || SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)) return "PostgreSQL";
  }
  return null;
}

/**
 * The table PostgreSQL found no partition of for a new row (SQLSTATE 23514,
 * "no partition of relation … found for row"), if that is what the error says:
 * today's partitions are missing because no worker has run for longer than
 * HERALD_PARTITIONS_AHEAD days (workers make them ahead; so does db:migrate).
 */
export function missingPartition(error: unknown): string | null {
  for (const { code, message } of causes(error)) {
    if (code !== "23514" || typeof message !== "string") continue;
    const table = message.match(/^no partition of relation "(\w+)" found for row/)?.[1];
    if (table) return table;
  }
  return null;
}

/**
 * The caller's fault, as an ApiError: one thrown by a service, a request Hono
 * could not parse, or a value PostgreSQL refused. Undefined for anything else.
 * Forms use it to show the problem next to the input rather than on an error page.
 */
export function callerError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error.status < 500 ? error : undefined;
  if (error instanceof HTTPException && error.status < 500) {
    return new ApiError(/json/i.test(error.message) ? "malformed_json" : "validation_failed", error.message || "the request is not valid");
  }
  if (isDataException(error)) {
    return new ApiError(
      "validation_failed",
      "a value in the request cannot be stored (NUL characters, out-of-range numbers and impossible dates are refused)",
    );
  }
  return undefined;
}

/**
 * The one mapping from anything thrown to what the caller is told, used by the
 * API's problem documents and the console's error pages alike: an ApiError as
 * it is; a refused value (bad JSON, a NUL character) as a 4xx; PostgreSQL or
 * Redis away as a 503; anything else as a 500 whose cause is logged, never
 * shown.
 */
export function errorAnswer(error: unknown, logger: Logger, where: { requestId: string; method: string; path: string }): ApiError {
  if (error instanceof ApiError) return error;
  const refused = callerError(error);
  if (refused) {
    if (!(error instanceof ApiError) && !(error instanceof HTTPException))
      logger.warn({ err: error, ...where }, "value refused by the database");
    return refused;
  }
  const table = missingPartition(error);
  if (table) {
    logger.error({ err: error, ...where }, `no partition of ${table} for today: is any worker running?`);
    return new ApiError(
      "service_unavailable",
      `no partition of ${table} covers now: workers make each day's partitions ahead (HERALD_PARTITIONS_AHEAD), and none has run for that long; start a worker or run npm run db:migrate (request id ${where.requestId})`,
    );
  }
  const unavailable = unavailableDependency(error);
  if (unavailable) {
    logger.warn({ err: error, ...where }, `${unavailable} unavailable`);
    return new ApiError(
      "service_unavailable",
      `${unavailable} is not available right now; try again in a few seconds (request id ${where.requestId})`,
    );
  }
  logger.error({ err: error, ...where }, "unexpected error");
  return new ApiError("internal_error", `something went wrong on our side; quote request id ${where.requestId}`);
}
