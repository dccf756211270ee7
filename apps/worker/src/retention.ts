import type { DeliveryQueues } from "@herald/queue";
import type { Sql } from "@herald/schema/client";
import { type MaintenanceReport, maintainPartitions, storageStats } from "@herald/schema/partitions";
import type { Logger } from "pino";
import type { WorkerMetrics } from "./metrics.ts";
import { createPeriodicPass } from "./periodic-pass.ts";

export interface RetentionOptions {
  retentionMs: number;
  aheadDays: number;
  intervalMs: number;
}

/**
 * The storage maintenance pass: one worker of all, through the same lock as
 * the reconciler's, makes the coming days' partitions and drops those past
 * the retention (see maintainPartitions), then refreshes the storage gauges.
 * Every worker makes a pass as soon as it starts (the lock lets one through),
 * so a fresh deployment never waits an interval for tomorrow's partitions.
 */
export function createRetention(sql: Sql, queues: DeliveryQueues, logger: Logger, metrics: WorkerMetrics, options: RetentionOptions) {
  async function maintainOnce(): Promise<MaintenanceReport> {
    const started = Date.now();
    const report = await maintainPartitions(sql, { retentionMs: options.retentionMs, aheadDays: options.aheadDays });
    const ms = Date.now() - started;
    if (report.kept.length > 0) {
      logger.warn({ kept: report.kept }, "kept expired partitions: deliveries in them are still pending or retrying");
    }
    logger.info({ ...report, ms }, "storage maintenance pass");
    for (const stat of await storageStats(sql)) {
      metrics.storageBytes.set({ table: stat.table }, stat.bytes);
      metrics.storagePartitions.set({ table: stat.table }, stat.partitions);
      if (stat.oldestAgeSeconds !== null) metrics.oldestRowAge.set({ table: stat.table }, stat.oldestAgeSeconds);
    }
    return report;
  }

  const periodic = createPeriodicPass({ queues, logger }, { name: "retention", intervalMs: options.intervalMs, pass: maintainOnce });

  return {
    maintainOnce,
    maintainIfDue: periodic.runIfDue,
    start(): void {
      periodic.start();
      void periodic.runIfDue().catch((error) => logger.error({ err: error }, "storage maintenance pass failed; will try again"));
    },
    stop: periodic.stop,
  };
}
