import { type ApiConfig, apiConfigSchema, parseConfig } from "@herald/config";

/** The only place the API reads process.env. */
export function loadApiConfig(): ApiConfig {
  return parseConfig(apiConfigSchema, process.env);
}
