import type { DeliveryJob, DeliveryQueues } from "@herald/queue";
import type { Sql } from "@herald/schema/client";
import type { Logger } from "pino";
import { createPeriodicPass } from "./periodic-pass.ts";

export interface ReconcilerOptions {
  intervalMs: number;
  /** How overdue a delivery must be before it is checked for a job in Redis. */
  graceMs: number;
  batchSize?: number;
  /** Told how many deliveries each pass enqueued again (a metric). */
  onEnqueued?: (count: number) => void;
}

export interface ReconcilePass {
  /** Overdue deliveries looked at. */
  checked: number;
  /** Of those, the ones with no job in Redis, enqueued again. */
  enqueued: number;
}

type DueRow = DeliveryJob & { due: string };

/**
 * PostgreSQL is the source of truth; Redis only holds work. Deliveries that
 * are due but overdue by more than the grace period, and have no job in
 * Redis, are enqueued again: after a crash between commit and enqueue, a
 * Redis that lost its data, or a job that failed for good inside BullMQ.
 *
 * Parked deliveries are not its concern (they have no job on purpose; the
 * scheduler releases them), and a delivery waiting its turn in the queue is
 * overdue too, so each candidate is checked with one EXISTS (pipelined)
 * rather than re-added (a BullMQ script call each), pages walk the due index
 * in (next_attempt_at, id) order so each page costs its own size, and one
 * worker of all the workers on the queue makes a pass per interval (a lock in
 * Redis with the interval as its TTL). The job id is the delivery id, so a
 * pass that races a publish or another pass adds nothing twice.
 */
export function createReconciler(sql: Sql, queues: DeliveryQueues, logger: Logger, options: ReconcilerOptions) {
  const batchSize = options.batchSize ?? 1000;

  /** One pass over every overdue delivery, whichever worker holds the lock. */
  async function reconcileOnce(): Promise<ReconcilePass> {
    const pass: ReconcilePass = { checked: 0, enqueued: 0 };
    // The cursor's timestamp travels as text (bound as text, then cast): a JavaScript Date would drop its
    // microseconds and repeat a page. The plain >= on next_attempt_at lets the due index start at the cursor.
    let after = { due: "-infinity", id: "" };
    const cutoff = new Date(Date.now() - options.graceMs);
    for (;;) {
      const rows: DueRow[] = await sql<DueRow[]>`
        select id as "deliveryId", event_id as "eventId", endpoint_id as "endpointId", tenant_id as "tenantId",
               next_attempt_at::text as due
        from deliveries
        where status in ('pending', 'failed') and not parked
          and next_attempt_at < ${cutoff}
          and next_attempt_at >= ${after.due}::text::timestamptz
          and (next_attempt_at, id) > (${after.due}::text::timestamptz, ${after.id}::text)
        order by next_attempt_at, id
        limit ${batchSize}`;
      if (rows.length === 0) break;
      const missing = await queues.missing(rows.map(({ due: _due, ...job }) => job));
      if (missing.length > 0) await queues.enqueue(missing);
      pass.checked += rows.length;
      pass.enqueued += missing.length;
      const last = rows[rows.length - 1] as DueRow;
      after = { due: last.due, id: last.deliveryId };
      if (rows.length < batchSize) break;
    }
    if (pass.enqueued > 0) logger.info(pass, "reconciler re-enqueued overdue deliveries missing from Redis");
    options.onEnqueued?.(pass.enqueued);
    return pass;
  }

  const periodic = createPeriodicPass({ queues, logger }, { name: "reconciler", intervalMs: options.intervalMs, pass: reconcileOnce });

  return {
    reconcileOnce,
    reconcileIfDue: periodic.runIfDue,
    start: periodic.start,
    stop: periodic.stop,
  };
}
