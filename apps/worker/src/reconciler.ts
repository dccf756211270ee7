import { DELIVERY_JOB_OPTIONS, type DeliveryJob, JOB_NAMES } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import type { Queue } from "bullmq";
import type { Logger } from "pino";

export interface ReconcilerOptions {
  intervalMs: number;
  /** How overdue a delivery must be before it is taken for lost in Redis. */
  graceMs: number;
  batchSize?: number;
}

/**
 * PostgreSQL is the source of truth; Redis only holds work. Deliveries that
 * are due but overdue by more than the grace period are enqueued again: after
 * a crash between commit and enqueue, a Redis that lost its data, or a job
 * that failed for good inside BullMQ. The job id is the delivery id, so a job
 * that still exists is not duplicated, and many workers can run this at once.
 */
export function createReconciler(sql: Sql, queue: Queue, logger: Logger, options: ReconcilerOptions) {
  const batchSize = options.batchSize ?? 1000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function reconcileOnce(): Promise<number> {
    let total = 0;
    let after = "";
    for (;;) {
      const rows = await sql<DeliveryJob[]>`
        select id as "deliveryId", event_id as "eventId", endpoint_id as "endpointId", tenant_id as "tenantId"
        from deliveries
        where status in ('pending', 'failed')
          and next_attempt_at < now() - make_interval(secs => ${options.graceMs / 1000})
          and id > ${after}
        order by id
        limit ${batchSize}`;
      if (rows.length === 0) break;
      await queue.addBulk(
        rows.map((data) => ({ name: JOB_NAMES.deliver, data, opts: { ...DELIVERY_JOB_OPTIONS, jobId: data.deliveryId } })),
      );
      total += rows.length;
      after = rows[rows.length - 1]?.deliveryId ?? after;
      if (rows.length < batchSize) break;
    }
    if (total > 0) logger.info({ count: total }, "reconciler re-enqueued overdue deliveries");
    return total;
  }

  function tick(): void {
    if (running) return;
    running = reconcileOnce()
      .catch((error) => {
        logger.error({ err: error }, "reconcile failed; will try again");
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    reconcileOnce,
    start(): void {
      timer = setInterval(tick, options.intervalMs);
      timer.unref();
    },
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
