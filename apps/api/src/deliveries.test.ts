import { createKeys, DELIVERY_JOB_OPTIONS, JOB_NAMES } from "@herald/queue";
import { type IdKind, idFloor, newId } from "@herald/schema";
import { eventually, TEST_REDIS_URL } from "@herald/testing";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

/** An id created at `time` (newId keeps ids increasing within a process, so it cannot make past ones). */
let serial = 0;
const idAt = (kind: IdKind, time: number) => `${idFloor(kind, new Date(time)).slice(0, -4)}${String(++serial).padStart(4, "0")}`;

let t: TestApp;
let tenantId: string;
let hookId: string;
let otherHookId: string;

beforeAll(async () => {
  t = await createTestApp();
  tenantId = (await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } })).body.id;
  await t.call("POST", "/v1/event-types", { body: { name: "invoice.paid", description: "Paid" } });
  hookId = (await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Hook", url: "https://example.com/a" } })).body.id;
  otherHookId = (await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Other", url: "https://example.com/b" } })).body.id;
});
afterAll(async () => {
  await t?.close();
});

/** Publishes one event and answers its delivery to `endpointId`. */
async function deliveryTo(endpointId: string): Promise<{ id: string; eventId: string }> {
  const published = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: { n: 1 } } });
  const event = await t.call("GET", `/v1/tenants/acme/events/${published.body.id}`);
  const delivery = event.body.deliveries.find((d: { endpointId: string }) => d.endpointId === endpointId);
  return { id: delivery.id, eventId: published.body.id };
}

/** Puts a delivery in a state as the worker would have left it, including its job. */
async function setState(deliveryId: string, status: string, job: "none" | "delayed" | "keep" = "none") {
  await t.sql`update deliveries set status = ${status}, attempts = 10, next_attempt_at = null where id = ${deliveryId}`;
  const existing = await t.queue.getJob(deliveryId);
  if (job === "keep") return;
  const data = existing?.data;
  await existing?.remove();
  if (job === "delayed" && data) await t.queue.add(JOB_NAMES.deliver, data, { jobId: deliveryId, delay: 3_600_000 });
}

const status = async (id: string) => (await t.call("GET", `/v1/tenants/acme/deliveries/${id}`)).body.status;

