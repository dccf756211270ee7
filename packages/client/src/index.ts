import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./generated/openapi.ts";

export type { components, paths };
export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type HeraldClient = Client<paths>;

export interface HeraldClientOptions {
  /** Where Herald's API answers, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** The admin token or a tenant API key (`hk_…`). */
  token?: string;
  /** Another fetch (a test's, or one with a proxy). */
  fetch?: (request: Request) => Promise<Response>;
}

/**
 * A typed client of Herald's API: paths, parameters, bodies and answers come
 * from the types generated from Herald's own /openapi.json.
 *
 * ```ts
 * const herald = createHeraldClient({ baseUrl, token });
 * const { data, error } = await herald.POST("/v1/tenants/{tenantId}/events", {
 *   params: { path: { tenantId: "acme" } },
 *   body: { eventType: "invoice.paid", payload: { amount: 4200 } },
 * });
 * ```
 */
export function createHeraldClient(options: HeraldClientOptions): HeraldClient {
  return createClient<paths>({
    baseUrl: options.baseUrl.replace(/\/+$/, ""),
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
}

/** True for an RFC 9457 problem document as Herald sends them. */
export function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).code === "string" &&
    typeof (value as Problem).status === "number"
  );
}

/**
 * A problem in plain words, for people: the detail, then each offending field.
 * `fieldLabel` rewrites a field's path (the CLI turns `events.3` into a line of a file).
 */
export function describeProblem(problem: Problem, fieldLabel: (path: string) => string = (path) => path): string {
  const lines = [`${problem.detail} (${problem.status} ${problem.code})`];
  for (const error of problem.errors ?? []) lines.push(`  ${fieldLabel(error.path)}: ${error.message}`);
  return lines.join("\n");
}

/** Thrown by `unwrap` for an answer that is not a success. */
export class HeraldError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem | undefined,
    message: string,
  ) {
    super(message);
    this.name = "HeraldError";
  }
}

/**
 * The data of a successful answer, or a `HeraldError` carrying the API's
 * problem: for callers who would rather throw than check `error` each time.
 */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  if (isProblem(error)) throw new HeraldError(response.status, error, describeProblem(error));
  const text = typeof error === "string" && error ? `: ${error.slice(0, 200)}` : "";
  throw new HeraldError(response.status, undefined, `${response.url} answered ${response.status} ${response.statusText}${text}`);
}
