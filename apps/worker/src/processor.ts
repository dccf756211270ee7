import { buildHeaders, type DeliveryClient, interruptedOutcome } from "@herald/delivery";
import type { DeliveryJob } from "@herald/schema";
import type { Job } from "bullmq";
import type { Logger } from "pino";
import type { ContextLoader } from "./delivery-context.ts";
import type { EndpointGuard } from "./endpoint-guard.ts";
import type { WorkerMetrics } from "./metrics.ts";
import type { OperationalEvents } from "./operational-events.ts";
import type { FinalStatus, Recorder } from "./recorder.ts";
import { decideRetry, type RetryPolicy } from "./retry-policy.ts";
import type { SlotWaiters } from "./slot-waiters.ts";

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

/**
 * Thrown before any request when the endpoint cannot take one now (circuit
 * open, too many in flight, rate limit): the job is put back for `delayMs`
 * without using an attempt.
 */
export class HoldBackError extends Error {
  constructor(
    readonly delayMs: number,
    readonly reason: string,
  ) {
    super(`endpoint held back: ${reason}`);
    this.name = "HoldBackError";
  }
}

export interface ProcessorDeps {
  loader: ContextLoader;
  recorder: Recorder;
  client: DeliveryClient;
  policy: RetryPolicy;
  guard: EndpointGuard;
  /** Where jobs of a busy, fast endpoint wait for a slot this worker frees; none: every refusal goes back to Redis. */
  waiters?: SlotWaiters;
  operational: OperationalEvents;
  metrics: WorkerMetrics;
  logger: Logger;
}

/** Only an endpoint whose oldest request in flight is younger than this has jobs wait for a slot in the worker. */
const FAST_ENDPOINT_MS = 250;
/** The longest a job waits in the worker for a slot before it goes back to the delayed set. */
const LOCAL_WAIT_MAX_MS = 2_000;
/** How often a waiting job asks again when no slot of its endpoint was freed by this worker. */
const LOCAL_RECHECK_MS = 100;

/** Spreads jobs that were held back together, so they do not come back together. */
const spread = (delayMs: number) => Math.round(delayMs * (1 + Math.random() * 0.2) + Math.random() * 100);

/** How long the whole endpoint pauses after a 429/503: what Retry-After asks (bounded), or a second for a bare 429. */
function pauseAfter(outcome: { statusCode: number | null; retryAfterMs: number | null }, maxMs: number): number {
  if (outcome.retryAfterMs !== null) return Math.min(outcome.retryAfterMs, maxMs);
  return outcome.statusCode === 429 ? 1000 : 0;
}

export type ProcessResult = "succeeded" | "failed" | "exhausted" | "held" | "skipped";

/**
 * Makes one attempt of one delivery and records it before returning. A failure
 * with attempts left throws RetryLaterError after the record is committed.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { metrics } = deps;
  return async function processDelivery(bullJob: Job<DeliveryJob>, token = ""): Promise<ProcessResult> {
    try {
      const result = await attempt(bullJob.data, `${bullJob.id}:${token}`);
      metrics.deliveries.inc({ outcome: result });
      return result;
    } catch (error) {
      if (error instanceof RetryLaterError) metrics.deliveries.inc({ outcome: "failed" });
      throw error;
    }
  };

  async function attempt(job: DeliveryJob, lease: string): Promise<ProcessResult> {
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

    const ref = { deliveryId: job.deliveryId, endpointId: endpoint.id };
    let attemptNumber = state.attempts + 1;
    let admission = await deps.guard.acquire(ref, lease, endpoint.rateLimit, attemptNumber);
    // A full endpoint that answers, and quickly, frees a slot within milliseconds: wait for it here. One that
    // has not answered lately (new, or hanging) may never free one, so its jobs go back to Redis at once.
    const waitUntil = Date.now() + LOCAL_WAIT_MAX_MS;
    while (
      !admission.admitted &&
      admission.reason === "concurrency" &&
      admission.answering === true &&
      (admission.oldestMs ?? Number.POSITIVE_INFINITY) < FAST_ENDPOINT_MS &&
      Date.now() < waitUntil
    ) {
      // Woken when this worker frees one of the endpoint's slots; the timeout catches slots other workers free.
      const waited = deps.waiters?.wait(endpoint.id, Math.min(LOCAL_RECHECK_MS, waitUntil - Date.now()));
      if (!waited) break;
      await waited;
      admission = await deps.guard.acquire(ref, lease, endpoint.rateLimit, attemptNumber, true);
    }
    if (!admission.admitted) {
      metrics.delayed.inc({ reason: admission.reason });
      throw new HoldBackError(spread(admission.delayMs), admission.reason);
    }
    if (admission.interruptedAttempt >= attemptNumber) {
      // A worker died after admitting this attempt and before recording it: the
      // receiver may have it, so the log says so and it counts as an attempt.
      await deps.recorder.attempt({
        deliveryId: job.deliveryId,
        endpointId: endpoint.id,
        attemptNumber,
        startedAt: new Date(),
        outcome: interruptedOutcome(),
        requestHeaders: {},
        status: "failed",
        nextAttemptAt: new Date(),
      });
      attemptNumber++;
    }

    const startedAt = new Date();
    const headers = buildHeaders(event.id, event.body, endpoint.secrets, endpoint.headers, Math.floor(startedAt.getTime() / 1000));
    metrics.inFlight.inc();
    const outcome = await deps.client.send({ url: endpoint.url, headers, body: event.body }).finally(() => metrics.inFlight.dec());
    metrics.attemptDuration.observe({ kind: outcome.errorKind ?? "ok" }, outcome.durationMs / 1000);

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
    // Released only once recorded, so a worker dying in between leaves the mark
    // that the next run reads as an interrupted attempt. Releasing never fails
    // the attempt: the lease expires on its own if Redis is away.
    await deps.guard
      .release(ref, lease, outcome.ok, outcome.ok ? 0 : pauseAfter(outcome, deps.policy.retryAfterMaxMs))
      .then((opened) => {
        deps.waiters?.wake(endpoint.id);
        if (opened) deps.logger.warn({ endpointId: endpoint.id }, "circuit opened");
      })
      .catch((error) => deps.logger.warn({ err: error, endpointId: endpoint.id }, "could not release the endpoint slot"));

    if (status === "exhausted") {
      await deps.operational.deliveryExhausted({
        deliveryId: job.deliveryId,
        eventId: event.id,
        endpointId: endpoint.id,
        tenantId: endpoint.tenantId,
        attempts: attemptNumber,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.errorMessage,
      });
    }
    if (delayMs !== null) throw new RetryLaterError(delayMs, outcome.errorMessage ?? "delivery failed");
    return status;
  }
}
