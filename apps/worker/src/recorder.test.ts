import { classifyResponse, interruptedOutcome } from "@herald/delivery";
import { newId } from "@herald/schema";
import { createSql, type Sql } from "@herald/schema/client";
import { createTestDatabase, type TestDatabase } from "@herald/testing";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DisabledEndpoint } from "./operational-events.ts";
import { createRecorder } from "./recorder.ts";

let database: TestDatabase;
let sql: Sql;
let tenantId: string;
let eventId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  sql = createSql(database.url, { appName: "recorder-test", max: 2 });
  tenantId = newId("tenant");
  eventId = newId("event");
  await sql`insert into tenants (id, name) values (${tenantId}, 'recorder')`;
  await sql`insert into events (id, tenant_id, event_type, payload) values (${eventId}, ${tenantId}, 'order.created', '{}'::jsonb)`;
});

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await database?.drop();
});

/** An endpoint failing since `failingFor` ago and last edited `editedAgo` ago, with one delivery. */
async function failingEndpoint(failingFor: string, editedAgo: string) {
  const endpointId = newId("endpoint");
  const deliveryId = newId("delivery");
  await sql`
    insert into endpoints (id, tenant_id, name, url, secret, failing_since, updated_at)
    values (${endpointId}, ${tenantId}, 'e', 'http://127.0.0.1:1/', 'whsec_x',
            now() - ${failingFor}::interval, now() - ${editedAgo}::interval)`;
  await sql`insert into deliveries (id, tenant_id, event_id, endpoint_id) values (${deliveryId}, ${tenantId}, ${eventId}, ${endpointId})`;
  return { endpointId, deliveryId };
}

const success = (endpointId: string, deliveryId: string, startedAt = new Date()) => ({
  deliveryId,
  endpointId,
  attemptNumber: 1,
  startedAt,
  outcome: classifyResponse(200, {}, "ok", 3),
  requestHeaders: {},
  status: "succeeded" as const,
  nextAttemptAt: null,
});

/** Another delivery to the same endpoint. */
async function anotherDelivery(endpointId: string) {
  const deliveryId = newId("delivery");
  await sql`insert into deliveries (id, tenant_id, event_id, endpoint_id) values (${deliveryId}, ${tenantId}, ${eventId}, ${endpointId})`;
  return deliveryId;
}

const countersOf = async (endpointId: string) =>
  (
    await sql<{ sent: number; succeeded: number; failed: number; failing: boolean }[]>`
      select sent_count::int as sent, succeeded_count::int as succeeded, failed_count::int as failed, failing_since is not null as failing
      from endpoints where id = ${endpointId}`
  )[0];

const failure = (endpointId: string, deliveryId: string, attemptNumber = 1) => ({
  deliveryId,
  endpointId,
  attemptNumber,
  startedAt: new Date(),
  outcome: classifyResponse(500, {}, "down", 3),
  requestHeaders: {},
  status: "failed" as const,
  nextAttemptAt: new Date(Date.now() + 1000),
});

