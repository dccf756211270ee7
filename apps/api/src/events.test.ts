import { type IdKind, idFloor, MAX_BATCH_EVENTS } from "@herald/schema";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, expectProblem, type TestApp } from "./test-app.ts";

/** An id created at `time` (newId keeps ids increasing within a process, so it cannot make past ones). */
let serial = 0;
const idAt = (kind: IdKind, time: number) => `${idFloor(kind, new Date(time)).slice(0, -4)}${String(++serial).padStart(4, "0")}`;

const MAX_PAYLOAD = 4096;
const MAX_BATCH = 256 * 1024;

let t: TestApp;
let tenantId: string;
let endpointId: string;

beforeAll(async () => {
  t = await createTestApp({ HERALD_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), HERALD_MAX_BATCH_BYTES: String(MAX_BATCH) });
  tenantId = (await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } })).body.id;
  for (const name of ["invoice.paid", "invoice.voided", "user.created"]) {
    await t.call("POST", "/v1/event-types", { body: { name, description: name } });
  }
  endpointId = (
    await t.call("POST", "/v1/tenants/acme/endpoints", {
      body: { name: "Invoices", url: "https://example.com/hook", eventTypes: ["invoice.*"] },
    })
  ).body.id;
});
afterAll(async () => {
  await t?.close();
});

const publishBatch = (events: unknown[], headers: Record<string, string> = {}, path = "/v1/tenants/acme/events/batch") =>
  t.call("POST", path, { body: { events }, headers });

async function eventCount(tenant = tenantId): Promise<number> {
  const [row] = await t.sql<{ n: number }[]>`select count(*)::int as n from events where tenant_id = ${tenant}`;
  return row?.n ?? 0;
}

describe("batch publish: happy", () => {
  it("publishes every event in order, with one job per delivery", async () => {
    const response = await publishBatch([
      { eventType: "invoice.paid", payload: { n: 1 } },
      { eventType: "user.created", payload: { n: 2 } },
      { eventType: "invoice.voided", payload: { n: 3 } },
    ]);
    expect(response.status).toBe(202);
    expect(
      response.body.data.map((item: { eventType: string; deliveries: number; replayed: boolean }) => [
        item.eventType,
        item.deliveries,
        item.replayed,
      ]),
    ).toEqual([
      ["invoice.paid", 1, false],
      ["user.created", 0, false],
      ["invoice.voided", 1, false],
    ]);
    for (const item of [response.body.data[0], response.body.data[2]]) {
      const detail = await t.call("GET", `/v1/tenants/acme/events/${item.id}`);
      expect(detail.body.deliveries).toHaveLength(1);
      const job = await t.queue.getJob(detail.body.deliveries[0].id);
      expect(job?.data).toEqual({ deliveryId: detail.body.deliveries[0].id, eventId: item.id, endpointId, tenantId });
    }
  });

  it(`takes ${MAX_BATCH_EVENTS} events in one request`, async () => {
    const before = await eventCount();
    const events = Array.from({ length: MAX_BATCH_EVENTS }, (_, i) => ({ eventType: "invoice.paid", payload: { i } }));
    const response = await publishBatch(events);
    expect(response.status).toBe(202);
    expect(response.body.data).toHaveLength(MAX_BATCH_EVENTS);
    expect(new Set(response.body.data.map((item: { id: string }) => item.id)).size).toBe(MAX_BATCH_EVENTS);
    expect(await eventCount()).toBe(before + MAX_BATCH_EVENTS);
    const [row] = await t.sql<{ n: number }[]>`
      select count(*)::int as n from deliveries where event_id = any(${response.body.data.map((item: { id: string }) => item.id)}::text[])`;
    expect(row?.n).toBe(MAX_BATCH_EVENTS);
  });

  it("replays a batch sent again with the same Idempotency-Key header", async () => {
    const events = [
      { eventType: "invoice.paid", payload: { a: 1 } },
      { eventType: "invoice.paid", payload: { a: 2 } },
    ];
    const first = await publishBatch(events, { "idempotency-key": "batch-1" });
    expect(first.status).toBe(202);
    const before = await eventCount();
    const again = await publishBatch(events, { "idempotency-key": "batch-1" });
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body.data.map((item: { id: string }) => item.id)).toEqual(first.body.data.map((item: { id: string }) => item.id));
    expect(again.body.data.every((item: { replayed: boolean }) => item.replayed)).toBe(true);
    expect(await eventCount()).toBe(before);
  });

  it("publishes the new items of a batch and replays the ones whose key was seen", async () => {
    const single = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "seen-1" },
    });
    const response = await publishBatch([
      { eventType: "invoice.paid", payload: {}, idempotencyKey: "seen-1" },
      { eventType: "invoice.paid", payload: {}, idempotencyKey: "new-1" },
    ]);
    expect(response.status).toBe(202);
    expect(response.body.data[0]).toMatchObject({ id: single.body.id, replayed: true });
    expect(response.body.data[1]).toMatchObject({ replayed: false });
    expect(response.body.data[1].id).not.toBe(single.body.id);
  });
});

