import { newId } from "@herald/schema";
import type { Queue } from "bullmq";
import { pino } from "pino";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createReconciler } from "./reconciler.ts";
import { useWorkerTestServices } from "./test-services.ts";

let queue: Queue;
let tenantId: string;
let endpointId: string;
let eventId: string;
const services = useWorkerTestServices("reconciler-test");
const logger = pino({ level: "silent" });

beforeAll(async () => {
  queue = services.queues.queues[0] as Queue;
  tenantId = newId("tenant");
  endpointId = newId("endpoint");
  eventId = newId("event");
  await services.sql`insert into tenants (id, name) values (${tenantId}, 'reconciler')`;
  await services.sql`insert into endpoints (id, tenant_id, name, url, secret) values (${endpointId}, ${tenantId}, 'e', 'http://127.0.0.1:1/', 'whsec_x')`;
  await services.sql`insert into events (id, tenant_id, event_type, payload) values (${eventId}, ${tenantId}, 'order.created', '{}'::jsonb)`;
});

beforeEach(async () => {
  await services.sql`delete from deliveries`;
  await queue.obliterate({ force: true });
});

/** Deliveries due `dueAgo` ago (all at the same instant, microseconds included), with status `status`. */
async function deliveries(count: number, dueAgo: string, status = "pending"): Promise<string[]> {
  const ids = Array.from({ length: count }, () => newId("delivery"));
  await services.sql`
    insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at)
    select d.id, ${tenantId}, ${eventId}, ${endpointId}, ${status}, now() - ${dueAgo}::interval
    from unnest(${ids}::text[]) as d(id)`;
  return ids;
}

const reconciler = (batchSize = 1000, intervalMs = 60_000) =>
  createReconciler(services.sql, services.queues, logger, { intervalMs, graceMs: 60_000, batchSize });

const jobIds = async () => (await queue.getJobs(["waiting", "delayed", "prioritized"])).map((job) => job.id).sort();

describe("reconciler", () => {
  it("enqueues the overdue deliveries that have no job in Redis, and leaves queued, recent and finished ones alone", async () => {
    const lost = await deliveries(3, "2 minutes");
    const [queued] = await deliveries(1, "2 minutes");
    await queue.add("deliver", { deliveryId: queued, eventId, endpointId, tenantId }, { jobId: queued, delay: 60_000 });
    await deliveries(2, "10 seconds"); // not overdue by the grace period yet
    await deliveries(2, "2 minutes", "succeeded");
    // Parked on purpose: the scheduler releases these, the reconciler leaves them be.
    const parked = await deliveries(2, "2 minutes");
    await services.sql`update deliveries set parked = true where id = any(${parked}::text[])`;

    const pass = await reconciler().reconcileOnce();
    expect(pass).toEqual({ checked: 4, enqueued: 3 });
    expect(await jobIds()).toEqual([...lost, queued].sort());
    // The queued job kept its delay: it was not added again.
    expect((await queue.getJob(queued as string))?.opts.delay).toBe(60_000);
  });

  it("walks a backlog larger than a page whose deliveries fall due at the same instant, each exactly once", async () => {
    const lost = await deliveries(7, "5 minutes");
    const pass = await reconciler(3).reconcileOnce();
    expect(pass).toEqual({ checked: 7, enqueued: 7 });
    expect(await jobIds()).toEqual([...lost].sort());
    // A second pass finds every job in Redis.
    expect(await reconciler(3).reconcileOnce()).toEqual({ checked: 7, enqueued: 0 });
  });

  it("makes one pass per interval across all the workers on a queue", async () => {
    await deliveries(2, "2 minutes");
    const [first, second] = [reconciler(1000, 5_000), reconciler(1000, 5_000)];
    await services.redis.del(`${services.prefix}:lock:reconciler`);
    expect(await first?.reconcileIfDue()).toEqual({ checked: 2, enqueued: 2 });
    expect(await second?.reconcileIfDue()).toBeNull();
    expect(await first?.reconcileIfDue()).toBeNull();
    const ttl = await services.redis.pttl(`${services.prefix}:lock:reconciler`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(4_500);
  });
});
