import { createHeraldClient, type HeraldClient, HeraldError, unwrap } from "@herald/client";
import type { Command } from "commander";
import { createOutput, type Output } from "./output.ts";

/** What `npm start` uses when nothing else is configured, so the quick start needs no settings. */
export const DEFAULT_URL = "http://127.0.0.1:3000";
export const DEFAULT_TOKEN = "herald-dev-admin-token";

/** A failure to report in plain words, with the exit code to leave with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = "CliError";
  }
}

export interface Context {
  client: HeraldClient;
  output: Output;
  url: string;
}

/** The client and output of a command, from the global options (flags, then HERALD_URL / HERALD_TOKEN). */
export function contextOf(command: Command): Context {
  const options = command.optsWithGlobals<{ api?: string; token?: string; json?: boolean }>();
  const url = options.api ?? process.env.HERALD_URL ?? DEFAULT_URL;
  const token = options.token ?? process.env.HERALD_TOKEN ?? DEFAULT_TOKEN;
  return { client: createHeraldClient({ baseUrl: url, token }), output: createOutput(Boolean(options.json)), url };
}

export function outputOf(command: Command): Output {
  return createOutput(Boolean(command.optsWithGlobals<{ json?: boolean }>().json));
}

/** `--tenant`, or HERALD_TENANT. */
export function tenantOf(options: { tenant?: string }): string {
  const tenant = options.tenant ?? process.env.HERALD_TENANT;
  if (!tenant) throw new CliError("say which tenant: --tenant <id or uid>, or set HERALD_TENANT");
  return tenant;
}

/** Awaits an API call: its data, or a CliError with the API's problem in plain words. */
export async function call<T>(context: Context, request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  try {
    return await unwrap(request);
  } catch (error) {
    throw explain(error, context.url);
  }
}

/** Any failure of a call as a CliError a person can act on. */
export function explain(error: unknown, url: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof HeraldError) {
    const hint = error.status === 401 ? "\n  (set HERALD_TOKEN or --token to the admin token or a tenant API key)" : "";
    return new CliError(`${error.message}${hint}`);
  }
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code === "ECONNREFUSED" || cause?.code === "ENOTFOUND" || cause?.code === "ECONNRESET" || cause?.code === "UND_ERR_SOCKET") {
    return new CliError(`cannot reach Herald at ${url} (${cause.code}): is it running? Point HERALD_URL or --api at it.`);
  }
  return new CliError(error instanceof Error ? `${error.message}${cause?.message ? `: ${cause.message}` : ""}` : String(error));
}

/** Parses a JSON option value, naming the option when it is not JSON. */
export function parseJsonOption(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}
