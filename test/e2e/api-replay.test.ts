import { eventually, type Herald, type Receiver, startHerald, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * Replay against the real processes: a receiver that was down, then recover
 * and retry through the API, and what the receiver gets.
 */
let herald: Herald;
let receiver: Receiver;
/** How the receiver answers, by path. */
const answers = new Map<string, number>();

beforeAll(async () => {
  herald = await startHerald({
    env: {
      // A failed delivery waits an hour for its second attempt, so a retry visibly jumps the queue.
      // Endpoints that should exhaust at once get maxAttempts 1.
      HERALD_RETRY_SCHEDULE: "0,1h",
      HERALD_RETRY_JITTER: "0",
      HERALD_CIRCUIT_THRESHOLD: "1000",
    },
  });
  receiver = await startReceiver((request, _index, res) => {
    const status = answers.get(request.path) ?? 200;
    res.writeHead(status);
    res.end(status < 300 ? "ok" : "down");
  });
  await herald.request("POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  await herald.request("POST", "/v1/event-types", { name: "invoice.paid", description: "Paid" });
});

afterAll(async () => {
  await receiver?.close();
  await herald?.stop();
});

async function createEndpoint(path: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await herald.request("POST", "/v1/tenants/acme/endpoints", { name: path, url: `${receiver.url}${path}`, ...extra });
  expect(response.status).toBe(201);
  return response.body.id;
}

async function publish(n: number): Promise<string[]> {
  const response = await herald.request("POST", "/v1/tenants/acme/events/batch", {
    events: Array.from({ length: n }, (_, i) => ({ eventType: "invoice.paid", payload: { i } })),
  });
  expect(response.status).toBe(202);
  return response.body.data.map((item: { id: string }) => item.id);
}

/** Waits until every delivery of `endpointId` is in one of `statuses`; answers them by event id. */
async function settled(endpointId: string, count: number, statuses: string[]) {
  return eventually(
    async () => {
      const list = await herald.request("GET", `/v1/tenants/acme/deliveries?endpointId=${endpointId}&limit=250`);
      const rows = list.body.data as { id: string; eventId: string; status: string; attempts: number }[];
      return rows.length === count && rows.every((row) => statuses.includes(row.status)) && rows;
    },
    { what: `${count} deliveries of ${endpointId} in ${statuses.join("/")}` },
  );
}

const idsAt = (path: string) => receiver.requests.filter((r) => r.path === path).map((r) => r.headers["webhook-id"] as string);

describe("recover after an outage", () => {
  it("re-sends exactly the deliveries that failed, not the ones that succeeded", async () => {
    const endpointId = await createEndpoint("/outage", { maxAttempts: 1 });
    const since = new Date().toISOString();
    const before = await publish(2);
    await settled(endpointId, 2, ["succeeded"]);

    answers.set("/outage", 500);
    const during = await publish(3);
    const failed = await settled(endpointId, 5, ["succeeded", "exhausted"]);
    expect(
      failed
        .filter((row) => row.status === "exhausted")
        .map((row) => row.eventId)
        .sort(),
    ).toEqual([...during].sort());
    expect(failed.filter((row) => row.status === "exhausted").every((row) => row.attempts === 1)).toBe(true);

    answers.delete("/outage");
    const recovered = await herald.request("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { since });
    expect(recovered).toEqual({ status: 202, body: { queued: 3 } });
    // Each event that failed comes again: its failed try, then the recovered one.
    for (const id of during) await receiver.waitForMatching((r) => r.path === "/outage" && r.headers["webhook-id"] === id, 2);
    const done = await settled(endpointId, 5, ["succeeded"]);
    // One more attempt each, on top of the one that failed.
    expect(done.filter((row) => during.includes(row.eventId)).every((row) => row.attempts === 2)).toBe(true);
    // The receiver got each event that had succeeded exactly once.
    for (const id of before) expect(idsAt("/outage").filter((seenId) => seenId === id)).toHaveLength(1);
  });

  it("refuses to recover a disabled endpoint until it is enabled", async () => {
    const endpointId = await createEndpoint("/disabled");
    await herald.request("PATCH", `/v1/tenants/acme/endpoints/${endpointId}`, { disabled: true });
    const [eventId] = await publish(1);
    const [held] = await settled(endpointId, 1, ["held"]);
    expect(held?.eventId).toBe(eventId);

    const refused = await herald.request("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { since: "2020-01-01T00:00:00Z" });
    expect(refused.status).toBe(409);
    await herald.request("PATCH", `/v1/tenants/acme/endpoints/${endpointId}`, { disabled: false });
    const recovered = await herald.request("POST", `/v1/tenants/acme/endpoints/${endpointId}/recover`, { since: "2020-01-01T00:00:00Z" });
    expect(recovered.body).toEqual({ queued: 1 });
    await receiver.waitFor((r) => r.path === "/disabled" && r.headers["webhook-id"] === eventId);
    await settled(endpointId, 1, ["succeeded"]);
  });
});

describe("retry one delivery", () => {
  it("sends a failed delivery now instead of after its delayed retry", async () => {
    const endpointId = await createEndpoint("/later");
    // The second attempt is an hour away: the job waits in BullMQ's delayed set.
    answers.set("/later", 503);
    const [eventId] = await publish(1);
    const [failed] = await settled(endpointId, 1, ["failed"]);
    expect(Date.parse((await herald.request("GET", `/v1/tenants/acme/deliveries/${failed?.id}`)).body.nextAttemptAt)).toBeGreaterThan(
      Date.now() + 30 * 60_000,
    );

    answers.delete("/later");
    const retried = await herald.request("POST", `/v1/tenants/acme/deliveries/${failed?.id}/retry`);
    expect(retried.status).toBe(202);
    // The failed try, then the one the retry sent (every endpoint of the tenant gets the event: only this one counts).
    await receiver.waitForMatching((r) => r.path === "/later" && r.headers["webhook-id"] === eventId, 2);
    const [done] = await settled(endpointId, 1, ["succeeded"]);
    const detail = await herald.request("GET", `/v1/tenants/acme/deliveries/${done?.id}`);
    expect(detail.body.attemptLog.map((a: { statusCode: number | null }) => a.statusCode)).toEqual([503, 200]);
    expect(detail.body.attemptLog[0]).toMatchObject({ errorKind: expect.any(String), responseBody: "down" });
    expect(detail.body.attemptLog[1]).toMatchObject({ errorKind: null, responseBody: "ok" });
    expect(detail.body.attemptLog[1].requestHeaders["webhook-id"]).toBe(eventId);
  });

  it("sends a succeeded delivery again only with force", async () => {
    const endpointId = await createEndpoint("/again");
    const [eventId] = await publish(1);
    const [done] = await settled(endpointId, 1, ["succeeded"]);
    const refused = await herald.request("POST", `/v1/tenants/acme/deliveries/${done?.id}/retry`, {});
    expect(refused.status).toBe(409);
    const forced = await herald.request("POST", `/v1/tenants/acme/deliveries/${done?.id}/retry`, { force: true });
    expect(forced.status).toBe(202);
    // The first send, then the forced one.
    await receiver.waitForMatching((r) => r.path === "/again" && r.headers["webhook-id"] === eventId, 2);
    await eventually(async () => {
      const detail = await herald.request("GET", `/v1/tenants/acme/deliveries/${done?.id}`);
      return detail.body.status === "succeeded" && detail.body.attemptLog.length === 2;
    });
  });
});
