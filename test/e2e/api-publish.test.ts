import { createHeraldClient, type HeraldClient } from "@herald/client";
import { eventually, type Herald, type Receiver, startHerald, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/** Publishing through the real API process: batches, idempotency, size limits, metrics. */
let herald: Herald;
let receiver: Receiver;
/** The typed client, generated from the API's own document: what integrators call. */
let client: HeraldClient;

const MAX_PAYLOAD = 8192;
const MAX_BATCH = 64 * 1024;

beforeAll(async () => {
  herald = await startHerald({ env: { HERALD_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD), HERALD_MAX_BATCH_BYTES: String(MAX_BATCH) } });
  receiver = await startReceiver();
  client = createHeraldClient({ baseUrl: herald.baseUrl, token: herald.env.HERALD_ADMIN_TOKEN });
  await herald.request("POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  await herald.request("POST", "/v1/event-types", { name: "order.placed", description: "Placed" });
  await herald.request("POST", "/v1/tenants/acme/endpoints", { name: "Orders", url: `${receiver.url}/orders` });
});

afterAll(async () => {
  await receiver?.close();
  await herald?.stop();
});

async function post(path: string, body: RequestInit["body"], headers: Record<string, string> = {}) {
  const response = await fetch(herald.baseUrl + path, {
    method: "POST",
    headers: { authorization: `Bearer ${herald.env.HERALD_ADMIN_TOKEN}`, "content-type": "application/json", ...headers },
    body,
    // biome-ignore lint/suspicious/noExplicitAny: undici needs `duplex` for a streamed body; the DOM type lacks it.
    ...({ duplex: "half" } as any),
  });
  return { status: response.status, type: response.headers.get("content-type"), body: await response.json() };
}

describe("batch publish end to end", () => {
  it("delivers every event of a batch once, and a replayed batch not again", async () => {
    const events = Array.from({ length: 200 }, (_, i) => ({ eventType: "order.placed", payload: { order: i } }));
    const batch = { params: { path: { tenantId: "acme" }, header: { "idempotency-key": "import-7" } }, body: { events } };
    const published = await client.POST("/v1/tenants/{tenantId}/events/batch", batch);
    expect(published.response.status).toBe(202);
    const ids = published.data?.data.map((item) => item.id) ?? [];
    // A fresh endpoint earns its slots by answering, so 200 deliveries take a while on a busy machine (over 20 s seen).
    const requests = await receiver.waitForRequests(200, 90_000);
    expect(new Set(requests.map((r) => r.headers["webhook-id"]))).toEqual(new Set(ids));
    expect(requests.map((r) => JSON.parse(r.body).data.order).sort((a, b) => a - b)).toEqual(events.map((_, i) => i));

    const replayed = await client.POST("/v1/tenants/{tenantId}/events/batch", batch);
    expect(replayed.response.status).toBe(200);
    expect(replayed.response.headers.get("idempotent-replayed")).toBe("true");
    expect(replayed.data?.data.map((item) => item.id)).toEqual(ids);
    const listed = await client.GET("/v1/tenants/{tenantId}/events", { params: { path: { tenantId: "acme" }, query: { limit: 250 } } });
    expect(listed.data?.data).toHaveLength(200);
    await eventually(async () => {
      const query = { status: "succeeded", limit: 250 } as const;
      const done = await client.GET("/v1/tenants/{tenantId}/deliveries", { params: { path: { tenantId: "acme" }, query } });
      return done.data?.data.length === 200;
    });
  }, 150_000);
});

describe("size limits over real HTTP", () => {
  it("answers 413 problems for a large single body, a large payload and a large batch, streamed or not", async () => {
    const payload = { text: "x".repeat(MAX_PAYLOAD) };
    const single = await post("/v1/tenants/acme/events", JSON.stringify({ eventType: "order.placed", payload }));
    expect(single).toMatchObject({ status: 413, type: expect.stringContaining("problem+json"), body: { code: "payload_too_large" } });

    const batch = JSON.stringify({
      events: Array.from({ length: 10 }, () => ({ eventType: "order.placed", payload: { text: "y".repeat(MAX_PAYLOAD - 100) } })),
    });
    expect(batch.length).toBeGreaterThan(MAX_BATCH);
    expect(await post("/v1/tenants/acme/events/batch", batch)).toMatchObject({ status: 413, body: { code: "payload_too_large" } });

    // Without a content-length the limit is enforced while reading.
    const stream = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(batch));
        controller.close();
      },
    });
    expect(await post("/v1/tenants/acme/events/batch", stream)).toMatchObject({ status: 413, body: { code: "payload_too_large" } });

    const fits = JSON.stringify({ events: [{ eventType: "order.placed", payload: { text: "z".repeat(MAX_PAYLOAD - 100) } }] });
    expect((await post("/v1/tenants/acme/events/batch", fits)).status).toBe(202);
    // A chunked body within the limit is counted as it streams and then published like any other.
    const fitsStreamed = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(fits));
        controller.close();
      },
    });
    expect(await post("/v1/tenants/acme/events/batch", fitsStreamed)).toMatchObject({ status: 202, body: { data: [{ deliveries: 1 }] } });
  });
});

