/**
 * Span helpers on the OpenTelemetry API alone. Until an SDK is started (see
 * `./sdk`, loaded only when OTEL_* asks for it) they make no span at all: the
 * helpers below check `tracingActive()` and run their work directly.
 */
import {
  type Attributes,
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";

export type { Attributes, Context, Link, Span };
export { context, SpanKind, SpanStatusCode, trace };

/** Attribute names an operator searches by; `http.response.status_code` and `error.type` are OpenTelemetry's own. */
export const ATTR = {
  eventId: "herald.event.id",
  eventType: "herald.event.type",
  tenantId: "herald.tenant.id",
  endpointId: "herald.endpoint.id",
  deliveryId: "herald.delivery.id",
  deliveries: "herald.deliveries",
  attempt: "herald.attempt.number",
  outcome: "herald.delivery.outcome",
  statusCode: "http.response.status_code",
  errorType: "error.type",
} as const;

export const tracer = trace.getTracer("herald");

let active = false;

/** Whether this process started the SDK (see `./sdk`). Off, the helpers here cost a branch, not a span. */
export function tracingActive(): boolean {
  return active;
}

/** Called by `./sdk` once the SDK runs. */
export function markTracingActive(): void {
  active = true;
}

/** The span handed to work that runs untraced: records nothing, has no valid context. */
export const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** Environment variables that turn tracing on: an exporter or where to send to. */
export function tracingRequested(env: Record<string, string | undefined>): boolean {
  if (env.OTEL_SDK_DISABLED === "true") return false;
  const exporters = env.OTEL_TRACES_EXPORTER?.trim();
  if (exporters === "none") return false;
  return Boolean(exporters || env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * What Herald sets where the operator set nothing, each variable on its own:
 * - OTEL_BSP_MAX_QUEUE_SIZE: OpenTelemetry's 2,048 spans, with one export in flight at a time, drop spans once a
 *   worker ends more than that during one export's round trip (a few thousand deliveries per second at three
 *   spans each, or a slow collector); 8,192 spans are a few MiB at most. The batch size stays OpenTelemetry's 512:
 *   larger or smaller batches made no measurable difference to CPU per delivery.
 * - OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER: "none". Herald's metrics are Prometheus's and its logs go to
 *   stdout; the SDK's default (otlp) would only add the instrumentations' own metrics (a histogram record per
 *   outgoing request) and an empty log pipeline. An operator who wants them sets these variables.
 */
export const SDK_DEFAULTS = {
  OTEL_BSP_MAX_QUEUE_SIZE: "8192",
  OTEL_METRICS_EXPORTER: "none",
  OTEL_LOGS_EXPORTER: "none",
} as const;

/** The OTEL_* variables to add to `env`: Herald's defaults, each only where `env` sets none. */
export function sdkDefaults(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(SDK_DEFAULTS).filter(([name]) => !env[name]?.trim()));
}

/** The automatic instrumentations Herald's processes load: outgoing HTTP (workers) and Redis commands. */
export const INSTRUMENTATIONS = ["undici", "ioredis"] as const;
export type InstrumentationName = (typeof INSTRUMENTATIONS)[number];

/**
 * Which instrumentations run, by OpenTelemetry's Node.js variables (as `@opentelemetry/auto-instrumentations-node`
 * reads them): OTEL_NODE_ENABLED_INSTRUMENTATIONS, a comma-separated list, keeps only those named;
 * OTEL_NODE_DISABLED_INSTRUMENTATIONS leaves out those named. Unset or empty: all of them.
 */
export function enabledInstrumentations(env: Record<string, string | undefined>): Set<InstrumentationName> {
  const list = (value: string | undefined) =>
    !value?.trim()
      ? undefined
      : new Set(
          value
            .split(",")
            .map((name) => name.trim())
            .filter(Boolean),
        );
  const enabled = list(env.OTEL_NODE_ENABLED_INSTRUMENTATIONS);
  const disabled = list(env.OTEL_NODE_DISABLED_INSTRUMENTATIONS) ?? new Set<string>();
  return new Set(INSTRUMENTATIONS.filter((name) => (enabled === undefined || enabled.has(name)) && !disabled.has(name)));
}

/**
 * `url.full` and `url.query` of an outgoing request as a trace may show them: every query value is replaced by
 * `REDACTED` (webhook URLs often carry a token there; OpenTelemetry's conventions ask for sensitive values to be
 * redacted, and Herald cannot tell which are), and user:password is dropped. Null when there is nothing to hide.
 */
export function redactedUrl(full: string): { full: string; query: string } | null {
  let url: URL;
  try {
    url = new URL(full);
  } catch {
    return null;
  }
  if (!url.search && !url.username && !url.password) return null;
  url.username = "";
  url.password = "";
  const names = [...new URLSearchParams(url.search).keys()];
  const query = names.length > 0 ? `?${names.map((name) => `${encodeURIComponent(name)}=REDACTED`).join("&")}` : "";
  return { full: `${url.origin}${url.pathname}${query}`, query };
}

/** The W3C traceparent of a span, to store with what it caused; null when nothing is traced. */
export function traceparentOf(span: Span): string | null {
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return null;
  return `00-${ctx.traceId}-${ctx.spanId}-${(ctx.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The context a stored traceparent names, as a remote parent. Parsed here rather than by the global
 * propagator, which a worker leaves empty unless it sends traceparent to receivers.
 */
export function contextFromTraceparent(value: string | null | undefined): Context {
  const match = value ? TRACEPARENT.exec(value) : null;
  if (!match) return ROOT_CONTEXT;
  const [, traceId, spanId, flags] = match as unknown as [string, string, string, string];
  const spanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}

/** Runs `fn` in a span that ends when it settles; a rejection marks the span as an error. */
export async function inSpan<T>(name: string, attributes: Attributes, kind: SpanKind, fn: (span: Span) => Promise<T>): Promise<T> {
  if (!active) return fn(NO_SPAN);
  return tracer.startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Runs `fn` with no span active: for work that a span's code sets off but that is not part of it (a worker's
 * backlog refill after an attempt), so neither its Redis commands nor BullMQ's enqueue become the span's children.
 * With the ioredis instrumentation requiring a parent span, such work then makes no span at all.
 */
export function outsideSpans<T>(fn: () => T): T {
  return active ? context.with(ROOT_CONTEXT, fn) : fn();
}

/**
 * `fn` bound to the context active now, for a callback that runs later on behalf of the code that scheduled it. A
 * worker's context follows synchronous calls only (see SyncContextManager), so a later callback sees none unless
 * bound; AsyncLocalStorage would carry it there anyway.
 */
export function bindActiveContext<F extends (...args: never[]) => unknown>(fn: F): F {
  return active ? context.bind(context.active(), fn) : fn;
}

/**
 * A PostgreSQL statement worth seeing in a trace; postgres.js has no automatic instrumentation. Only inside another
 * span, as Redis commands are: a statement a worker runs after an await has no context (see SyncContextManager) and
 * would otherwise start a trace of its own.
 */
export function sqlSpan<T>(operation: string, table: string, fn: () => Promise<T>): Promise<T> {
  if (!active || !trace.getSpan(context.active())) return fn();
  return inSpan(
    `${operation} ${table}`,
    { "db.system.name": "postgresql", "db.operation.name": operation, "db.collection.name": table },
    SpanKind.CLIENT,
    fn,
  );
}
