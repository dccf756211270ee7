import type { FieldError, ProblemCode } from "../errors.ts";

/** Herald's names for a few fields, as Svix's bodies call them, so a 422 points at the field the caller sent. */
const SVIX_FIELD_NAMES: Record<string, string> = {
  eventTypes: "filterTypes",
  schema: "schemas",
  example: "schemas",
  gracePeriod: "gracePeriodSeconds",
};

/** Svix's code and status for each of Herald's problem codes; `null` code means the 422 validation list. */
const SVIX_ERRORS: Record<ProblemCode, [number, string | null]> = {
  validation_failed: [422, null],
  unknown_event_type: [422, null],
  payload_invalid: [422, null],
  invalid_url: [422, null],
  unsupported_pattern: [422, null],
  duplicate_key: [422, null],
  invalid_header: [422, null],
  time_out_of_range: [422, null],
  limit_exceeded: [422, "limit_exceeded"],
  malformed_json: [400, "invalid_json"],
  unsupported_media_type: [415, "unsupported_media_type"],
  payload_too_large: [413, "payload_too_large"],
  unauthorized: [401, "authentication_failed"],
  forbidden: [403, "insufficient access"],
  not_found: [404, "not_found"],
  conflict: [409, "conflict"],
  rate_limited: [429, "rate_limited"],
  service_unavailable: [503, "service_unavailable"],
  internal_error: [500, "server_error"],
};

/** `query.limit` → ["query", "limit"]; `param.app_id` → ["path", "app_id"]; `eventTypes.0` → ["body", "filterTypes", "0"]. */
function location(path: string): string[] {
  const [first = "", ...rest] = path.split(".");
  if (first === "query" || first === "header") return [first, ...rest];
  if (first === "param") return ["path", ...rest];
  if (first === "(body)") return ["body"];
  return ["body", SVIX_FIELD_NAMES[first] ?? first, ...rest];
}

export type SvixErrorBody = { code: string; detail: string } | { detail: { loc: string[]; msg: string; type: string }[] };

/**
 * The answer Svix's server would give: `{code, detail}`, or for a 422 the list
 * of `{loc, msg, type}` that the SDKs raise as their validation error.
 */
export function svixError(code: ProblemCode, detail: string, errors?: FieldError[]): { status: number; body: SvixErrorBody } {
  const [status, svixCode] = SVIX_ERRORS[code];
  if (svixCode !== null) return { status, body: { code: svixCode, detail } };
  const items = errors?.length ? errors : [{ path: "(body)", message: detail }];
  return { status, body: { detail: items.map((error) => ({ loc: location(error.path), msg: error.message, type: "value_error" })) } };
}

/** Svix's own operations that Herald does not offer: 501, as Svix answers for what it has not implemented. */
export function notImplemented(what: string): { status: 501; body: { code: string; detail: string } } {
  return {
    status: 501,
    body: { code: "not_implemented", detail: `Herald does not support ${what}; see "Coming from Svix" in the README` },
  };
}
