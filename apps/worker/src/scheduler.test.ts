import { createEndpointGuard, type EndpointGuard } from "@herald/queue";
import { idFloor, newId } from "@herald/schema";
import { deletePrefix, eventually } from "@herald/testing";
import type { Queue } from "bullmq";
import { pino } from "pino";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createScheduler } from "./scheduler.ts";
import { useWorkerTestServices } from "./test-services.ts";

let queue: Queue;
let guard: EndpointGuard;
let tenantId: string;
let eventId: string;
const services = useWorkerTestServices("scheduler-test");
const logger = pino({ level: "silent" });
const COOLDOWN = 30_000;

beforeAll(async () => {
  queue = services.queues.queues[0] as Queue;
  // Cap 2: a draining endpoint gets a window of 8 jobs.
  guard = createEndpointGuard(services.redis, {
    prefix: services.prefix,
    concurrency: 2,
    circuitThreshold: 3,
    circuitCooldownMs: COOLDOWN,
    leaseMs: 10_000,
  });
  tenantId = newId("tenant");
  eventId = newId("event");
  await services.sql`insert into tenants (id, name) values (${tenantId}, 'scheduler')`;
  await services.sql`insert into events (id, tenant_id, event_type, payload) values (${eventId}, ${tenantId}, 'order.created', '{}'::jsonb)`;
});

beforeEach(async () => {
  await services.sql`delete from deliveries`;
  await queue.obliterate({ force: true });
  await (services.queues.backlogQueues[0] as Queue).obliterate({ force: true });
  await deletePrefix(services.prefix);
});

async function endpoint(): Promise<string> {
  const id = newId("endpoint");
  await services.sql`insert into endpoints (id, tenant_id, name, url, secret) values (${id}, ${tenantId}, 'e', 'http://127.0.0.1:1/', 'whsec_x')`;
  return id;
}

/** An id created at `time` (newId keeps ids increasing within a process, so it cannot make past ones). */
let serial = 0;
const idAt = (time: number) => `${idFloor("delivery", new Date(time)).slice(0, -4)}${String(++serial).padStart(4, "0")}`;

/**
 * Deliveries to `endpointId`, due `dueIn` from now (an interval; negative for the past), in creation order;
 * created an hour ago with `old`.
 */
async function deliveries(
  endpointId: string,
  count: number,
  options: { dueIn?: string; status?: string; parked?: boolean; old?: boolean } = {},
) {
  const hourAgo = Date.now() - 3_600_000;
  const ids = Array.from({ length: count }, () => (options.old ? idAt(hourAgo) : newId("delivery")));
  await services.sql`
    insert into deliveries (id, tenant_id, event_id, endpoint_id, status, next_attempt_at, parked)
    select d.id, ${tenantId}, ${eventId}, ${endpointId}, ${options.status ?? "failed"}, now() + ${options.dueIn ?? "0 seconds"}::interval,
           ${options.parked ?? false}
    from unnest(${ids}::text[]) as d(id)`;
  return ids;
}

const scheduler = () =>
  createScheduler(
    { sql: services.sql, queues: services.queues, guard, logger },
    { intervalMs: 1_000, horizonMs: 4_000, endpointConcurrency: 2, circuitCooldownMs: COOLDOWN, releaseLeaseMs: 60_000 },
  );

const jobs = async () =>
  [
    ...(await queue.getJobs(["waiting", "delayed", "prioritized"])),
    ...(await (services.queues.backlogQueues[0] as Queue).getJobs(["waiting", "delayed", "prioritized"])),
  ]
    .map((job) => job.id as string)
    .sort();
/** Parked and not released yet (a released delivery stays parked until its attempt). */
const parkedRows = async (endpointId: string) =>
  (
    await services.sql<{ n: number }[]>`
      select count(*)::int as n from deliveries where endpoint_id = ${endpointId} and parked and released_at is null`
  )[0]?.n;

