import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import { eventually, type Herald, type Receiver, startHerald, startReceiver } from "@herald/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEndpoint, createTenant, type Db, database, publishMany } from "./engine-support.ts";

/**
 * A black-hole endpoint (accepts the connection, never answers) with
 * thousands of deliveries queued must not starve healthy endpoints. The
 * throughput figure comes from apps/worker/scripts/isolation-probe.ts; this
 * test proves the function: every healthy delivery completes while the black
 * hole is still saturated, and the black hole never holds more than its cap.
 */

const BLACK_HOLE_EVENTS = 1500;
const HEALTHY_ENDPOINTS = 20;
const HEALTHY_EVENTS = 50;
const CAP = 10;

let herald: Herald;
let sql: Db;
let healthy: Receiver;
let blackHole: Server;
const held: Socket[] = [];
let waiting = 0;
let peak = 0;
let blackHoleRequests = 0;

beforeAll(async () => {
  herald = await startHerald({ env: { HERALD_DELIVERY_TIMEOUT: "3s", HERALD_ENDPOINT_CONCURRENCY: String(CAP) } });
  sql = database(herald);
  healthy = await startReceiver();
  blackHole = createServer((socket) => {
    held.push(socket);
    socket.on("error", () => {});
    socket.once("data", () => {
      blackHoleRequests++;
      waiting++;
      peak = Math.max(peak, waiting);
      socket.once("close", () => waiting--);
    });
  });
  blackHole.listen(0, "127.0.0.1");
  await once(blackHole, "listening");
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  blackHole?.close();
  await healthy?.close();
  await sql?.end();
  await herald?.stop();
});

describe("isolation", () => {
  it("healthy endpoints get every delivery while a black hole with thousands queued is saturated", async () => {
    const holeTenant = await createTenant(herald, "hole");
    const holeId = await createEndpoint(herald, holeTenant, `http://127.0.0.1:${(blackHole.address() as { port: number }).port}/hole`);
    await publishMany(herald, holeTenant, BLACK_HOLE_EVENTS, 32);

    const healthyTenant = await createTenant(herald, "healthy");
    for (let i = 0; i < HEALTHY_ENDPOINTS; i++) await createEndpoint(herald, healthyTenant, `${healthy.url}/h${i}`);
    await publishMany(herald, healthyTenant, HEALTHY_EVENTS);

    const total = HEALTHY_ENDPOINTS * HEALTHY_EVENTS;
    await eventually(
      async () => {
        const [row] = await sql<{ n: number }[]>`
          select count(*)::int as n from deliveries where tenant_id = ${healthyTenant} and status = 'succeeded'`;
        return row?.n === total;
      },
      { timeoutMs: 90_000, what: `${total} healthy deliveries to succeed` },
    );
    const [hole] = await sql<{ unfinished: number }[]>`
      select count(*) filter (where status in ('pending', 'failed'))::int as unfinished from deliveries where endpoint_id = ${holeId}`;

    expect(healthy.requests).toHaveLength(total);
    // The black hole is still saturated: nearly all its deliveries wait, delayed rather than failed.
    expect(hole?.unfinished).toBeGreaterThan(BLACK_HOLE_EVENTS - 100);
    expect(blackHoleRequests).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(CAP);
  }, 180_000);
});