describe("payloads exactly as sent", () => {
  // Key order (integer-like keys included), number spellings, big integers, escapes and whitespace that a JSON
  // round trip (or PostgreSQL's jsonb) would all rewrite.
  const odd = `{ "z": 1, "a": {"10": "ten", "2": "two", "1": "one"}, "f": 1.0, "e": 1e3, "neg": -0, "big": 123456789012345678901234567890,
    "u": "caf\\u00e9 \\ud83d\\ude00 \\/", "s": "déjà 😀", "nested": [ {"y": 2.50, "x": []}, null, true ] }`;

  const envelope = (eventType: string, createdAt: string, data: string) =>
    `{"type":"${eventType}","timestamp":"${createdAt}","data":${data}}`;

  it("delivers data byte for byte, for a single publish and each item of a batch", async () => {
    const single = await post("/v1/tenants/acme/events", `{"eventType":"order.placed","payload":${odd}}`);
    expect(single.status).toBe(202);
    const accepted = single.body as { id: string; createdAt: string };
    const received = await receiver.waitFor(accepted.id, { timeoutMs: 60_000 });
    expect(Buffer.from(received.body)).toEqual(Buffer.from(envelope("order.placed", accepted.createdAt, odd)));

    const items = [odd, "1.50", '"caf\\u00e9"', '{"b":1,"a":2}'];
    const batch = await post(
      "/v1/tenants/acme/events/batch",
      `{"events":[${items.map((payload) => `{"payload": ${payload} ,"eventType":"order.placed"}`).join(" , ")}]}`,
    );
    expect(batch.status).toBe(202);
    for (const [i, item] of ((batch.body as { data: unknown }).data as { id: string; createdAt: string }[]).entries()) {
      const delivered = await receiver.waitFor(item.id, { timeoutMs: 60_000 });
      expect(delivered.body).toBe(envelope("order.placed", item.createdAt, items[i] as string));
    }

    // Reading the event back still works: the API's JSON view holds the parsed payload (so `-0` reads as `0` there).
    const shown = await herald.request("GET", `/v1/tenants/acme/events/${accepted.id}`);
    expect(shown.body.payload).toEqual(JSON.parse(JSON.stringify(JSON.parse(odd))));
  }, 90_000);

  it("refuses a body that repeats a key, naming where, and publishes nothing", async () => {
    const single = await post("/v1/tenants/acme/events", '{"eventType":"order.placed","payload":{"a":{"x":1,"x":2}}}');
    expect(single).toMatchObject({ status: 422, body: { code: "duplicate_key", errors: [{ path: "payload.a.x" }] } });
    const batch = await post(
      "/v1/tenants/acme/events/batch",
      '{"events":[{"eventType":"order.placed","payload":{}},{"eventType":"order.placed","payload":[{"k":1,"k":1}]}]}',
    );
    expect(batch).toMatchObject({ status: 422, body: { code: "duplicate_key", errors: [{ path: "events.1.payload.0.k" }] } });
  });
});

describe("metrics over real HTTP", () => {
  it("serves /metrics without a token", async () => {
    const response = await fetch(`${herald.baseUrl}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toMatch(/^herald_events_published_total\{result="published"\} \d+/m);
    expect(text).toMatch(/^herald_queue_jobs\{shard="0",state="waiting"\} \d+/m);
  });
});
