import { buildHeaders, type DeliveryClient, interruptedOutcome, type Outcome } from "@herald/delivery";
import { type Admission, type DeliveryJob, deliveryJobSchema, type EndpointGuard } from "@herald/queue";
import { outsideSpans } from "@herald/telemetry";
import { type Job, UnrecoverableError } from "bullmq";
import type { Logger } from "pino";
import { type AttemptSpan, startAttemptSpan } from "./attempt-span.ts";
import type { ContextLoader, DeliveryState, EndpointTarget, EventBody } from "./delivery-context.ts";
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
 * Retries at most this far away stay in Redis as delayed BullMQ jobs; later
 * ones leave Redis and wait in PostgreSQL (status `failed`, `next_attempt_at`)
 * until the scheduler enqueues them shortly before they are due. A retry hours
 * away then costs no Redis memory for the whole wait.
 */
export const SHORT_RETRY_MS = 5_000;
/** A job that arrives this much before its delivery's next attempt is a stale copy: the scheduler enqueues the real one. */
const EARLY_TOLERANCE_MS = 1_000;

export interface ProcessorDeps {
  loader: ContextLoader;
  recorder: Recorder;
  client: DeliveryClient;
  policy: RetryPolicy;
  guard: EndpointGuard;
  /** Where jobs of a busy, fast endpoint wait for a slot this worker frees; none: every refusal parks the delivery. */
  waiters?: SlotWaiters;
  /** Moves more of an endpoint's parked backlog into the queue once its jobs there run low. */
  refill: (endpointId: string, n: number) => void;
  /**
   * Parks the delivery once its job has left Redis (see createWorker). Parked
   * any earlier, a refill could release it while its job still exists, and the
   * new job (same id) would be dropped as a duplicate, leaving the delivery
   * with no job until the reconciler's grace period ran out.
   */
  parkAfterJob: (park: { deliveryId: string; endpointId: string; wakeAt: number }) => void;
  operational: OperationalEvents;
  metrics: WorkerMetrics;
  logger: Logger;
}

/**
 * Only an endpoint whose oldest request in flight is younger than this has jobs wait for a slot in the worker:
 * a slot is likely to free within the wait. The queue holds at most twice an endpoint's cap of its jobs, so at
 * most one cap's worth waits.
 */
const FAST_ENDPOINT_MS = 1_000;
/** The longest a job waits in the worker for a slot before it goes back to the delayed set. */
const LOCAL_WAIT_MAX_MS = 2_000;
/** How often a waiting job asks again when no slot of its endpoint was freed by this worker. */
const LOCAL_RECHECK_MS = 100;

/** How long the whole endpoint pauses after a 429/503: what Retry-After asks (bounded), or a second for a bare 429. */
function pauseAfter(outcome: { statusCode: number | null; retryAfterMs: number | null }, maxMs: number): number {
  if (outcome.retryAfterMs !== null) return Math.min(outcome.retryAfterMs, maxMs);
  return outcome.statusCode === 429 ? 1000 : 0;
}

export type ProcessResult = "succeeded" | "failed" | "exhausted" | "held" | "parked" | "skipped";

/**
 * Makes one attempt of one delivery and records it before returning. A failure
 * whose retry is due soon throws RetryLaterError after the record is committed
 * (BullMQ delays the job); a later retry completes the job and waits in
 * PostgreSQL. A delivery whose endpoint cannot take it now is parked: the job
 * completes without an attempt and the delivery waits in PostgreSQL until the
 * scheduler releases it.
 */
