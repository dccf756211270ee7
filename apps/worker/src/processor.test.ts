import { parseEncryptionKeys } from "@herald/config";
import { createDeliveryClient, generateSecret } from "@herald/delivery";
import { createEndpointGuard, type DeliveryJob, type EndpointGuard } from "@herald/queue";
import { newId } from "@herald/schema";
import { createSql, type Sql } from "@herald/schema/client";
import { sealSecret } from "@herald/schema/secrets";
import {
  createTestDatabase,
  deletePrefix,
  freshQueuePrefix,
  type Receiver,
  startReceiver,
  TEST_REDIS_URL,
  type TestDatabase,
} from "@herald/testing";
import { type Job, UnrecoverableError } from "bullmq";
import { Redis } from "ioredis";
import { pino } from "pino";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createContextLoader } from "./delivery-context.ts";
import { createWorkerMetrics } from "./metrics.ts";
import { createProcessor } from "./processor.ts";
import { createRecorder } from "./recorder.ts";
import { SlotWaiters } from "./slot-waiters.ts";

let database: TestDatabase;
let sql: Sql;
let redis: Redis;
let guard: EndpointGuard;
let receiver: Receiver;
let tenantId: string;
let endpointId: string;
let eventId: string;
const prefix = freshQueuePrefix();
const client = createDeliveryClient({ timeoutMs: 5000, connectTimeoutMs: 2000, allowPrivateTargets: true });
const logged: { msg: string; jobId?: string }[] = [];
const logger = pino({ level: "error" }, { write: (line: string) => logged.push(JSON.parse(line)) });
const SCHEDULE = [0, 60_000, 60_000];

beforeAll(async () => {
  database = await createTestDatabase();
  sql = createSql(database.url, { appName: "processor-test", max: 4 });
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  guard = createEndpointGuard(redis, { prefix, concurrency: 4, circuitThreshold: 10, circuitCooldownMs: 30_000, leaseMs: 10_000 });
  receiver = await startReceiver();
  tenantId = newId("tenant");
  endpointId = newId("endpoint");
  eventId = newId("event");
  await sql`insert into tenants (id, name) values (${tenantId}, 'processor')`;
  await sql`insert into endpoints (id, tenant_id, name, url, secret) values (${endpointId}, ${tenantId}, 'e', ${receiver.url}, ${generateSecret()})`;
  await sql`insert into events (id, tenant_id, event_type, payload) values (${eventId}, ${tenantId}, 'order.created', '{"n":1}'::jsonb)`;
});

afterAll(async () => {
  await receiver?.close();
  await client.close();
  redis?.disconnect();
  await sql?.end({ timeout: 1 });
  await deletePrefix(prefix);
  await database?.drop();
});

function processor(
  parkAfterJob: (park: { deliveryId: string; endpointId: string; wakeAt: number }) => void = () => {},
  extra: { guard?: EndpointGuard; waiters?: SlotWaiters } = {},
) {
  return createProcessor({
    loader: createContextLoader(sql),
    recorder: createRecorder(sql, logger),
    client,
    policy: { schedule: SCHEDULE, jitter: 0, retryAfterMaxMs: 3_600_000 },
    guard,
    operational: { start: async () => {}, endpointDisabled: async () => {}, deliveryExhausted: async () => {} },
    metrics: createWorkerMetrics(),
    logger,
    refill: () => {},
    parkAfterJob,
    ...extra,
  });
}

async function delivery(to = endpointId): Promise<DeliveryJob> {
  const deliveryId = newId("delivery");
  await sql`
    insert into deliveries (id, tenant_id, event_id, endpoint_id, next_attempt_at)
    values (${deliveryId}, ${tenantId}, ${eventId}, ${to}, now())`;
  return { deliveryId, eventId, endpointId: to, tenantId };
}

/** What the processor reads of a BullMQ job: its id and data. */
const job = (data: unknown, id = "job") => ({ id, data }) as Job<DeliveryJob>;

