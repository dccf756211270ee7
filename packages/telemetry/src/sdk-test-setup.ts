import { type OtlpReceiver, startOtlpReceiver, TEST_REDIS_URL } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import { SDK_DEFAULTS } from "./index.ts";
import { startTracing, type Tracing, type TracingOptions } from "./sdk.ts";

/**
 * For a test file of its own (the SDK registers itself once per process): the real SDK and exporter, sending
 * OTLP/HTTP JSON to a receiver on loopback, and a real Redis. The SDK reads its configuration from process.env, as
 * it does in Herald's processes; `env` is added there first.
 */
export function useTracedProcess(env: Record<string, string>, options: TracingOptions) {
  const traced = {} as { otlp: OtlpReceiver; tracing: Tracing; redis: Redis };
  beforeAll(async () => {
    traced.otlp = await startOtlpReceiver();
    Object.assign(process.env, { OTEL_EXPORTER_OTLP_ENDPOINT: traced.otlp.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json", ...env });
    // Herald's defaults come from startTracing itself, not from a value an earlier test left in process.env.
    for (const name of Object.keys(SDK_DEFAULTS)) delete process.env[name];
    traced.tracing = await startTracing(process.env, options);
    traced.redis = new Redis(TEST_REDIS_URL);
  });
  afterAll(async () => {
    traced.redis?.disconnect();
    await traced.tracing?.shutdown();
    await traced.otlp?.close();
  });
  return traced;
}