describe("idempotency", () => {
  it("answers the original result for a repeated key, by header or body field", async () => {
    const first = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: { x: 1 } },
      headers: { "idempotency-key": "order-1" },
    });
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const before = await eventCount();
    const byHeader = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: { x: 1 } },
      headers: { "idempotency-key": "order-1" },
    });
    const byField = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: { x: 1 }, idempotencyKey: "order-1" },
    });
    for (const again of [byHeader, byField]) {
      expect(again.status).toBe(200);
      expect(again.headers.get("idempotent-replayed")).toBe("true");
      expect(again.body).toEqual(first.body);
    }
    expect(await eventCount()).toBe(before);
    const [row] = await t.sql<{ n: number }[]>`select count(*)::int as n from deliveries where event_id = ${first.body.id}`;
    expect(row?.n).toBe(1);
  });

  it("publishes concurrent requests with one key once", async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, () =>
        t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "race-1" } }),
      ),
    );
    expect(new Set(responses.map((response) => response.body.id)).size).toBe(1);
    expect(responses.filter((response) => response.status === 202)).toHaveLength(1);
    const [row] = await t.sql<{ n: number }[]>`select count(*)::int as n from events where idempotency_key = 'race-1'`;
    expect(row?.n).toBe(1);
  });

  it("lets a key be used again after 24 hours", async () => {
    const first = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "old-key" },
    });
    await t.sql`update idempotency_keys set created_at = now() - interval '24 hours 1 minute' where event_id = ${first.body.id}`;
    const again = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "old-key" },
    });
    expect(again.status).toBe(202);
    expect(again.body.id).not.toBe(first.body.id);
    // The old event still shows the key it was published with; the key now answers with the new event.
    const old = await t.call("GET", `/v1/tenants/acme/events/${first.body.id}`);
    expect(old.body.idempotencyKey).toBe("old-key");
    const third = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "old-key" },
    });
    expect(third.status).toBe(200);
    expect(third.body.id).toBe(again.body.id);
  });

  it("keeps a key inside the window just short of 24 hours", async () => {
    const first = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "young-key" },
    });
    await t.sql`update idempotency_keys set created_at = now() - interval '23 hours 59 minutes' where event_id = ${first.body.id}`;
    const again = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "young-key" },
    });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });
});

