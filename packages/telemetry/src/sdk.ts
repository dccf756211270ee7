/**
 * Starts OpenTelemetry tracing, configured by the standard OTEL_* variables
 * (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_SERVICE_NAME,
 * OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES…). A process imports this module
 * only when `tracingRequested` says so, and every OpenTelemetry package is
 * imported dynamically below: the apps are bundled, and a static import would
 * load the SDK into every process, traced or not.
 */
import type { Telemetry } from "bullmq";
import { enabledInstrumentations, markTracingActive, redactedUrl, type Span, sdkDefaults } from "./index.ts";
import { SyncContextManager } from "./sync-context.ts";

export interface TracingOptions {
  /** The service name when OTEL_SERVICE_NAME does not give one. */
  serviceName: string;
  /**
   * Outgoing HTTP (a worker's deliveries): a child span per request. Then `traceparent` goes to receivers only
   * with `sendTraceparent`: otherwise no propagator is installed and the undici instrumentation adds no header
   * (the worker reads its parents from PostgreSQL, not from headers). Without outgoing HTTP spans (the API) the
   * standard propagators (OTEL_PROPAGATORS) read an incoming traceparent.
   */
  outgoingHttp?: { sendTraceparent: boolean };
  /**
   * How the active context follows the code: "async" (OpenTelemetry's AsyncLocalStorage manager, across awaits; the
   * API, whose publish spans have children after awaits) or "sync" (only within synchronous calls, no promise hooks;
   * the workers, see SyncContextManager).
   */
  context?: "async" | "sync";
}

export interface Tracing {
  /** For BullMQ's `telemetry` option: queue and job spans, linked through the job's metadata. */
  bullmq: Telemetry;
  /** Flushes spans still buffered; call on shutdown. */
  shutdown(): Promise<void>;
}

export async function startTracing(env: Record<string, string | undefined>, options: TracingOptions): Promise<Tracing> {
  const [{ NodeSDK }, { UndiciInstrumentation }, { IORedisInstrumentation }, { BullMQOtel }, { W3CTraceContextPropagator }, ioredis] =
    await Promise.all([
      import("@opentelemetry/sdk-node"),
      import("@opentelemetry/instrumentation-undici"),
      import("@opentelemetry/instrumentation-ioredis"),
      import("bullmq-otel"),
      import("@opentelemetry/core"),
      import("ioredis"),
    ]);
  // Only commands inside a span of Herald's are traced, and only their names are exported: the arguments of the
  // guard's scripts are long (keys, ids) and would make most of each span's bytes.
  const redisInstrumentation = new IORedisInstrumentation({ requireParentSpan: true, dbStatementSerializer: (command) => command });
  // The SDK reads OTEL_* from process.env when it builds its pipelines, so Herald's defaults go there, each
  // only where the operator set none.
  Object.assign(process.env, sdkDefaults(env));
  // An operator can leave out the HTTP or Redis child spans (OTEL_NODE_DISABLED_INSTRUMENTATIONS=undici,ioredis):
  // the attempt and publish spans remain, at less cost per delivery.
  const wanted = enabledInstrumentations(env);
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: options.serviceName }),
    instrumentations: [
      ...(options.outgoingHttp && wanted.has("undici") ? [new UndiciInstrumentation({ requestHook: redactRequestUrl })] : []),
      ...(wanted.has("ioredis") ? [redisInstrumentation] : []),
    ],
    ...(options.context === "sync" ? { contextManager: new SyncContextManager() } : {}),
    ...(options.outgoingHttp ? { textMapPropagator: options.outgoingHttp.sendTraceparent ? new W3CTraceContextPropagator() : null } : {}),
  });
  sdk.start();
  markTracingActive();
  // The instrumentation hooks module loading, but a bundled app imported ioredis before this ran: apply the
  // instrumentation's own patch to the loaded module (it wraps Redis.prototype, shared by every client).
  if (wanted.has("ioredis")) {
    const definitions = (
      redisInstrumentation as unknown as { init(): { patch?: (module: unknown, version?: string) => unknown }[] }
    ).init();
    for (const definition of definitions) definition.patch?.(ioredis, "5");
  }
  return {
    bullmq: new BullMQOtel({ tracerName: "herald" }) as unknown as Telemetry,
    shutdown: () => sdk.shutdown(),
  };
}

/** Query values (and user:password) of a receiver's URL stay out of the exported POST span: see redactedUrl. */
function redactRequestUrl(span: Span, request: { origin: string; path: string }): void {
  // Herald sends to a URL's origin, which never holds user:password: only a query needs redacting.
  if (!request.path.includes("?")) return;
  const redacted = redactedUrl(`${request.origin}${request.path}`);
  if (redacted) span.setAttributes({ "url.full": redacted.full, "url.query": redacted.query });
}
