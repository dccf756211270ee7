import { eventually, type Herald, type PrivateRedis, type Receiver, startHerald, startPrivateRedis, startReceiver } from "@herald/testing";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { allDeliveries, createEndpoint, createTenant, type Db, database, publishMany, statusCounts } from "./engine-support.ts";

/**
 * No lost events: thousands of deliveries while a worker is killed, while
 * Redis loses its data, and while a worker shuts down. PostgreSQL is the
 * source of truth; every delivery must end succeeded.
 */

const ENDPOINTS = 20;
const EVENTS = 100;
const TOTAL = ENDPOINTS * EVENTS;

let herald: Herald | undefined;
let sql: Db | undefined;
let receiver: Receiver | undefined;
/** A redis-server of this file's own, for the test that wipes Redis: never the machine's shared one. */
let privateRedis: PrivateRedis | undefined;
/** Requests the receiver has not answered yet. */
let unanswered = 0;

afterEach(async () => {
  await receiver?.close();
  await sql?.end();
  await herald?.stop();
  await privateRedis?.stop();
  herald = undefined;
  sql = undefined;
  receiver = undefined;
  privateRedis = undefined;
});

/** A receiver answering 200 after `delayMs`, 20 endpoints on it, 100 events: 2,000 deliveries. */
async function loadUp(h: Herald, delayMs: number) {
  receiver = await startReceiver((_request, _index, res) => {
    unanswered++;
    setTimeout(() => {
      unanswered--;
      res.writeHead(200);
      res.end("ok");
    }, delayMs);
  });
  const tenantId = await createTenant(h, "crash");
  for (let i = 0; i < ENDPOINTS; i++) await createEndpoint(h, tenantId, `${receiver.url}/e${i}`);
  await publishMany(h, tenantId, EVENTS);
  return receiver;
}

/** Requests the receiver saw beyond one per delivery (the same webhook-id at the same endpoint twice). */
function duplicates(target: Receiver): number {
  const unique = new Set(target.requests.map((r) => `${r.path} ${r.headers["webhook-id"]}`));
  expect(unique.size).toBe(TOTAL);
  return target.requests.length - unique.size;
}

const FAST = {
  // Short, so a killed worker's jobs come back soon (lock = timeout + 10 s), yet far above the receiver's 5 ms:
  // with 2 s, a busy machine timed out 52 requests, which the receiver saw twice without an interrupted attempt.
  HERALD_DELIVERY_TIMEOUT: "10s",
  HERALD_RECONCILE_INTERVAL: "1s",
  HERALD_RECONCILE_GRACE: "3s",
};

describe("no lost events", () => {
  it("SIGKILL of a worker mid-run: every delivery ends succeeded, duplicates counted", async () => {
    herald = await startHerald({ workers: 2, env: FAST });
    sql = database(herald);
    const target = await loadUp(herald, 5);
    await target.waitForRequests(TOTAL / 5, 60_000);
    const victim = herald.workers[0];
    victim?.child.kill("SIGKILL");
    expect(await victim?.exited).toBeNull();
    const killedAt = Date.now();
    // Its jobs come back once their locks lapse and a stalled-job check sees it: up to about a minute with FAST.

    const counts = await eventually(allDeliveries(sql, "succeeded", TOTAL), { timeoutMs: 200_000, what: "every delivery to succeed" });
    expect(counts).toEqual({ succeeded: TOTAL });
    const recoveredMs = Date.now() - killedAt;
    const dupes = duplicates(target);
    // The attempt log shows every request the receiver may have seen twice: the
    // killed worker's unrecorded attempts come back as `interrupted` ones.
    const [log] = await sql<{ interrupted: number; extra: number }[]>`
      select count(*) filter (where error_kind = 'interrupted')::int as interrupted,
             (count(*) - ${TOTAL})::int as extra from attempts`;
    expect(log?.extra).toBe(log?.interrupted);
    expect(log?.interrupted).toBeGreaterThanOrEqual(dupes);
    const mismatched = await sql`
      select d.id from deliveries d left join attempts a on a.delivery_id = d.id
      group by d.id, d.attempts having d.attempts <> count(a.id)`;
    expect(mismatched).toHaveLength(0);
    console.log(
      `SIGKILL: ${TOTAL} deliveries succeeded, ${dupes} duplicate requests at the receiver, ` +
        `${log?.interrupted} interrupted attempts in the log, recovered ${recoveredMs} ms after the kill`,
    );
  }, 360_000);

  it("FLUSHDB of its Redis mid-run: the reconciler restores every unfinished delivery", async () => {
    privateRedis = await startPrivateRedis();
    const redisUrl = privateRedis.url;
    herald = await startHerald({ workers: 1, env: { ...FAST, REDIS_URL: redisUrl } });
    sql = database(herald);
    const target = await loadUp(herald, 5);
    await target.waitForRequests(TOTAL / 5, 60_000);

    const redis = new Redis(redisUrl);
    await redis.flushdb();
    const wipedAt = Date.now();
    const before = await statusCounts(sql);
    expect(before.succeeded ?? 0).toBeLessThan(TOTAL);

    const counts = await eventually(allDeliveries(sql, "succeeded", TOTAL), { timeoutMs: 120_000, what: "every delivery to succeed" });
    const recovery = Date.now() - wipedAt;
    expect(counts).toEqual({ succeeded: TOTAL });
    const dupes = duplicates(target);
    console.log(
      `FLUSHDB: ${TOTAL - (before.succeeded ?? 0)} deliveries unfinished at the wipe, all succeeded ${recovery} ms later, ` +
        `${dupes} duplicate requests`,
    );
    redis.disconnect();
  }, 240_000);

  it("SIGTERM mid-run: exit 0, nothing half-recorded, another worker finishes the rest", async () => {
    // Hundreds in flight at the signal: 300 per worker, 20 endpoints of 20 each.
    herald = await startHerald({ workers: 1, env: { HERALD_WORKER_CONCURRENCY: "300", HERALD_ENDPOINT_CONCURRENCY: "20" } });
    sql = database(herald);
    const target = await loadUp(herald, 2000);
    await target.waitForRequests(400, 60_000);
    await eventually(async () => unanswered >= 200, { timeoutMs: 60_000, what: "200 requests in flight" });
    const inFlight = unanswered;
    const code = await herald.workers[0]?.stop("SIGTERM");
    expect(code).toBe(0);
    expect(inFlight).toBeGreaterThan(0);

    // Every delivery's attempt count agrees with its attempt rows, and every request sent was recorded.
    const mismatched = await sql`
      select d.id from deliveries d left join attempts a on a.delivery_id = d.id
      group by d.id, d.attempts having d.attempts <> count(a.id)`;
    expect(mismatched).toHaveLength(0);
    const [recorded] = await sql<{ n: number }[]>`select count(*)::int as n from attempts`;
    expect(recorded?.n).toBe(target.requests.length);
    const atStop = await statusCounts(sql);
    expect(atStop.succeeded).toBe(target.requests.length);
    expect(atStop.succeeded).toBeLessThan(TOTAL);

    await herald.addWorker();
    const counts = await eventually(allDeliveries(sql, "succeeded", TOTAL), { timeoutMs: 120_000, what: "every delivery to succeed" });
    expect(counts).toEqual({ succeeded: TOTAL });
    expect(duplicates(target)).toBe(0);
    console.log(`SIGTERM with ${inFlight} requests in flight: exit 0, ${atStop.succeeded} recorded at exit, none half-recorded`);
  }, 240_000);
});