describe("list and get", () => {
  const times = ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"];
  let listTenant: string;
  let ep1: string;
  let ep2: string;
  let eventId: string;
  const ids = times.map((time) => idAt("delivery", Date.parse(time)));

  beforeAll(async () => {
    listTenant = (await t.call("POST", "/v1/tenants", { body: { name: "Lister", uid: "lister" } })).body.id;
    ep1 = (await t.call("POST", "/v1/tenants/lister/endpoints", { body: { name: "1", url: "https://example.com/1" } })).body.id;
    ep2 = (await t.call("POST", "/v1/tenants/lister/endpoints", { body: { name: "2", url: "https://example.com/2" } })).body.id;
    eventId = idAt("event", Date.parse(times[0] as string));
    await t.sql`insert into events (id, tenant_id, event_type, payload) values (${eventId}, ${listTenant}, 'invoice.paid', '{}'::jsonb)`;
    const rows = [
      [ids[0], ep1, "succeeded"],
      [ids[1], ep2, "failed"],
      [ids[2], ep1, "failed"],
    ] as const;
    for (const [id, endpointId, state] of rows) {
      await t.sql`insert into deliveries (id, tenant_id, event_id, endpoint_id, status)
                  values (${id as string}, ${listTenant}, ${eventId}, ${endpointId}, ${state})`;
    }
    await t.sql`insert into attempts (id, delivery_id, endpoint_id, attempt_number, started_at, duration_ms, status_code, error_kind,
                                      error_message, request_headers, response_headers, response_body)
                values (${newId("attempt")}, ${ids[2] as string}, ${ep1}, 2, '2026-03-01T00:05:00Z', 31, null, 'timeout',
                        'no answer within 15s', '{"webhook-id":"evt_x"}'::jsonb, null, null),
                       (${newId("attempt")}, ${ids[2] as string}, ${ep1}, 1, '2026-03-01T00:00:00Z', 12, 503, 'http_status',
                        'the receiver answered 503', '{"webhook-id":"evt_x"}'::jsonb, '{"retry-after":"5"}'::jsonb, 'busy')`;
  });

  const list = async (query: string) => {
    const response = await t.call("GET", `/v1/tenants/lister/deliveries?${query}`);
    expect(response.status).toBe(200);
    return (response.body.data as { id: string }[]).map((d) => d.id);
  };

  it("lists newest first, with a cursor", async () => {
    expect(await list("")).toEqual([ids[2], ids[1], ids[0]]);
    const first = await t.call("GET", "/v1/tenants/lister/deliveries?limit=2");
    expect(first.body.nextCursor).toBe(ids[1]);
    expect(await list(`limit=2&cursor=${first.body.nextCursor}`)).toEqual([ids[0]]);
  });

  it("filters by status, endpoint, event and time", async () => {
    expect(await list("status=failed")).toEqual([ids[2], ids[1]]);
    expect(await list(`endpointId=${ep1}`)).toEqual([ids[2], ids[0]]);
    expect(await list(`endpointId=${ep1}&status=failed`)).toEqual([ids[2]]);
    expect(await list(`eventId=${eventId}`)).toEqual([ids[2], ids[1], ids[0]]);
    expect(await list(`eventId=${newId("event")}`)).toEqual([]);
    expect(await list(`after=${times[1]}`)).toEqual([ids[2], ids[1]]);
    expect(await list(`before=${times[1]}`)).toEqual([ids[0]]);
    expect(await list(`after=${times[1]}&before=${times[2]}`)).toEqual([ids[1]]);
  });

  it("gets a delivery with every attempt, oldest first", async () => {
    const response = await t.call("GET", `/v1/tenants/lister/deliveries/${ids[2]}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id: ids[2], eventId, endpointId: ep1, status: "failed" });
    expect(response.body.attemptLog).toEqual([
      expect.objectContaining({
        attemptNumber: 1,
        startedAt: "2026-03-01T00:00:00.000Z",
        durationMs: 12,
        statusCode: 503,
        errorKind: "http_status",
        errorMessage: "the receiver answered 503",
        requestHeaders: { "webhook-id": "evt_x" },
        responseHeaders: { "retry-after": "5" },
        responseBody: "busy",
      }),
      expect.objectContaining({ attemptNumber: 2, statusCode: null, errorKind: "timeout", responseBody: null }),
    ]);
  });

  it("answers 400 for a bad filter and 404 for an unknown delivery", async () => {
    for (const query of ["status=lost", "endpointId=nope", "eventId=ep_01", "after=tomorrow", "limit=0"]) {
      expectProblem(await t.call("GET", `/v1/tenants/lister/deliveries?${query}`), 400, "validation_failed");
    }
    expectProblem(await t.call("GET", `/v1/tenants/lister/deliveries/${newId("delivery")}`), 404, "not_found");
    // Another tenant's delivery is as absent as one that never existed.
    expectProblem(await t.call("GET", `/v1/tenants/acme/deliveries/${ids[0]}`), 404, "not_found");
  });
});

describe("retry", () => {
  it("promotes the delayed job of a failed delivery so it runs now", async () => {
    const delivery = await deliveryTo(hookId);
    await setState(delivery.id, "failed", "delayed");
    expect(await (await t.queue.getJob(delivery.id))?.getState()).toBe("delayed");
    const response = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`);
    expect(response.status).toBe(202);
    expect(response.body).toMatchObject({ id: delivery.id, status: "pending" });
    expect(Date.parse(response.body.nextAttemptAt)).toBeLessThanOrEqual(Date.now());
    expect(await (await t.queue.getJob(delivery.id))?.getState()).toBe("waiting");
  });

  it("enqueues an exhausted delivery again, with or without an empty JSON body", async () => {
    for (const body of [undefined, {}]) {
      const delivery = await deliveryTo(hookId);
      await setState(delivery.id, "exhausted");
      expect(await t.queue.getJob(delivery.id)).toBeUndefined();
      const response = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`, { body });
      expect(response.status).toBe(202);
      const job = await t.queue.getJob(delivery.id);
      expect(job?.data).toEqual({ deliveryId: delivery.id, eventId: delivery.eventId, endpointId: hookId, tenantId });
      expect(await job?.getState()).toBe("waiting");
      expect(await status(delivery.id)).toBe("pending");
    }
  });

  it("answers at once during an attempt in flight, and the retry runs as soon as that attempt has ended", async () => {
    const delivery = await deliveryTo(hookId);
    // The stand-in worker below must take this delivery's job, not its sibling's or one left by earlier tests.
    await t.queue.drain(true);
    // A stand-in worker: holds the first attempt active until released, then fails it with an
    // hour's backoff; the next attempt (the retry) succeeds.
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    let again = () => {};
    const ranAgain = new Promise<void>((resolve) => {
      again = resolve;
    });
    let calls = 0;
    const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
    const worker = new Worker(
      t.queue.name,
      async () => {
        if (++calls > 1) return again();
        started();
        await released;
        throw new Error("receiver down");
      },
      { connection, prefix: t.queue.opts.prefix, settings: { backoffStrategy: () => 3_600_000 } },
    );
    try {
      await t.queue.add(
        JOB_NAMES.deliver,
        { deliveryId: delivery.id, eventId: delivery.eventId, endpointId: hookId, tenantId },
        {
          ...DELIVERY_JOB_OPTIONS,
          jobId: delivery.id,
        },
      );
      await running;
      await t.sql`update deliveries set status = 'failed', attempts = 1 where id = ${delivery.id}`;
      expect(await (await t.queue.getJob(delivery.id))?.getState()).toBe("active");
      // The retry lands while the attempt runs: it answers without waiting for the job.
      expect((await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`)).status).toBe(202);
      expect(await status(delivery.id)).toBe("pending");
      expect(await t.queues.flushAgain(0)).toBe(0);
      release();
      // The attempt failed with an hour's backoff; the worker's scheduler (called here as its pass would)
      // promotes the delayed job once it is no longer active. Without that this would time out.
      await eventually(async () => (await t.queues.flushAgain(0)) > 0, { what: "the retry to be promoted" });
      await ranAgain;
      expect(calls).toBe(2);
    } finally {
      release();
      await worker.close();
      connection.disconnect();
    }
  });

  it("leaves a pending delivery's waiting job as it is", async () => {
    const delivery = await deliveryTo(hookId);
    const job = await t.queue.getJob(delivery.id);
    expect(await job?.getState()).toBe("waiting");
    expect((await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`)).status).toBe(202);
    const after = await t.queue.getJob(delivery.id);
    expect(after?.timestamp).toBe(job?.timestamp);
    expect(await after?.getState()).toBe("waiting");
  });

  it("refuses a succeeded delivery unless forced", async () => {
    const delivery = await deliveryTo(hookId);
    await setState(delivery.id, "succeeded");
    const refused = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`);
    expectProblem(refused, 409, "conflict");
    expect(refused.body.detail).toContain("force");
    expect(await t.queue.getJob(delivery.id)).toBeUndefined();
    expect(await status(delivery.id)).toBe("succeeded");
    const forced = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`, { body: { force: true } });
    expect(forced.status).toBe(202);
    expect(await (await t.queue.getJob(delivery.id))?.getState()).toBe("waiting");
  });

  it("refuses a held delivery while its endpoint is disabled, and sends it once enabled", async () => {
    const delivery = await deliveryTo(otherHookId);
    await t.call("PATCH", `/v1/tenants/acme/endpoints/${otherHookId}`, { body: { disabled: true } });
    await setState(delivery.id, "held");
    const refused = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`);
    expectProblem(refused, 409, "conflict");
    expect(refused.body.detail).toContain("enable it first");
    await t.call("PATCH", `/v1/tenants/acme/endpoints/${otherHookId}`, { body: { disabled: false } });
    expect((await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`)).status).toBe(202);
    expect(await status(delivery.id)).toBe("pending");
  });

  it("answers 400 for unknown fields, 415 for a non-JSON body and 404 for an unknown delivery", async () => {
    const delivery = await deliveryTo(hookId);
    expectProblem(
      await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`, { body: { force: "yes" } }),
      400,
      "validation_failed",
    );
    expectProblem(
      await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`, { body: { now: true } }),
      400,
      "validation_failed",
    );
    expectProblem(
      await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`, {
        body: "force",
        headers: { "content-type": "text/plain" },
      }),
      415,
      "unsupported_media_type",
    );
    expectProblem(await t.call("POST", `/v1/tenants/acme/deliveries/${newId("delivery")}/retry`), 404, "not_found");
  });

  it("refuses a delivery whose event is past the retention, which would have nothing to send", async () => {
    // An event published just before midnight has its deliveries in the next day's partition: its own day can be
    // dropped first. (A DELETE stands in for that drop here.)
    const delivery = await deliveryTo(hookId);
    await setState(delivery.id, "exhausted");
    await t.sql`delete from events where id = ${delivery.eventId}`;
    const refused = await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`);
    expectProblem(refused, 409, "conflict");
    expect(refused.body.detail).toContain("past the retention");
    expect(await status(delivery.id)).toBe("exhausted");
  });
});

describe("recover", () => {
  let endpointId: string;
  const made: Record<string, string> = {};

  beforeEach(async () => {
    endpointId = (await t.call("POST", "/v1/tenants/acme/endpoints", { body: { name: "Recover", url: "https://example.com/r" } })).body.id;
    for (const state of ["failed", "exhausted", "held", "succeeded", "pending"]) {
      const delivery = await deliveryTo(endpointId);
      made[state] = delivery.id;
      if (state === "failed") await setState(delivery.id, state, "delayed");
      else if (state !== "pending") await setState(delivery.id, state);
    }
  });

  it("re-sends exactly the failed, exhausted and held deliveries since the time", async () => {
    const old = await deliveryTo(endpointId);
    await setState(old.id, "exhausted");
    // An id from a day ago: created before `since`.
    const oldId = idAt("delivery", Date.now() - 86_400_000);
    await t.sql`update deliveries set id = ${oldId} where id = ${old.id}`;
    const since = new Date(Date.now() - 3_600_000).toISOString();

    const response = await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { body: { since } });
    expect(response.status).toBe(202);
    expect(response.body).toEqual({ queued: 3 });
    // Parked, not enqueued: the worker's scheduler releases them at the endpoint's pace, oldest first.
    const recovered = ["failed", "exhausted", "held"].map((state) => made[state] as string);
    const rows = await t.sql<
      { status: string; parked: boolean }[]
    >`select status, parked from deliveries where id = any(${recovered}::text[])`;
    expect(rows).toEqual(recovered.map(() => ({ status: "pending", parked: true })));
    expect(await t.queues.dueParked(0, Date.now(), 1000)).toContain(endpointId);
    expect(await status(made.succeeded as string)).toBe("succeeded");
    expect(await t.queue.getJob(made.succeeded as string)).toBeUndefined();
    expect(await status(oldId)).toBe("exhausted");
    // Nothing is left to recover.
    expect((await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { body: { since } })).body).toEqual({ queued: 0 });
  });

  it("leaves a delivery whose event is past the retention", async () => {
    await t.sql`delete from events where id = (select event_id from deliveries where id = ${made.exhausted as string})`;
    const response = await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { body: { since: "2020-01-01T00:00:00Z" } });
    expect(response.body).toEqual({ queued: 2 });
    expect(await status(made.exhausted as string)).toBe("exhausted");
  });

  it("leaves other endpoints' deliveries alone", async () => {
    const elsewhere = await deliveryTo(hookId);
    await setState(elsewhere.id, "exhausted");
    await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { body: { since: "2020-01-01T00:00:00Z" } });
    expect(await status(elsewhere.id)).toBe("exhausted");
  });

  it("answers 409 for a disabled endpoint and changes nothing", async () => {
    await t.call("PATCH", `/v1/tenants/acme/endpoints/${endpointId}`, { body: { disabled: true } });
    const response = await t.call("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { body: { since: "2020-01-01T00:00:00Z" } });
    expectProblem(response, 409, "conflict");
    expect(response.body.detail).toContain("enable it first");
    expect(await status(made.exhausted as string)).toBe("exhausted");
  });

  it("answers 400 without a valid since, and 404 for an unknown endpoint", async () => {
    const path = `/v1/tenants/acme/endpoints/${endpointId}/recover`;
    for (const body of [{}, { since: "last week" }, { since: "2026-01-01T00:00:00Z", status: "failed" }]) {
      expectProblem(await t.call("POST", path, { body }), 400, "validation_failed");
    }
    expectProblem(await t.call("POST", path), 400, "validation_failed");
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/endpoints/ep_nope/recover", { body: { since: "2026-01-01T00:00:00Z" } }),
      404,
      "not_found",
    );
  });
});

describe("operator actions and the endpoint's circuit breaker", () => {
  it("retry, recover and re-enabling clear an open circuit and a Retry-After pause", async () => {
    const key = createKeys(t.prefix, 1).endpoint(hookId, "circuit");
    const open = () => t.redis.hset(key, { failures: 12, openUntil: Date.now() + 3_600_000, pausedUntil: Date.now() + 3_600_000, warm: 7 });
    // Closed and unpaused, with the slots it earned by answering kept.
    const closed = async () => {
      expect(await t.redis.hmget(key, "failures", "openUntil", "pausedUntil", "warm")).toEqual([null, null, null, "7"]);
      return true;
    };

    await open();
    const delivery = await deliveryTo(hookId);
    await setState(delivery.id, "failed", "delayed");
    expect((await t.call("POST", `/v1/tenants/acme/deliveries/${delivery.id}/retry`)).status).toBe(202);
    await closed();

    await open();
    const since = new Date(Date.now() - 60_000).toISOString();
    expect((await t.call("POST", `/v1/tenants/acme/endpoints/${hookId}/recover`, { body: { since } })).status).toBe(202);
    await closed();

    expect((await t.call("PATCH", `/v1/tenants/acme/endpoints/${hookId}`, { body: { disabled: true } })).status).toBe(200);
    await open();
    expect((await t.call("PATCH", `/v1/tenants/acme/endpoints/${hookId}`, { body: { name: "Hook" } })).status).toBe(200);
    expect(await t.redis.hget(key, "openUntil")).not.toBeNull();
    expect((await t.call("PATCH", `/v1/tenants/acme/endpoints/${hookId}`, { body: { disabled: false } })).status).toBe(200);
    await closed();
  });
});

describe("security", () => {
  let otherKey: string;
  let mine: { id: string };
  beforeAll(async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "Intruder", uid: "intruder" } });
    otherKey = (await t.call("POST", "/v1/tenants/intruder/api-keys", { body: { name: "k" } })).body.key;
    mine = await deliveryTo(hookId);
    await setState(mine.id, "exhausted");
  });

  it("answers 404 to a foreign tenant key on every delivery route and changes nothing", async () => {
    const calls: [string, string, unknown][] = [
      ["GET", "/v1/tenants/acme/deliveries", undefined],
      ["GET", `/v1/tenants/${tenantId}/deliveries?status=failed`, undefined],
      ["GET", `/v1/tenants/acme/deliveries/${mine.id}`, undefined],
      ["POST", `/v1/tenants/acme/deliveries/${mine.id}/retry`, {}],
      ["POST", `/v1/tenants/acme/endpoints/${hookId}/recover`, { since: "2020-01-01T00:00:00Z" }],
      // Its own tenant in the path does not reach another tenant's rows either.
      ["GET", `/v1/tenants/intruder/deliveries/${mine.id}`, undefined],
      ["POST", `/v1/tenants/intruder/deliveries/${mine.id}/retry`, {}],
      ["POST", `/v1/tenants/intruder/endpoints/${hookId}/recover`, { since: "2020-01-01T00:00:00Z" }],
    ];
    for (const [method, path, body] of calls) {
      expectProblem(await t.call(method, path, { body, token: otherKey }), 404, "not_found");
    }
    const own = await t.call("GET", "/v1/tenants/intruder/deliveries", { token: otherKey });
    expect(own.status).toBe(200);
    expect(own.body.data).toEqual([]);
    expect(await status(mine.id)).toBe("exhausted");
    expect(await t.queue.getJob(mine.id)).toBeUndefined();
  });

  it("answers 401 without a token", async () => {
    expectProblem(await t.call("POST", `/v1/tenants/acme/deliveries/${mine.id}/retry`, { token: null }), 401, "unauthorized");
    expectProblem(await t.call("GET", "/v1/tenants/acme/deliveries", { token: null }), 401, "unauthorized");
  });
});