export function createProcessor(deps: ProcessorDeps) {
  const { metrics } = deps;
  return async function processDelivery(bullJob: Job<DeliveryJob>, token = ""): Promise<ProcessResult> {
    const parsed = deliveryJobSchema.safeParse(bullJob.data);
    if (!parsed.success) {
      // Retrying cannot mend a job: fail it for good, once, and say which.
      deps.logger.error({ jobId: bullJob.id, issues: parsed.error.issues }, "malformed delivery job; failed without retrying");
      metrics.deliveries.inc({ outcome: "malformed" });
      throw new UnrecoverableError("malformed delivery job");
    }
    try {
      const result = await attempt(parsed.data, `${bullJob.id}:${token}`);
      metrics.deliveries.inc({ outcome: result });
      return result;
    } catch (error) {
      if (error instanceof RetryLaterError) metrics.deliveries.inc({ outcome: "failed" });
      throw error;
    }
  };

  /** Why a job ends without an attempt, if it does. */
  function skipped(
    state: DeliveryState | undefined,
    endpoint: EndpointTarget | undefined,
    event: EventBody | undefined,
  ): ProcessResult | null {
    // Deleted with its endpoint or tenant, or finished by an earlier duplicate run.
    if (!state || !endpoint || !event) return "skipped";
    if (state.status !== "pending" && state.status !== "failed") return "skipped";
    // Parked since this job was made: the scheduler releases it in its turn.
    if (state.parked) return "skipped";
    // A stale copy of a job whose delivery was already tried and rescheduled: the due one comes from the scheduler.
    if (state.nextAttemptAt && state.nextAttemptAt.getTime() > Date.now() + EARLY_TOLERANCE_MS) return "skipped";
    if (endpoint.disabled) return "held";
    return null;
  }

  async function attempt(job: DeliveryJob, lease: string): Promise<ProcessResult> {
    const [state, endpoint, event] = await Promise.all([
      deps.loader.delivery(job.deliveryId),
      deps.loader.endpoint(job.endpointId),
      deps.loader.event(job.eventId),
    ]);
    const skip = skipped(state, endpoint, event);
    if (skip) {
      if (skip === "held") await deps.recorder.hold(job.deliveryId, job.endpointId);
      await deps.guard.leave(job.endpointId);
      return skip;
    }
    if (!state || !endpoint || !event) return "skipped";

    const ref = { deliveryId: job.deliveryId, endpointId: endpoint.id };
    const attemptNumber = state.attempts + 1;
    let admission = await deps.guard.acquire(ref, lease, endpoint.rateLimit, attemptNumber);
    // A full endpoint that answers, and quickly, frees a slot within milliseconds, and a rate limit's next turn
    // may be as close: wait for it here. One that has not answered lately (new, or hanging) may never free a
    // slot, so its deliveries are parked at once.
    const waitUntil = Date.now() + LOCAL_WAIT_MAX_MS;
    const worthWaiting = (refused: Admission) =>
      refused.admitted === false &&
      ((refused.reason === "concurrency" &&
        refused.answering === true &&
        (refused.oldestMs ?? Number.POSITIVE_INFINITY) < FAST_ENDPOINT_MS) ||
        (refused.reason === "rate_limit" && refused.delayMs <= LOCAL_RECHECK_MS * 5)) &&
      Date.now() + Math.min(refused.delayMs, LOCAL_RECHECK_MS) < waitUntil;
    let again = false;
    while (!admission.admitted && worthWaiting(admission)) {
      // Woken when this worker frees one of the endpoint's slots; the endpoint's longest-waiting job also looks
      // again now and then, for slots other workers free and the rate limit's next turn.
      const recheckMs = admission.reason === "rate_limit" ? Math.max(1, admission.delayMs) : LOCAL_RECHECK_MS;
      const waited = deps.waiters?.wait(endpoint.id, recheckMs, waitUntil - Date.now(), again);
      if (!waited) break;
      await waited;
      // It was the endpoint's longest-waiting job, and stays first if it is refused again.
      again = true;
      admission = await deps.guard.acquire(ref, lease, endpoint.rateLimit, attemptNumber, true);
    }
    if (!admission.admitted) {
      // Not now: the delivery waits in PostgreSQL and the endpoint joins the parked set, so nothing of it
      // bounces through Redis until the endpoint can take it (see the scheduler).
      metrics.delayed.inc({ reason: admission.reason });
      // A circuit's cool-down and a Retry-After pause end when they say. A full endpoint's slot frees whenever a
      // request ends, and that request's release may have come before this park: look again within a second.
      const waitMs =
        admission.reason === "concurrency" || admission.reason === "rate_limit" ? Math.min(admission.delayMs, 1_000) : admission.delayMs;
      // Written once the job has left Redis, never before (see ProcessorDeps.parkAfterJob).
      deps.parkAfterJob({ deliveryId: job.deliveryId, endpointId: endpoint.id, wakeAt: Date.now() + waitMs });
      return "parked";
    }
    const span = startAttemptSpan({ ...job, eventType: event.eventType, attempt: attemptNumber, traceContext: state.traceContext });
    if (admission.interruptedAttempt >= attemptNumber) {
      // A worker died after admitting this attempt and before recording it: the receiver may have it, so the
      // log says so, it counts as an attempt, and the next one follows the retry schedule like any failure's.
      span.sent(interruptedOutcome());
      return span.ended(() => finish(job, endpoint, lease, attemptNumber, new Date(), interruptedOutcome(), {}, span));
    }

    const startedAt = new Date();
    const headers = buildHeaders(event.id, event.body, endpoint.secrets, endpoint.headers, Math.floor(startedAt.getTime() / 1000));
    metrics.inFlight.inc();
    const outcome = await span
      .run(() => deps.client.send({ url: endpoint.url, headers, body: event.body }))
      .finally(() => metrics.inFlight.dec());
    span.sent(outcome);
    if (outcome.ok) metrics.publishToDelivery.observe((Date.now() - event.createdAt.getTime()) / 1000);
    metrics.attemptDuration.observe({ kind: outcome.errorKind ?? "ok" }, outcome.durationMs / 1000);
    // The recorder stores them through attemptFields, which redacts the signature.
    return span.ended(() => finish(job, endpoint, lease, attemptNumber, startedAt, outcome, headers, span));
  }

  /** Records an attempt, frees the endpoint's slot, and says what becomes of the delivery. */
  async function finish(
    job: DeliveryJob,
    endpoint: EndpointTarget,
    lease: string,
    attemptNumber: number,
    startedAt: Date,
    outcome: Outcome,
    requestHeaders: Record<string, string>,
    span: AttemptSpan,
  ): Promise<ProcessResult> {
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

    await deps.recorder.attempt({
      deliveryId: job.deliveryId,
      endpointId: endpoint.id,
      attemptNumber,
      startedAt,
      outcome,
      requestHeaders,
      status,
      nextAttemptAt: delayMs === null ? null : new Date(Date.now() + delayMs),
    });
    // Released only once recorded, so a worker dying in between leaves the mark
    // that the next run reads as an interrupted attempt. Releasing never fails
    // the attempt: the lease expires on its own if Redis is away. Inside the attempt's span, after the awaits above
    // (a worker's context follows synchronous calls only, see SyncContextManager).
    await span
      .run(() =>
        deps.guard.release(
          { deliveryId: job.deliveryId, endpointId: endpoint.id },
          lease,
          outcome.ok,
          outcome.ok ? 0 : pauseAfter(outcome, deps.policy.retryAfterMaxMs),
        ),
      )
      .then(({ opened, refill }) => {
        deps.waiters?.wake(endpoint.id);
        if (opened) {
          metrics.circuitsOpened.inc();
          deps.logger.warn({ endpointId: endpoint.id }, "circuit opened");
        }
        // The refill releases other deliveries: not part of this attempt, and no spans of its own (see outsideSpans).
        if (refill > 0) outsideSpans(() => deps.refill(endpoint.id, refill));
      })
      .catch((error) => deps.logger.warn({ err: error, endpointId: endpoint.id }, "could not release the endpoint slot"));

    if (status === "exhausted") {
      await deps.operational.deliveryExhausted({
        deliveryId: job.deliveryId,
        eventId: job.eventId,
        endpointId: endpoint.id,
        tenantId: endpoint.tenantId,
        attempts: attemptNumber,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.errorMessage,
      });
    }
    if (delayMs !== null && delayMs <= SHORT_RETRY_MS) throw new RetryLaterError(delayMs, outcome.errorMessage ?? "delivery failed");
    return status;
  }
}
