import { parseConfig, type WorkerConfig, workerConfigSchema } from "@herald/config";

/** The only place the worker reads process.env. */
export function loadWorkerConfig(): WorkerConfig {
  return parseConfig(workerConfigSchema, process.env);
}
