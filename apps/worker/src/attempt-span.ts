import type { Outcome } from "@herald/delivery";
import { ATTR, context, contextFromTraceparent, SpanKind, SpanStatusCode, trace, tracer, tracingActive } from "@herald/telemetry";

export interface AttemptSubject {
  deliveryId: string;
  eventId: string;
  eventType: string;
  endpointId: string;
  tenantId: string;
  attempt: number;
  /** The publish's traceparent, stored with the delivery; null when it was published untraced. */
  traceContext: string | null;
}

export interface AttemptSpan {
  /**
   * Runs `fn` inside the span: what it starts synchronously (the HTTP request, the release's Redis call) is the
   * span's child. A worker's context does not follow awaits (see SyncContextManager), so each child is started here.
   */
  run<T>(fn: () => Promise<T>): Promise<T>;
  sent(outcome: Outcome): void;
  /**
   * Records the attempt inside the span (the endpoint's Redis release is its child), then ends the span with
   * what became of the delivery.
   */
  ended<T extends string>(record: () => Promise<T>): Promise<T>;
}

/** Tracing off: no span, no context switch, no allocation per attempt. */
const UNTRACED: AttemptSpan = { run: (fn) => fn(), sent: () => {}, ended: (record) => record() };

/**
 * The span of one delivery attempt: a child of the publish that made the delivery, read from the traceparent
 * stored with it, so a retry hours later or a job the reconciler enqueued again joins the same trace. Without an
 * SDK there is no span at all.
 */
export function startAttemptSpan(subject: AttemptSubject): AttemptSpan {
  if (!tracingActive()) return UNTRACED;
  const span = tracer.startSpan(
    "herald.attempt",
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        [ATTR.deliveryId]: subject.deliveryId,
        [ATTR.eventId]: subject.eventId,
        [ATTR.eventType]: subject.eventType,
        [ATTR.endpointId]: subject.endpointId,
        [ATTR.tenantId]: subject.tenantId,
        [ATTR.attempt]: subject.attempt,
      },
    },
    contextFromTraceparent(subject.traceContext),
  );
  const active = trace.setSpan(context.active(), span);
  return {
    run: (fn) => context.with(active, fn),
    sent(outcome) {
      if (outcome.statusCode !== null) span.setAttribute(ATTR.statusCode, outcome.statusCode);
      if (outcome.errorKind) {
        span.setAttribute(ATTR.errorType, outcome.errorKind);
        span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.errorMessage ?? outcome.errorKind });
      }
    },
    ended(record) {
      return context.with(active, record).then(
        (result) => {
          span.setAttribute(ATTR.outcome, result);
          span.end();
          return result;
        },
        (error: Error) => {
          // A retry due soon leaves as an error BullMQ turns into a delay: the delivery failed, the span did not.
          span.setAttribute(ATTR.outcome, error.name === "RetryLaterError" ? "failed" : "error");
          span.end();
          throw error;
        },
      );
    },
  };
}
