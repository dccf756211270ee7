import { parseConfig, type WorkerConfig, workerConfigSchema } from "@herald/config";

/** The only place the worker reads process.env. */
export function loadWorkerConfig(): WorkerConfig {
  return parseConfig(workerConfigSchema, process.env);
}

/** What the OpenTelemetry SDK reads (the standard OTEL_* variables). */
export function telemetryEnv(): Record<string, string | undefined> {
  return process.env;
}