describe("recorder", () => {
  it("disables an endpoint failing for the whole window and says so after commit", async () => {
    const disabled: DisabledEndpoint[] = [];
    const recorder = createRecorder(sql, pino({ level: "silent" }), {
      disableAfterMs: 60_000,
      onDisabled: async (endpoint) => {
        disabled.push(endpoint);
      },
    });
    const old = await failingEndpoint("2 minutes", "1 hour");
    const recent = await failingEndpoint("30 seconds", "1 hour");
    const edited = await failingEndpoint("2 minutes", "10 seconds");
    await Promise.all([old, recent, edited].map(({ endpointId, deliveryId }) => recorder.attempt(failure(endpointId, deliveryId))));
    await recorder.flush();

    expect(disabled.map((d) => d.endpointId)).toEqual([old.endpointId]);
    expect(disabled[0]).toMatchObject({ tenantId, reason: expect.stringMatching(/^no successful delivery since \d{4}-/) });
    const rows = await sql<{ id: string; disabled: boolean }[]>`
      select id, disabled from endpoints where id = any(${[old.endpointId, recent.endpointId, edited.endpointId]})`;
    const state = Object.fromEntries(rows.map((r) => [r.id, r.disabled]));
    // Failing for less than the window, or edited (re-enabled, fixed) within it: still enabled.
    expect(state).toEqual({ [old.endpointId]: true, [recent.endpointId]: false, [edited.endpointId]: false });
  });

  it("keeps the attempt count and the attempt rows in step, interrupted attempts included", async () => {
    const recorder = createRecorder(sql, pino({ level: "silent" }));
    const { endpointId, deliveryId } = await failingEndpoint("1 second", "1 hour");
    await recorder.attempt({ ...failure(endpointId, deliveryId, 1), outcome: interruptedOutcome() });
    await recorder.attempt(failure(endpointId, deliveryId, 2));
    const [delivery] = await sql<{ attempts: number; status: string }[]>`select attempts, status from deliveries where id = ${deliveryId}`;
    const attempts = await sql<{ attempt_number: number; error_kind: string }[]>`
      select attempt_number, error_kind from attempts where delivery_id = ${deliveryId} order by attempt_number`;
    expect(delivery).toEqual({ attempts: 2, status: "failed" });
    expect(attempts).toEqual([
      { attempt_number: 1, error_kind: "interrupted" },
      { attempt_number: 2, error_kind: "http_status" },
    ]);
  });

  it("lets recorders of several workers write batches over the same endpoints in any order without a deadlock", async () => {
    const endpoints = await Promise.all(Array.from({ length: 12 }, () => failingEndpoint("1 second", "1 hour")));
    // Enough other endpoints that PostgreSQL finds each row by its index, in the order the statement names them.
    await sql`
      insert into endpoints (id, tenant_id, name, url, secret)
      select 'ep_filler_' || n, ${tenantId}, 'f', 'http://127.0.0.1:1/', 'whsec_x' from generate_series(1, 20000) as n`;
    await sql`analyze endpoints`;
    const pools = Array.from({ length: 4 }, () => createSql(database.url, { appName: "recorder-deadlock", max: 1 }));
    const errors: unknown[] = [];
    const recorders = pools.map((pool) =>
      createRecorder(pool, pino({ level: "error" }, { write: (line: string) => errors.push(JSON.parse(line)) }), { retryDelayMs: 10 }),
    );
    const deadlocks = async () =>
      (await sql<{ n: number }[]>`select deadlocks::int as n from pg_stat_database where datname = current_database()`)[0]?.n ?? 0;
    const before = await deadlocks();
    try {
      for (let round = 0; round < 30; round++) {
        // Each worker's batch names the same endpoints in its own order; without one lock order, two batches
        // that each locked some of them wait for each other.
        await Promise.all(
          recorders.map((recorder, w) => {
            const order = [...endpoints].sort(() => (w % 2 === 0 ? 1 : -1) * (Math.random() - 0.3));
            return Promise.all(order.map(({ endpointId, deliveryId }) => recorder.attempt(failure(endpointId, deliveryId, round + 1))));
          }),
        );
      }
    } finally {
      await Promise.all(pools.map((pool) => pool.end({ timeout: 1 })));
    }
    expect(await deadlocks()).toBe(before);
    expect(errors).toEqual([]);
  });

  describe("endpoint counters", () => {
    it("writes a recovery with its batch, then sums routine successes and writes them on flush", async () => {
      // A flush interval no test waits for: only flush() writes what waits.
      const recorder = createRecorder(sql, pino({ level: "silent" }), { countersFlushMs: 3_600_000 });
      const { endpointId, deliveryId } = await failingEndpoint("1 minute", "1 hour");
      await recorder.attempt(success(endpointId, deliveryId));
      // The first success this recorder sees ends the failing state at once: the failure window reads it.
      expect(await countersOf(endpointId)).toEqual({ sent: 1, succeeded: 1, failed: 0, failing: false });

      const more = await Promise.all([anotherDelivery(endpointId), anotherDelivery(endpointId)]);
      for (const id of more) await recorder.attempt(success(endpointId, id));
      const [delivery] = await sql<{ status: string }[]>`select status from deliveries where id = ${more[1] as string}`;
      expect(delivery?.status).toBe("succeeded");
      expect(await countersOf(endpointId)).toEqual({ sent: 1, succeeded: 1, failed: 0, failing: false });

      await recorder.flush();
      expect(await countersOf(endpointId)).toEqual({ sent: 3, succeeded: 3, failed: 0, failing: false });
    });

    it("writes a failure with its batch, together with the successes waiting before it", async () => {
      const recorder = createRecorder(sql, pino({ level: "silent" }), { countersFlushMs: 3_600_000 });
      const { endpointId, deliveryId } = await failingEndpoint("1 minute", "1 hour");
      await recorder.attempt(success(endpointId, deliveryId));
      await recorder.attempt(success(endpointId, await anotherDelivery(endpointId)));
      await recorder.attempt(failure(endpointId, await anotherDelivery(endpointId)));
      expect(await countersOf(endpointId)).toEqual({ sent: 3, succeeded: 2, failed: 1, failing: true });
      await recorder.flush();
      expect(await countersOf(endpointId)).toEqual({ sent: 3, succeeded: 2, failed: 1, failing: true });
    });

    it("does not let a success written late clear a failure another worker recorded after it", async () => {
      const first = createRecorder(sql, pino({ level: "silent" }), { countersFlushMs: 3_600_000 });
      const second = createRecorder(sql, pino({ level: "silent" }), { countersFlushMs: 3_600_000 });
      const { endpointId, deliveryId } = await failingEndpoint("1 minute", "1 hour");
      await first.attempt(success(endpointId, deliveryId, new Date(Date.now() - 2_000)));
      // Waits in the first recorder: its endpoint was healthy a moment ago.
      await first.attempt(success(endpointId, await anotherDelivery(endpointId), new Date(Date.now() - 1_000)));
      await second.attempt(failure(endpointId, await anotherDelivery(endpointId)));
      await first.flush();
      expect(await countersOf(endpointId)).toEqual({ sent: 3, succeeded: 2, failed: 1, failing: true });
    });

    it("writes waiting counters once the interval passes, with no attempt to carry them", async () => {
      const recorder = createRecorder(sql, pino({ level: "silent" }), { countersFlushMs: 50 });
      const { endpointId, deliveryId } = await failingEndpoint("1 minute", "1 hour");
      await recorder.attempt(success(endpointId, deliveryId));
      await recorder.attempt(success(endpointId, await anotherDelivery(endpointId)));
      await expect.poll(() => countersOf(endpointId), { timeout: 10_000 }).toEqual({ sent: 2, succeeded: 2, failed: 0, failing: false });
      await recorder.flush();
    });
  });
});
