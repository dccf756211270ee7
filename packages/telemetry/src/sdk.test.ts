import { freshQueuePrefix } from "@herald/testing";
import { metrics } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { inSpan, outsideSpans, SDK_DEFAULTS, SpanKind, traceparentOf } from "./index.ts";
import { useTracedProcess } from "./sdk-test-setup.ts";

const traced = useTracedProcess(
  { OTEL_BSP_SCHEDULE_DELAY: "50", OTEL_BSP_MAX_EXPORT_BATCH_SIZE: "64" },
  { serviceName: "herald-telemetry-test" },
);

describe("startTracing", () => {
  it("applies Herald's defaults where OTEL_* does not say, and leaves what the operator set", () => {
    expect(process.env.OTEL_BSP_MAX_QUEUE_SIZE).toBe(SDK_DEFAULTS.OTEL_BSP_MAX_QUEUE_SIZE);
    expect(process.env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE).toBe("64");
  });

  it("makes Redis commands children of Herald's spans, nothing of work run outsideSpans, and exports traces only", async () => {
    const key = `${freshQueuePrefix()}:k`;
    let parentTraceparent: string | null = null;
    let detachedTraceparent: string | null = null;
    await inSpan("test.parent", {}, SpanKind.INTERNAL, async (span) => {
      parentTraceparent = traceparentOf(span);
      await traced.redis.get(key);
      // Set off by the parent but not part of it: no Redis span, and a span it starts is a root of its own.
      await outsideSpans(() => traced.redis.set(key, "1", "PX", 10_000));
      await outsideSpans(() =>
        inSpan("test.detached", {}, SpanKind.INTERNAL, async (detached) => {
          detachedTraceparent = traceparentOf(detached);
        }),
      );
    });
    // A command with no span around it makes none either (requireParentSpan).
    await traced.redis.del(key);
    // A metric recorded through the API goes nowhere: no metrics exporter unless OTEL_METRICS_EXPORTER asks for one.
    metrics.getMeter("herald-test").createCounter("herald_test_total").add(1);
    await traced.tracing.shutdown();
    expect([...traced.otlp.requestsByPath.keys()]).toEqual(["/v1/traces"]);

    const parent = await traced.otlp.waitForSpan((s) => s.name === "test.parent", { what: "parent span" });
    expect(parentTraceparent).toContain(parent.spanId);
    const detached = await traced.otlp.waitForSpan((s) => s.name === "test.detached", { what: "detached span" });
    expect(detached.parentSpanId).toBe("");
    expect(detached.traceId).not.toBe(parent.traceId);
    expect(detachedTraceparent).toContain(detached.spanId);
    const redisSpans = traced.otlp.spans.filter((s) => s.attributes["db.system.name"] === "redis");
    expect(redisSpans.map((s) => ({ name: s.name, parent: s.parentSpanId }))).toEqual([{ name: "get", parent: parent.spanId }]);
  });
});
