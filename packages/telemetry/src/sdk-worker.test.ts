import { freshQueuePrefix, type OtlpReceiver, startOtlpReceiver, TEST_REDIS_URL } from "@herald/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bindActiveContext, inSpan, SpanKind, sqlSpan } from "./index.ts";
import { startTracing, type Tracing } from "./sdk.ts";

// A worker's configuration: the synchronous context manager, with the real SDK, exporter and Redis.
let otlp: OtlpReceiver;
let tracing: Tracing;
let redis: Redis;

beforeAll(async () => {
  otlp = await startOtlpReceiver();
  Object.assign(process.env, {
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "50",
  });
  tracing = await startTracing(process.env, {
    serviceName: "herald-telemetry-worker-test",
    outgoingHttp: { sendTraceparent: false },
    context: "sync",
  });
  redis = new Redis(TEST_REDIS_URL);
});

afterAll(async () => {
  redis?.disconnect();
  await tracing?.shutdown();
  await otlp?.close();
});

describe("startTracing with a worker's synchronous context", () => {
  it("parents what a span starts synchronously or through a bound callback, and nothing started after an await", async () => {
    const key = `${freshQueuePrefix()}:k`;
    await inSpan("test.attempt", {}, SpanKind.CONSUMER, async () => {
      // Sent in the span's synchronous part: its child.
      const sent = redis.get(key);
      // Scheduled from inside the span and bound: its child too, though it runs in a later turn.
      const later = new Promise<void>((resolve) =>
        setImmediate(
          bindActiveContext(() => {
            void redis.exists(key).then(() => resolve());
          }),
        ),
      );
      await sent;
      await later;
      // After an await the span is no longer active: no Redis span, and no PostgreSQL span of its own trace.
      await redis.set(key, "1", "PX", 10_000);
      await sqlSpan("select", "events", async () => "not traced");
    });
    await tracing.shutdown();

    const attempt = await otlp.waitForSpan((s) => s.name === "test.attempt", { what: "attempt span" });
    const redisSpans = otlp.spans.filter((s) => s.attributes["db.system.name"] === "redis");
    expect(redisSpans.map((s) => ({ name: s.name, parent: s.parentSpanId })).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: "exists", parent: attempt.spanId },
      { name: "get", parent: attempt.spanId },
    ]);
    expect(otlp.spans.map((s) => s.name).sort()).toEqual(["exists", "get", "test.attempt"]);
  });
});