describe("processor", () => {
  it("signs with secrets stored encrypted under HERALD_ENCRYPTION_KEY, current and previous", async () => {
    const keys = parseEncryptionKeys(`k1:${Buffer.alloc(32, 7).toString("base64")}`);
    const [current, previous] = [generateSecret(), generateSecret()];
    const id = newId("endpoint");
    await sql`
      insert into endpoints (id, tenant_id, name, url, secret, previous_secret, previous_secret_expires_at)
      values (${id}, ${tenantId}, 'sealed', ${receiver.url}, ${sealSecret(keys, current)}, ${sealSecret(keys, previous)}, now() + interval '1 hour')`;
    expect((await createContextLoader(sql, keys).endpoint(id))?.secrets).toEqual([current, previous]);
  });

  it("records an attempt a dead worker left unrecorded as interrupted, and schedules the next one as after any failure", async () => {
    const data = await delivery();
    // A worker admitted attempt 1 and died before recording it: its mark is still in Redis.
    await guard.acquire({ deliveryId: data.deliveryId, endpointId }, "dead-worker", null, 1);
    const before = receiver.requests.length;
    const started = Date.now();
    expect(await processor()(job(data, data.deliveryId), "token")).toBe("failed");
    // Not sent at once: the retry schedule's next delay applies.
    expect(receiver.requests.length).toBe(before);
    const [row] = await sql<{ status: string; attempts: number; nextAttemptAt: Date }[]>`
      select status, attempts, next_attempt_at as "nextAttemptAt" from deliveries where id = ${data.deliveryId}`;
    expect(row).toMatchObject({ status: "failed", attempts: 1 });
    expect(row?.nextAttemptAt.getTime()).toBeGreaterThanOrEqual(started + 59_000);
    const attempts = await sql<
      { errorKind: string }[]
    >`select error_kind as "errorKind" from attempts where delivery_id = ${data.deliveryId}`;
    expect(attempts).toEqual([{ errorKind: "interrupted" }]);
  });

  it("fails a malformed job for good, once, naming it, without touching anything", async () => {
    const run = processor();
    for (const data of [{ deliveryId: 7 }, null, { deliveryId: "dlv_x", eventId: "evt_x", endpointId: "", tenantId: "t" }]) {
      await expect(run(job(data, "bad-job"), "token")).rejects.toBeInstanceOf(UnrecoverableError);
    }
    expect(logged.filter((line) => line.msg.startsWith("malformed delivery job") && line.jobId === "bad-job")).toHaveLength(3);
  });

  it("sends a due delivery and skips a stale copy of one whose next attempt is later", async () => {
    const run = processor();
    const data = await delivery();
    expect(await run(job(data, data.deliveryId), "t1")).toBe("succeeded");
    const later = await delivery();
    await sql`update deliveries set status = 'failed', attempts = 1, next_attempt_at = now() + interval '1 hour' where id = ${later.deliveryId}`;
    const before = receiver.requests.length;
    expect(await run(job(later, later.deliveryId), "t2")).toBe("skipped");
    expect(receiver.requests.length).toBe(before);
  });

  it("loads the delivery states and the uncached events a turn of jobs asks for with one statement", async () => {
    const statements: string[] = [];
    const counted = postgres(database.url, { max: 1, onnotice: () => {}, debug: (_connection, query) => statements.push(query) });
    try {
      const loader = createContextLoader(counted as unknown as Sql);
      const other = newId("event");
      await sql`insert into events (id, tenant_id, event_type, payload) values (${other}, ${tenantId}, 'order.paid', '{"n":2}')`;
      const [a, b] = [await delivery(), await delivery()];
      // Connected (postgres.js reads the server's array types first), then counted.
      await counted`select 1`;
      statements.length = 0;
      const [stateA, stateB, event, otherEvent] = await Promise.all([
        loader.delivery(a.deliveryId),
        loader.delivery(b.deliveryId),
        loader.event(eventId),
        loader.event(other),
      ]);
      expect(statements).toHaveLength(1);
      expect([stateA?.id, stateA?.status, stateA?.parked, stateB?.id]).toEqual([a.deliveryId, "pending", false, b.deliveryId]);
      expect([event?.eventType, otherEvent?.eventType]).toEqual(["order.created", "order.paid"]);
      expect(JSON.parse(otherEvent?.body ?? "{}")).toMatchObject({ type: "order.paid", data: { n: 2 } });
      // The events are cached now: the next turn reads only the state.
      const c = await delivery();
      const [stateC, again] = await Promise.all([loader.delivery(c.deliveryId), loader.event(other)]);
      expect([stateC?.id, again]).toEqual([c.deliveryId, otherEvent]);
      expect(statements).toHaveLength(2);
      expect(statements[1]).not.toContain("union all");
    } finally {
      await counted.end();
    }
  });

  it("sends a released delivery (still parked until its attempt, which unparks it) and skips a parked one not released", async () => {
    const run = processor();
    const released = await delivery();
    const waiting = await delivery();
    await sql`update deliveries set parked = true, released_at = now() where id = ${released.deliveryId}`;
    await sql`update deliveries set parked = true where id = ${waiting.deliveryId}`;
    const before = receiver.requests.length;
    expect(await run(job(waiting, waiting.deliveryId), "t4")).toBe("skipped");
    expect(receiver.requests.length).toBe(before);
    expect(await run(job(released, released.deliveryId), "t5")).toBe("succeeded");
    expect(receiver.requests.length).toBe(before + 1);
    const rows = await sql<{ id: string; status: string; parked: boolean; released: boolean }[]>`
      select id, status, parked, released_at is not null as released from deliveries
      where id in (${released.deliveryId}, ${waiting.deliveryId}) order by id`;
    expect(rows).toEqual([
      { id: released.deliveryId, status: "succeeded", parked: false, released: false },
      { id: waiting.deliveryId, status: "pending", parked: true, released: false },
    ]);
  });

  it("leaves a refused delivery unparked while its job exists, and hands it to the worker to park once the job is gone", async () => {
    const data = await delivery();
    // The endpoint's four slots are taken by other workers' requests.
    for (let i = 0; i < 4; i++) await guard.acquire({ deliveryId: `dlv_other_${i}`, endpointId }, `busy-${i}`, null, 1);
    const parks: { deliveryId: string; endpointId: string; wakeAt: number }[] = [];
    const before = Date.now();
    expect(await processor((park) => parks.push(park))(job(data, data.deliveryId), "t3")).toBe("parked");
    expect(parks).toEqual([{ deliveryId: data.deliveryId, endpointId, wakeAt: expect.any(Number) }]);
    expect(parks[0]?.wakeAt).toBeGreaterThanOrEqual(before);
    // Parked now, a refill could release it while its job still exists, and the new job would be dropped as a duplicate.
    const [row] = await sql<{ parked: boolean; status: string }[]>`select parked, status from deliveries where id = ${data.deliveryId}`;
    expect(row).toEqual({ parked: false, status: "pending" });
    for (let i = 0; i < 4; i++) await guard.release({ deliveryId: `dlv_other_${i}`, endpointId }, `busy-${i}`, true);
  });

  it("has the jobs waiting for a slow endpoint's slots ask again one at a time, not each of them every 100 ms", async () => {
    // Answers in 150 ms: fast enough that jobs wait in the worker for its four slots rather than park.
    const slow = await startReceiver(async (_request, _index, res) => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      res.writeHead(200).end("ok");
    });
    const id = newId("endpoint");
    await sql`insert into endpoints (id, tenant_id, name, url, secret) values (${id}, ${tenantId}, 'slow', ${slow.url}, ${generateSecret()})`;
    let acquires = 0;
    const counted: EndpointGuard = {
      ...guard,
      acquire: (...args: Parameters<EndpointGuard["acquire"]>) => {
        acquires++;
        return guard.acquire(...args);
      },
    };
    const run = processor(() => {}, { guard: counted, waiters: new SlotWaiters(50) });
    try {
      // One answer first: an endpoint that has answered lately is worth waiting for.
      const first = await delivery(id);
      expect(await run(job(first, first.deliveryId), "warm")).toBe("succeeded");
      acquires = 0;
      const jobs = await Promise.all(Array.from({ length: 16 }, () => delivery(id)));
      const started = Date.now();
      const results = await Promise.all(jobs.map((data, i) => run(job(data, data.deliveryId), `slow-${i}`)));
      const elapsedMs = Date.now() - started;
      expect(results).toEqual(jobs.map(() => "succeeded"));
      // Each job asks once, each of the twelve that waited is woken once by a finished request, and the
      // endpoint's longest-waiting job looks again once per 100 ms. Every waiting job asking every 100 ms made
      // about twice as many: twelve, then eight, then four jobs, each asking about once a round of 150 ms.
      expect(acquires).toBeLessThanOrEqual(16 + 12 + Math.ceil(elapsedMs / 100) + 1);
    } finally {
      await slow.close();
    }
  });
});
