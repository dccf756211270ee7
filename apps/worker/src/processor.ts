import { buildHeaders, type DeliveryClient } from "@herald/delivery";
import type { DeliveryJob } from "@herald/schema";
import type { Logger } from "pino";
import type { ContextLoader } from "./delivery-context.ts";
import type { FinalStatus, Recorder } from "./recorder.ts";
import { decideRetry, type RetryPolicy } from "./retry-policy.ts";

/** Thrown to let BullMQ schedule the next attempt; `delayMs` is what the retry policy chose. */
export class RetryLaterError extends Error {
  constructor(
    readonly delayMs: number,
    reason: string,
  ) {
    super(reason);
    this.name = "RetryLaterError";
  }
}

export interface ProcessorDeps {
  loader: ContextLoader;
  recorder: Recorder;
  client: DeliveryClient;
  policy: RetryPolicy;
  logger: Logger;
}

export type ProcessResult = "succeeded" | "failed" | "exhausted" | "held" | "skipped";

/**
 * Makes one attempt of one delivery and records it before returning. A failure
 * with attempts left throws RetryLaterError after the record is committed.
 */
export function createProcessor(deps: ProcessorDeps) {
  return async function processDelivery(job: DeliveryJob): Promise<ProcessResult> {
    const [state, endpoint, event] = await Promise.all([
      deps.loader.delivery(job.deliveryId),
      deps.loader.endpoint(job.endpointId),
      deps.loader.event(job.eventId),
    ]);
    // Deleted with its endpoint or tenant, or finished by an earlier duplicate run.
    if (!state || !endpoint || !event) return "skipped";
    if (state.status !== "pending" && state.status !== "failed") return "skipped";
    if (endpoint.disabled) {
      await deps.recorder.hold(job.deliveryId);
      return "held";
    }

    const attemptNumber = state.attempts + 1;
    const startedAt = new Date();
    const headers = buildHeaders(event.id, event.body, endpoint.secrets, endpoint.headers, Math.floor(startedAt.getTime() / 1000));
    const outcome = await deps.client.send({ url: endpoint.url, headers, body: event.body });

    let status: FinalStatus;
    let delayMs: number | null = null;
    if (outcome.ok) {
      status = "succeeded";
    } else if (outcome.errorKind === "gone") {
      await deps.recorder.disableEndpoint(endpoint.id, "the receiver answered 410 Gone");
      deps.loader.forgetEndpoint(endpoint.id);
      status = "held";
    } else {
      const decision = decideRetry(deps.policy, attemptNumber, { maxAttempts: endpoint.maxAttempts, retryAfterMs: outcome.retryAfterMs });
      status = decision.retry ? "failed" : "exhausted";
      delayMs = decision.retry ? decision.delayMs : null;
    }

    const { "webhook-signature": _signature, ...shownHeaders } = headers;
    await deps.recorder.attempt({
      deliveryId: job.deliveryId,
      endpointId: endpoint.id,
      attemptNumber,
      startedAt,
      outcome,
      requestHeaders: { ...shownHeaders, "webhook-signature": "(redacted)" },
      status,
      nextAttemptAt: delayMs === null ? null : new Date(Date.now() + delayMs),
    });

    if (delayMs !== null) throw new RetryLaterError(delayMs, outcome.errorMessage ?? "delivery failed");
    return status;
  };
}
