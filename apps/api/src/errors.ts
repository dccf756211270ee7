import type { Problem } from "@herald/schema";

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
  | "invalid_url"
  | "rate_limited"
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
  invalid_url: [422, "The webhook URL is not allowed"],
  rate_limited: [429, "Too many requests"],
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
  for (let current = error, i = 0; current && i < 3; current = (current as { cause?: unknown }).cause, i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^22[0-9A-Z]{3}$/.test(code)) return true;
  }
  return false;
}