describe("event list", () => {
  let listTenant: string;
  const times = ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z", "2026-04-01T00:00:00.000Z"];
  const ids = times.map((time) => idAt("event", Date.parse(time)));

  beforeAll(async () => {
    listTenant = (await t.call("POST", "/v1/tenants", { body: { name: "Lister", uid: "lister" } })).body.id;
    for (const [i, id] of ids.entries()) {
      await t.sql`insert into events (id, tenant_id, event_type, payload, created_at)
                  values (${id}, ${listTenant}, ${i % 2 === 0 ? "invoice.paid" : "user.created"}, '{}'::jsonb, ${times[i] as string})`;
    }
  });

  const list = async (query: string) => {
    const response = await t.call("GET", `/v1/tenants/lister/events?${query}`);
    expect(response.status).toBe(200);
    return response.body as { data: { id: string }[]; nextCursor: string | null };
  };

  it("lists newest first and pages with the cursor", async () => {
    const first = await list("limit=3");
    expect(first.data.map((e) => e.id)).toEqual([ids[3], ids[2], ids[1]]);
    const second = await list(`limit=3&cursor=${first.nextCursor}`);
    expect(second.data.map((e) => e.id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeNull();
  });

  it("filters by event type and time range (after inclusive, before exclusive)", async () => {
    expect((await list("eventType=user.created")).data.map((e) => e.id)).toEqual([ids[3], ids[1]]);
    expect((await list(`after=${times[1]}`)).data.map((e) => e.id)).toEqual([ids[3], ids[2], ids[1]]);
    expect((await list(`before=${times[2]}`)).data.map((e) => e.id)).toEqual([ids[1], ids[0]]);
    expect((await list(`after=${times[1]}&before=${times[3]}&eventType=invoice.paid`)).data.map((e) => e.id)).toEqual([ids[2]]);
  });

  it("answers 400 for a time that is not ISO 8601", async () => {
    const response = await t.call("GET", "/v1/tenants/lister/events?after=yesterday");
    expectProblem(response, 400, "validation_failed");
    expect(response.body.errors[0].path).toBe("query.after");
  });
});

describe("batch publish: errors", () => {
  it("rejects the whole batch naming the invalid item, and stores nothing", async () => {
    const before = await eventCount();
    const invalid = await publishBatch([
      { eventType: "invoice.paid", payload: {} },
      { eventType: "invoice.paid", payload: {} },
      { eventType: "Not A Type!", payload: {} },
    ]);
    expectProblem(invalid, 400, "validation_failed");
    expect(invalid.body.errors.map((e: { path: string }) => e.path)).toContain("events.2.eventType");

    const unknown = await publishBatch([
      { eventType: "invoice.paid", payload: {} },
      { eventType: "invoice.refunded", payload: {} },
    ]);
    expectProblem(unknown, 422, "unknown_event_type");
    expect(unknown.body.errors).toEqual([{ path: "events.1.eventType", message: "invoice.refunded is not in the event catalog" }]);
    expect(await eventCount()).toBe(before);
  });

  it("rejects an empty batch, one over the limit, unknown fields and repeated keys", async () => {
    expectProblem(await publishBatch([]), 400, "validation_failed");
    const tooMany = await publishBatch(Array.from({ length: MAX_BATCH_EVENTS + 1 }, () => ({ eventType: "invoice.paid", payload: 1 })));
    expectProblem(tooMany, 400, "validation_failed");
    const extra = await t.call("POST", "/v1/tenants/acme/events/batch", {
      body: { events: [{ eventType: "invoice.paid", payload: 1 }], more: 1 },
    });
    expectProblem(extra, 400, "validation_failed");
    const repeated = await publishBatch([
      { eventType: "invoice.paid", payload: 1, idempotencyKey: "k" },
      { eventType: "invoice.paid", payload: 2, idempotencyKey: "k" },
    ]);
    expectProblem(repeated, 400, "validation_failed");
    expect(repeated.body.errors).toEqual([{ path: "events.1.idempotencyKey", message: "repeats the key of events.0" }]);
  });

  it("answers 400 for a hostilely nested payload, single or in a batch, and stores nothing", async () => {
    // Written as text: JSON.stringify itself would overflow the stack on it.
    const deep = `${'{"a":['.repeat(1000)}1${"]}".repeat(1000)}`;
    const before = await eventCount();
    const single = await t.call("POST", "/v1/tenants/acme/events", { body: `{"eventType":"invoice.paid","payload":${deep}}` });
    expectProblem(single, 400, "validation_failed");
    expect(single.body.errors[0].path).toBe("payload");
    const inBatch = await t.call("POST", "/v1/tenants/acme/events/batch", {
      body: `{"events":[{"eventType":"invoice.paid","payload":{}},{"eventType":"invoice.paid","payload":${deep}}]}`,
    });
    expectProblem(inBatch, 400, "validation_failed");
    expect(inBatch.body.errors[0].path).toBe("events.1.payload");
    expect(await eventCount()).toBe(before);
  });

  it("answers 413 for a payload over HERALD_MAX_PAYLOAD_BYTES, single or in a batch", async () => {
    const big = { text: "x".repeat(MAX_PAYLOAD) };
    const before = await eventCount();
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: big } }),
      413,
      "payload_too_large",
    );
    const huge = { text: "x".repeat(MAX_PAYLOAD + 32 * 1024) };
    expectProblem(
      await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "invoice.paid", payload: huge } }),
      413,
      "payload_too_large",
    );
    const inBatch = await publishBatch([
      { eventType: "invoice.paid", payload: {} },
      { eventType: "invoice.paid", payload: big },
    ]);
    expectProblem(inBatch, 413, "payload_too_large");
    expect(inBatch.body.errors).toEqual([{ path: "events.1.payload", message: `is larger than ${MAX_PAYLOAD} bytes` }]);
    expect(await eventCount()).toBe(before);
  });

  it("answers 413 for a batch body over HERALD_MAX_BATCH_BYTES even when each payload fits", async () => {
    const fits = { text: "x".repeat(MAX_PAYLOAD - 100) };
    const events = Array.from({ length: Math.ceil(MAX_BATCH / MAX_PAYLOAD) + 1 }, () => ({ eventType: "invoice.paid", payload: fits }));
    expectProblem(await publishBatch(events), 413, "payload_too_large");
    // The same payloads in a batch under the limit are fine.
    expect((await publishBatch(events.slice(0, 10))).status).toBe(202);
  });
});

