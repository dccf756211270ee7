import { type ApiConfig, apiConfigSchema, parseConfig } from "@herald/config";

/** The only place the API reads process.env. */
export function loadApiConfig(): ApiConfig {
  return parseConfig(apiConfigSchema, process.env);
}

/** What the OpenTelemetry SDK reads (the standard OTEL_* variables). */
export function telemetryEnv(): Record<string, string | undefined> {
  return process.env;
}