describe("scheduler: retries due later wait in PostgreSQL", () => {
  it("enqueues a retry as a delayed job once it is due within the horizon, and only once", async () => {
    const ep = await endpoint();
    const s = scheduler();
    const start = Date.now();
    await s.passOnce(start); // the first pass starts the cursor at now
    // Recorded after that pass, as the worker records a retry more than SHORT_RETRY_MS away.
    const [soon] = await deliveries(ep, 1, { dueIn: "6 seconds" });
    const [later] = await deliveries(ep, 1, { dueIn: "1 hour" });
    // Beyond the horizon (4 s) at first; a pass 3 s later reaches it.
    expect((await s.passOnce(start + 1)).due).toBe(0);
    expect((await s.passOnce(start + 3_000)).due).toBe(1);
    expect(await jobs()).toEqual([soon]);
    const job = await queue.getJob(soon as string);
    expect(await job?.getState()).toBe("delayed");
    expect(job?.opts.delay).toBeGreaterThan(4_000);
    expect(job?.opts.delay).toBeLessThanOrEqual(6_000);
    // Read once: the cursor moved past it, and the one due in an hour is still only a row.
    expect((await s.passOnce(start + 3_500)).due).toBe(0);
    expect(await queue.getJob(later as string)).toBeUndefined();
  });

  it("walks more due retries than a page, each exactly once", async () => {
    const ep = await endpoint();
    const s = createScheduler(
      { sql: services.sql, queues: services.queues, guard, logger },
      { intervalMs: 1_000, horizonMs: 4_000, endpointConcurrency: 2, circuitCooldownMs: COOLDOWN, releaseLeaseMs: 60_000, batchSize: 3 },
    );
    const start = Date.now();
    await s.passOnce(start);
    const due = await deliveries(ep, 7, { dueIn: "6 seconds" });
    expect((await s.passOnce(start + 3_000)).due).toBe(7);
    expect(await jobs()).toEqual([...due].sort());
    expect((await s.passOnce(start + 3_000)).due).toBe(0);
  });
});