describe("security", () => {
  let otherKey: string;
  beforeAll(async () => {
    await t.call("POST", "/v1/tenants", { body: { name: "Other", uid: "other" } });
    otherKey = (await t.call("POST", "/v1/tenants/other/api-keys", { body: { name: "other backend" } })).body.key;
  });

  it("answers 404 when a tenant key publishes or lists on another tenant", async () => {
    const before = await eventCount();
    const batch = await t.call("POST", "/v1/tenants/acme/events/batch", {
      body: { events: [{ eventType: "invoice.paid", payload: {} }] },
      token: otherKey,
    });
    expectProblem(batch, 404, "not_found");
    expectProblem(await t.call("GET", "/v1/tenants/acme/events", { token: otherKey }), 404, "not_found");
    expectProblem(await t.call("GET", `/v1/tenants/${tenantId}/events?eventType=invoice.paid`, { token: otherKey }), 404, "not_found");
    expect(await eventCount()).toBe(before);
  });

  it("lets a tenant key publish a batch on its own tenant", async () => {
    const response = await t.call("POST", "/v1/tenants/other/events/batch", {
      body: { events: [{ eventType: "invoice.paid", payload: {} }] },
      token: otherKey,
    });
    expect(response.status).toBe(202);
  });

  it("scopes idempotency keys to the tenant", async () => {
    const mine = await t.call("POST", "/v1/tenants/acme/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "shared-key" },
    });
    const theirs = await t.call("POST", "/v1/tenants/other/events", {
      body: { eventType: "invoice.paid", payload: {}, idempotencyKey: "shared-key" },
      token: otherKey,
    });
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it("answers 401 without a token", async () => {
    expectProblem(await t.call("POST", "/v1/tenants/acme/events/batch", { body: { events: [] }, token: null }), 401, "unauthorized");
  });
});
