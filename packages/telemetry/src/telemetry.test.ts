import { describe, expect, it } from "vitest";
import {
  contextFromTraceparent,
  enabledInstrumentations,
  inSpan,
  NO_SPAN,
  redactedUrl,
  SDK_DEFAULTS,
  SpanKind,
  sdkDefaults,
  trace,
  traceparentOf,
  tracingActive,
  tracingRequested,
} from "./index.ts";

describe("tracingRequested", () => {
  it("is on only when an exporter or an endpoint is named, and off when disabled", () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_SERVICE_NAME: "herald" })).toBe(false);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://collector:4318/v1/traces" })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: "console" })).toBe(true);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: "none", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(false);
    expect(tracingRequested({ OTEL_SDK_DISABLED: "true", OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" })).toBe(false);
  });
});

describe("contextFromTraceparent", () => {
  it("makes a stored traceparent the remote parent", () => {
    const parent = trace.getSpanContext(contextFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
    expect(parent).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1, isRemote: true });
  });

  it("ignores what is missing or malformed (no parent rather than a broken one)", () => {
    for (const value of [
      null,
      undefined,
      "",
      "garbage",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ]) {
      expect(trace.getSpanContext(contextFromTraceparent(value))).toBeUndefined();
    }
  });
});

describe("without an SDK", () => {
  it("runs the work with no span and stores no trace context", async () => {
    expect(tracingActive()).toBe(false);
    const seen = await inSpan("herald.publish", {}, SpanKind.PRODUCER, async (span) => ({ span, traceparent: traceparentOf(span) }));
    expect(seen).toEqual({ span: NO_SPAN, traceparent: null });
    await expect(inSpan("x", {}, SpanKind.INTERNAL, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
  });
});

describe("sdkDefaults", () => {
  it("gives Herald's defaults where the operator set none, and never overrides one that is set", () => {
    expect(sdkDefaults({})).toEqual(SDK_DEFAULTS);
    expect(Number(SDK_DEFAULTS.OTEL_BSP_MAX_QUEUE_SIZE)).toBeGreaterThan(2048);
    expect(sdkDefaults({ OTEL_BSP_MAX_QUEUE_SIZE: "100", OTEL_METRICS_EXPORTER: "otlp" })).toEqual({ OTEL_LOGS_EXPORTER: "none" });
    expect(sdkDefaults({ OTEL_BSP_MAX_QUEUE_SIZE: "100", OTEL_METRICS_EXPORTER: "otlp", OTEL_LOGS_EXPORTER: "console" })).toEqual({});
    expect(sdkDefaults({ OTEL_BSP_MAX_QUEUE_SIZE: " " })).toEqual(SDK_DEFAULTS);
  });
});

describe("enabledInstrumentations", () => {
  it("loads every instrumentation unless OTEL_NODE_ENABLED_INSTRUMENTATIONS or OTEL_NODE_DISABLED_INSTRUMENTATIONS say otherwise", () => {
    expect([...enabledInstrumentations({})]).toEqual(["undici", "ioredis"]);
    expect([...enabledInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: "ioredis" })]).toEqual(["undici"]);
    expect([...enabledInstrumentations({ OTEL_NODE_DISABLED_INSTRUMENTATIONS: " undici , ioredis " })]).toEqual([]);
    expect([...enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: "ioredis,http" })]).toEqual(["ioredis"]);
    expect([...enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: " " })]).toEqual(["undici", "ioredis"]);
    expect([
      ...enabledInstrumentations({ OTEL_NODE_ENABLED_INSTRUMENTATIONS: "undici,ioredis", OTEL_NODE_DISABLED_INSTRUMENTATIONS: "undici" }),
    ]).toEqual(["ioredis"]);
  });
});

describe("redactedUrl", () => {
  it("replaces every query value and drops user:password, keeping the names and the path", () => {
    expect(redactedUrl("https://hooks.example.com/in/42?token=s3cret&tenant=acme&flag")).toEqual({
      full: "https://hooks.example.com/in/42?token=REDACTED&tenant=REDACTED&flag=REDACTED",
      query: "?token=REDACTED&tenant=REDACTED&flag=REDACTED",
    });
    expect(redactedUrl("https://user:pass@hooks.example.com:8443/in")).toEqual({ full: "https://hooks.example.com:8443/in", query: "" });
    expect(redactedUrl("https://hooks.example.com/in?a%20b=1")?.query).toBe("?a%20b=REDACTED");
  });

  it("has nothing to do for a URL without a query or credentials, or one that does not parse", () => {
    expect(redactedUrl("https://hooks.example.com/in")).toBeNull();
    expect(redactedUrl("not a url")).toBeNull();
  });
});
