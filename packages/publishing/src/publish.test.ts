import { generateSecret } from "@herald/delivery";
import { createDeliveryQueues, type DeliveryQueues } from "@herald/queue";
import { newId } from "@herald/schema";
import { createSql, type Sql } from "@herald/schema/client";
import { createTestDatabase, deletePrefix, eventually, freshQueuePrefix, TEST_REDIS_URL, type TestDatabase } from "@herald/testing";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INLINE_ENQUEUE_LIMIT, publish, publishBatch } from "./index.ts";

let database: TestDatabase;
let sql: Sql;
let redis: Redis;
let queues: DeliveryQueues;
let queue: DeliveryQueues["queues"][number];
const prefix = freshQueuePrefix();
const logger = pino({ level: "silent" });

beforeAll(async () => {
  database = await createTestDatabase();
  sql = createSql(database.url);
  redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  queues = createDeliveryQueues({ redis, prefix, shards: 1 });
  queue = queues.queues[0] as DeliveryQueues["queues"][number];
  await sql`insert into event_types (name, description) values ('order.paid', 'An order was paid')`;
});

afterAll(async () => {
  await queues?.close();
  redis?.disconnect();
  await sql?.end();
  await deletePrefix(prefix);
  await database?.drop();
});

async function tenantWith(endpoints: number, disabled = 0): Promise<string> {
  const tenantId = newId("tenant");
  await sql`insert into tenants (id, name) values (${tenantId}, 'Acme')`;
  const ids = Array.from({ length: endpoints + disabled }, () => newId("endpoint"));
  await sql`
    insert into endpoints (id, tenant_id, name, url, secret, disabled)
    select e.id, ${tenantId}, 'hook', 'https://example.com/hook', ${generateSecret()}, e.n > ${endpoints}
    from unnest(${ids}::text[]) with ordinality as e(id, n)`;
  return tenantId;
}

const deps = () => ({ sql, queues, logger });