describe("scheduler: parked endpoints", () => {
  it("releases nothing while the circuit is open and looks again when the cool-down ends", async () => {
    const ep = await endpoint();
    await deliveries(ep, 5, { parked: true });
    const openUntil = Date.now() + 20_000;
    await services.redis.hset(`${services.prefix}:ep:${ep}:circuit`, { openUntil, failures: 10 });
    await services.queues.markParked([ep], Date.now());
    const pass = await scheduler().passOnce();
    expect(pass).toMatchObject({ endpoints: 1, released: 0 });
    expect(await jobs()).toEqual([]);
    expect(await services.queues.dueParked(0, openUntil - 1, 10)).toEqual([]);
    expect(await services.queues.dueParked(0, openUntil, 10)).toEqual([ep]);
  });

  it("sends one probe, the oldest, once the cool-down is over", async () => {
    const ep = await endpoint();
    const ids = await deliveries(ep, 5, { parked: true });
    await services.redis.hset(`${services.prefix}:ep:${ep}:circuit`, { openUntil: Date.now() - 1, failures: 10 });
    await services.queues.markParked([ep], Date.now());
    expect(await scheduler().passOnce()).toMatchObject({ endpoints: 1, released: 1 });
    expect(await jobs()).toEqual([ids[0]]);
    expect(await parkedRows(ep)).toBe(4);
  });

  it("releases a window of a healthy endpoint's backlog oldest first, into the backlog queue, refills on demand, and unparks it once empty", async () => {
    const ep = await endpoint();
    const ids = await deliveries(ep, 10, { parked: true, old: true });
    await services.queues.markParked([ep], Date.now());
    const s = scheduler();
    expect(await s.passOnce()).toMatchObject({ released: 8 });
    expect(await jobs()).toEqual(ids.slice(0, 8).sort());
    const backlog = services.queues.backlogQueues[0] as Queue;
    expect((await backlog.getJobs(["waiting"])).map((job) => job.id).reverse()).toEqual(ids.slice(0, 8));
    expect((await guard.states([ep])).get(ep)?.queued).toBe(8);
    // The window is full: the next pass releases nothing more.
    expect(await s.passOnce()).toMatchObject({ released: 0 });
    // Workers finished some; the release asked for a refill.
    s.refill(ep, 8);
    await eventually(async () => (await jobs()).length === 10, { what: "the refill" });
    expect(await parkedRows(ep)).toBe(0);
    // Nothing left: the next look takes it out of the parked set.
    s.refill(ep, 8);
    await eventually(async () => !(await services.queues.dueParked(0, Date.now() + 60_000, 10)).includes(ep), {
      what: "the endpoint to leave the parked set",
    });
  });

  it("releases the refills of several endpoints asked in one turn together, each its own oldest, and unparks the one emptied", async () => {
    const [a, b, c] = [await endpoint(), await endpoint(), await endpoint()];
    const forA = await deliveries(a, 5, { parked: true, old: true });
    const forB = await deliveries(b, 2, { parked: true, old: true });
    const forC = await deliveries(c, 3, { parked: true, old: true });
    await services.queues.markParked([a, b, c], Date.now() + 60_000);
    const s = scheduler();
    s.refill(a, 3);
    s.refill(b, 3);
    s.refill(c, 1);
    // Asked again before the first is done: one refill per endpoint at a time.
    s.refill(a, 3);
    await eventually(async () => (await jobs()).length === 6, { what: "the refills" });
    expect(await jobs()).toEqual([...forA.slice(0, 3), ...forB, ...forC.slice(0, 1)].sort());
    expect(await parkedRows(a)).toBe(2);
    expect(await parkedRows(b)).toBe(0);
    const states = await guard.states([a, b, c]);
    expect([a, b, c].map((id) => states.get(id)?.queued)).toEqual([3, 2, 1]);
    // b had fewer than asked and none is left: it left the parked set; a and c still have a backlog.
    await eventually(async () => !(await services.queues.parkedEndpoints()).has(b), { what: "b to leave the parked set" });
    expect(await services.queues.parkedEndpoints()).toEqual(new Set([a, c]));
  });

  it("sends a burst parked moments ago back to the delivery queue, not the backlog queue", async () => {
    const ep = await endpoint();
    const ids = await deliveries(ep, 3, { parked: true });
    await services.queues.markParked([ep], Date.now());
    expect(await scheduler().passOnce()).toMatchObject({ released: 3 });
    expect((await queue.getJobs(["waiting"])).map((job) => job.id).sort()).toEqual([...ids].sort());
    expect(await (services.queues.backlogQueues[0] as Queue).getJobs(["waiting"])).toEqual([]);
  });

  it("puts back in the parked set an endpoint whose parked deliveries Redis forgot", async () => {
    const ep = await endpoint();
    await deliveries(ep, 3, { parked: true });
    const pass = await scheduler().passOnce();
    expect(pass.repaired).toBe(1);
    expect(pass.released).toBe(3);
    expect(await parkedRows(ep)).toBe(0);
  });

  it("releases again, once their lease is over, released deliveries whose jobs Redis lost with the parked set", async () => {
    const ep = await endpoint();
    const ids = await deliveries(ep, 3, { parked: true });
    await services.queues.markParked([ep], Date.now());
    const s = scheduler();
    expect(await s.passOnce()).toMatchObject({ released: 3 });
    // Redis loses the jobs and the parked set; the rows are still parked, released, and not attempted.
    for (const id of ids) await queue.remove(id);
    await services.queues.unpark(ep);
    expect(await jobs()).toEqual([]);
    // Within the lease: nothing to repair yet (their jobs may only be slow to run).
    expect(await s.passOnce()).toMatchObject({ repaired: 0, released: 0 });
    await services.sql`update deliveries set released_at = now() - interval '61 seconds' where id = any(${ids}::text[])`;
    expect(await s.passOnce()).toMatchObject({ repaired: 1, released: 3 });
    expect(await jobs()).toEqual([...ids].sort());
  });
});
