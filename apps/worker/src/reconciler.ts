import { type DeliveryJob, deliveryJobEntry } from "@herald/schema";
import type { Sql } from "@herald/schema/client";
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

export interface ReconcilerOptions {
  intervalMs: number;
  /** How overdue a delivery must be before it is checked for a job in Redis. */
  graceMs: number;
  /** The queue prefix: the cluster-wide pass lock lives under it. */
  prefix: string;
  batchSize?: number;
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
 * Built for a backlog: a delivery waiting its turn behind a slow endpoint is
 * overdue too, so each candidate is checked with one EXISTS (pipelined)
 * rather than re-added (a BullMQ script call each), pages walk the due index
 * in (next_attempt_at, id) order so each page costs its own size, and one
 * worker of all the workers on the queue makes a pass per interval (a lock in
 * Redis with the interval as its TTL). The job id is the delivery id, so a
 * pass that races a publish or another pass adds nothing twice.
 */
export function createReconciler(sql: Sql, queue: Queue, redis: Redis, logger: Logger, options: ReconcilerOptions) {
  const batchSize = options.batchSize ?? 1000;
  const lockKey = `${options.prefix}:reconciler`;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<ReconcilePass | null> | undefined;

  async function missingFromRedis(rows: DueRow[]): Promise<DueRow[]> {
    const pipeline = redis.pipeline();
    for (const row of rows) pipeline.exists(queue.toKey(row.deliveryId));
    const answers = (await pipeline.exec()) ?? [];
    return rows.filter((_, i) => {
      const [error, exists] = answers[i] ?? [null, 0];
      if (error) throw error;
      return exists === 0;
    });
  }

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
        where status in ('pending', 'failed')
          and next_attempt_at < ${cutoff}
          and next_attempt_at >= ${after.due}::text::timestamptz
          and (next_attempt_at, id) > (${after.due}::text::timestamptz, ${after.id}::text)
        order by next_attempt_at, id
        limit ${batchSize}`;
      if (rows.length === 0) break;
      const missing = await missingFromRedis(rows);
      if (missing.length > 0) {
        await queue.addBulk(missing.map(({ due: _due, ...data }) => deliveryJobEntry(data)));
      }
      pass.checked += rows.length;
      pass.enqueued += missing.length;
      const last = rows[rows.length - 1] as DueRow;
      after = { due: last.due, id: last.deliveryId };
      if (rows.length < batchSize) break;
    }
    if (pass.enqueued > 0) logger.info(pass, "reconciler re-enqueued overdue deliveries missing from Redis");
    return pass;
  }

  /** A pass if no worker made one this interval; null when another did. */
  async function reconcileIfDue(): Promise<ReconcilePass | null> {
    // A little shorter than the interval, so the next tick of the worker that made this pass finds it free.
    const taken = await redis.set(lockKey, String(process.pid), "PX", Math.ceil(options.intervalMs * 0.9), "NX");
    if (taken !== "OK") return null;
    return reconcileOnce();
  }

  function tick(): void {
    if (running) return;
    running = reconcileIfDue()
      .catch((error) => {
        logger.error({ err: error }, "reconcile failed; will try again");
        return null;
      })
      .finally(() => {
        running = undefined;
      });
  }

  return {
    reconcileOnce,
    reconcileIfDue,
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
