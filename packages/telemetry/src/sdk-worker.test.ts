import { freshQueuePrefix } from "@herald/testing";
import { describe, expect, it } from "vitest";
import { bindActiveContext, inSpan, SpanKind, sqlSpan } from "./index.ts";
import { useTracedProcess } from "./sdk-test-setup.ts";

// A worker's configuration: the synchronous context manager.
const traced = useTracedProcess(
  { OTEL_BSP_SCHEDULE_DELAY: "50" },
  { serviceName: "herald-telemetry-worker-test", outgoingHttp: { sendTraceparent: false }, context: "sync" },
);

describe("startTracing with a worker's synchronous context", () => {
  it("parents what a span starts synchronously or through a bound callback, and nothing started after an await", async () => {
    const key = `${freshQueuePrefix()}:k`;
    await inSpan("test.attempt", {}, SpanKind.CONSUMER, async () => {
      // Sent in the span's synchronous part: its child.
      const sent = traced.redis.get(key);
      // Scheduled from inside the span and bound: its child too, though it runs in a later turn.
      const later = new Promise<void>((resolve) =>
        setImmediate(
          bindActiveContext(() => {
            void traced.redis.exists(key).then(() => resolve());
          }),
        ),
      );
      await sent;
      await later;
      // After an await the span is no longer active: no Redis span, and no PostgreSQL span of its own trace.
      await traced.redis.set(key, "1", "PX", 10_000);
      await sqlSpan("select", "events", async () => "not traced");
    });
    await traced.tracing.shutdown();

    const attempt = await traced.otlp.waitForSpan((s) => s.name === "test.attempt", { what: "attempt span" });
    const redisSpans = traced.otlp.spans.filter((s) => s.attributes["db.system.name"] === "redis");
    expect(redisSpans.map((s) => ({ name: s.name, parent: s.parentSpanId })).sort((x, y) => x.name.localeCompare(y.name))).toEqual([
      { name: "exists", parent: attempt.spanId },
      { name: "get", parent: attempt.spanId },
    ]);
    expect(traced.otlp.spans.map((s) => s.name).sort()).toEqual(["exists", "get", "test.attempt"]);
  });
});
