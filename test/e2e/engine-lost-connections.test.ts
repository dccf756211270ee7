import { eventually, type Herald, type Receiver, startHerald, startReceiver } from "@herald/testing";
import { afterEach, describe, expect, it } from "vitest";
import { allDeliveries, createEndpoint, createTenant, type Db, database, publishMany } from "./engine-support.ts";

/**
 * A worker whose PostgreSQL connections are terminated under load (a failover,
 * an operator's pg_terminate_backend) keeps running and delivers everything.
 * This once crashed a worker with an uncaught TypeError from inside postgres.js
 * and failed jobs with "Iterator value undefined is not an entry object".
 */

const ENDPOINTS = 5;
const EVENTS = 100;
const TOTAL = ENDPOINTS * EVENTS;
const CUTS = 8;

let herald: Herald | undefined;
let sql: Db | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await receiver?.close();
  await sql?.end();
  await herald?.stop();
  herald = undefined;
  sql = undefined;
  receiver = undefined;
});

describe("lost PostgreSQL connections", () => {
  it("a worker survives repeated pg_terminate_backend mid-run and every delivery succeeds", async () => {
    herald = await startHerald({
      workers: 1,
      env: { HERALD_DELIVERY_TIMEOUT: "2s", HERALD_RECONCILE_INTERVAL: "1s", HERALD_RECONCILE_GRACE: "3s" },
    });
    sql = database(herald);
    const target = await startReceiver((_request, _index, res) => {
      setTimeout(() => {
        res.writeHead(200);
        res.end("ok");
      }, 5);
    });
    receiver = target;
    const tenantId = await createTenant(herald, "cuts");
    for (let i = 0; i < ENDPOINTS; i++) await createEndpoint(herald, tenantId, `${target.url}/e${i}`);
    await publishMany(herald, tenantId, EVENTS);

    // Only this test's worker: its own database, the worker's application name.
    const name = herald.database.name;
    let terminated = 0;
    for (let cut = 1; cut <= CUTS; cut++) {
      // Each cut waits for deliveries to be flowing again, so it lands on a working worker.
      await target.waitForRequests(Math.min(TOTAL, (cut * TOTAL) / (CUTS + 2)), 60_000);
      const rows = await sql`
        select pg_terminate_backend(pid) from pg_stat_activity where datname = ${name} and application_name = 'herald-worker'`;
      terminated += rows.length;
    }
    expect(terminated).toBeGreaterThan(0);

    const counts = await eventually(allDeliveries(sql, "succeeded", TOTAL), { timeoutMs: 120_000, what: "every delivery to succeed" });
    expect(counts).toEqual({ succeeded: TOTAL });
    const worker = herald.workers[0];
    expect(worker?.child.exitCode).toBeNull();
    // Nothing uncaught (pino level 60) and no job failed as unexpected.
    expect(worker?.output()).not.toMatch(/"level":60|failed unexpectedly/);
    console.log(`lost connections: ${terminated} worker connections terminated over ${CUTS} cuts, ${TOTAL} deliveries succeeded`);
  }, 240_000);
});