describe("publish", () => {
  it("stores the event with one delivery per endpoint, held for disabled ones, and enqueues before answering", async () => {
    const tenantId = await tenantWith(3, 1);
    const result = await publish(deps(), { tenantId, eventType: "order.paid", payload: { amount: 1 } });
    expect(result).toMatchObject({ deliveries: 4, replayed: false, event: { tenantId, eventType: "order.paid", idempotencyKey: null } });
    const rows = await sql<{ id: string; status: string }[]>`select id, status from deliveries where event_id = ${result.event.id}`;
    expect(rows.map((row) => row.status).sort()).toEqual(["held", "pending", "pending", "pending"]);
    for (const row of rows) expect(Boolean(await queue.getJob(row.id))).toBe(row.status === "pending");
  });

  it("parks the deliveries of an endpoint with a parked backlog instead of enqueueing them", async () => {
    const tenantId = await tenantWith(2);
    const [parkedOne, other] = await sql<{ id: string }[]>`select id from endpoints where tenant_id = ${tenantId} order by id`;
    await queues.markParked([parkedOne?.id as string], Date.now() + 60_000);
    const result = await publish(deps(), { tenantId, eventType: "order.paid", payload: { amount: 2 } });
    const rows = await sql<{ id: string; endpointId: string; status: string; parked: boolean }[]>`
      select id, endpoint_id as "endpointId", status, parked from deliveries where event_id = ${result.event.id}`;
    const byEndpoint = new Map(rows.map((row) => [row.endpointId, row]));
    expect(byEndpoint.get(parkedOne?.id as string)).toMatchObject({ status: "pending", parked: true });
    expect(byEndpoint.get(other?.id as string)).toMatchObject({ status: "pending", parked: false });
    expect(await queue.getJob(byEndpoint.get(parkedOne?.id as string)?.id as string)).toBeUndefined();
    expect(await queue.getJob(byEndpoint.get(other?.id as string)?.id as string)).toBeDefined();
  });

  it("puts at most an endpoint's window in the queue and parks the rest of a burst, oldest first in the queue", async () => {
    const tenantId = await tenantWith(1);
    // The window is four times the endpoint concurrency (10 by default): 40 of 60 go in.
    const results = await publishBatch(deps(), {
      tenantId,
      events: Array.from({ length: 60 }, (_, n) => ({ eventType: "order.paid", payload: { n } })),
    });
    const ids = results.map((result) => result.event.id);
    const rows = await sql<{ id: string; eventId: string; parked: boolean }[]>`
      select id, event_id as "eventId", parked from deliveries where event_id = any(${ids}::text[])`;
    const parkedByEvent = new Map(rows.map((row) => [row.eventId, row.parked]));
    expect(ids.map((id) => parkedByEvent.get(id))).toEqual([...Array(40).fill(false), ...Array(20).fill(true)]);
    for (const row of rows) expect(Boolean(await queue.getJob(row.id))).toBe(!row.parked);
  });

  it("stores all of a batch or none of it", async () => {
    const tenantId = await tenantWith(1);
    const key = `key-${newId("event")}`;
    await publish(deps(), { tenantId, eventType: "order.paid", payload: {}, idempotencyKey: key });
    const before = await sql<{ n: number }[]>`select count(*)::int as n from events where tenant_id = ${tenantId}`;
    // The second item's payload text holds a raw NUL, which PostgreSQL does not store, so the statement fails whole.
    await expect(
      publishBatch(deps(), {
        tenantId,
        events: [
          { eventType: "order.paid", payload: { ok: 1 } },
          { eventType: "order.paid", payload: "", payloadText: "\u0000" },
        ],
      }),
    ).rejects.toThrow();
    const after = await sql<{ n: number }[]>`select count(*)::int as n from events where tenant_id = ${tenantId}`;
    expect(after[0]?.n).toBe(before[0]?.n);
  });

  it("writes concurrent publishes together, each with its own result, and a bad one fails alone", async () => {
    const tenantId = await tenantWith(2);
    const other = await tenantWith(1);
    const publishes = Array.from({ length: 40 }, (_, n) =>
      publish(deps(), {
        tenantId: n % 4 === 0 ? other : tenantId,
        eventType: "order.paid",
        payload: { n },
        ...(n === 7 ? { payloadText: "\u0000" } : {}),
      }),
    );
    const settled = await Promise.allSettled(publishes);
    expect(settled.filter((outcome) => outcome.status === "rejected")).toHaveLength(1);
    expect(settled[7]?.status).toBe("rejected");
    const results = settled.flatMap((outcome) => (outcome.status === "fulfilled" ? [outcome.value] : []));
    expect(new Set(results.map((result) => result.event.id)).size).toBe(39);
    for (const [n, outcome] of settled.entries()) {
      if (outcome.status !== "fulfilled") continue;
      expect(outcome.value.event.tenantId).toBe(n % 4 === 0 ? other : tenantId);
      expect(outcome.value.deliveries).toBe(n % 4 === 0 ? 1 : 2);
      const [row] = await sql<{ payload: string }[]>`select payload from events where id = ${outcome.value.event.id}`;
      expect(row?.payload).toBe(JSON.stringify({ n }));
    }
  });

  // Thousands of deliveries and jobs: more than vitest's default 5 s on a busy machine.
  it("has every job of an inline fan-out in Redis before answering, though it enqueues in several bulk calls", {
    timeout: 60_000,
  }, async () => {
    const tenantId = await tenantWith(INLINE_ENQUEUE_LIMIT);
    const waitingBefore = await queue.getWaitingCount();
    const result = await publish(deps(), { tenantId, eventType: "order.paid", payload: { amount: 3 } });
    expect(result.deliveries).toBe(INLINE_ENQUEUE_LIMIT);
    expect((await queue.getWaitingCount()) - waitingBefore).toBe(INLINE_ENQUEUE_LIMIT);
  });

  it("answers a fan-out above the inline limit once stored, and enqueues every delivery after", { timeout: 60_000 }, async () => {
    const endpoints = INLINE_ENQUEUE_LIMIT + 500;
    const tenantId = await tenantWith(endpoints);
    const waitingBefore = await queue.getWaitingCount();
    const result = await publish(deps(), { tenantId, eventType: "order.paid", payload: { amount: 2 } });
    expect(result.deliveries).toBe(endpoints);
    const stored = await sql<{ n: number }[]>`select count(*)::int as n from deliveries where event_id = ${result.event.id}`;
    expect(stored[0]?.n).toBe(endpoints);
    const ids = await sql<{ id: string }[]>`select id from deliveries where event_id = ${result.event.id}`;
    await eventually(
      async () => {
        const found = await Promise.all([ids[0], ids.at(-1)].map((row) => queue.getJob(row?.id ?? "")));
        return found.every(Boolean) && (await queue.getWaitingCount()) - waitingBefore === endpoints;
      },
      { what: "every delivery of the fan-out to be enqueued" },
    );
  });
});
