/**
 * Measures isolation by hand: healthy deliveries per second with and without
 * a black-hole endpoint (accepts the connection, never answers) saturated by
 * thousands of deliveries, in the same run of a real API and worker.
 *
 *   node --import tsx apps/worker/scripts/isolation-probe.ts [blackHoleEvents=3000] [healthyEvents=20]
 *
 * Each healthy event fans out to 100 endpoints on one loopback receiver. The
 * work is queued while no worker runs, then one worker starts: without the
 * black hole it finds only healthy jobs; with it, the healthy jobs wait behind
 * every black-hole job in the queue, the worst case for isolation.
 */
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { type Herald, type Receiver, startHerald, startReceiver } from "@herald/testing";

const blackHoleEvents = Number(process.argv[2] ?? 3000);
const healthyEvents = Number(process.argv[3] ?? 50);
const HEALTHY_ENDPOINTS = 100;
const TIMEOUT = "5s";

async function call(herald: Herald, method: string, path: string, body?: unknown) {
  const answer = await herald.request(method, path, body);
  if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function publishMany(herald: Herald, tenant: string, count: number, parallel = 32) {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next++ < count) await call(herald, "POST", `/v1/tenants/${tenant}/events`, { eventType: "order.created", payload: {} });
    }),
  );
}

/** Queues the healthy batch (after `before`), starts a worker, answers healthy deliveries per second as the receiver saw them. */
async function healthyRate(
  herald: Herald,
  receiver: Receiver,
  before: () => Promise<void>,
): Promise<{ perSecond: number; ms: number; firstAfterMs: number }> {
  const from = receiver.requests.length;
  const expected = healthyEvents * HEALTHY_ENDPOINTS;
  await before();
  await publishMany(herald, "healthy", healthyEvents);
  const worker = await herald.addWorker();
  const startedAt = Date.now();
  const all = await receiver.waitForRequests(from + expected, 600_000);
  const metricsUrl = worker.output().match(/metrics on (http:\/\/\S+)/)?.[1];
  if (metricsUrl) {
    const text = await (await fetch(metricsUrl)).text();
    const delayed = [...text.matchAll(/herald_deliveries_delayed_total\{reason="(\w+)"\} (\d+)/g)].map((m) => `${m[1]}=${m[2]}`);
    console.log(`  jobs put back by the worker meanwhile: ${delayed.join(", ") || "none"}`);
  }
  await worker.stop();
  const batch = all.slice(from);
  const first = Math.min(...batch.map((r) => r.receivedAt));
  const last = Math.max(...batch.map((r) => r.receivedAt));
  const ms = Math.max(1, last - first);
  return { perSecond: Math.round((expected * 1000) / ms), ms, firstAfterMs: first - startedAt };
}

const herald = await startHerald({ workers: 0, env: { HERALD_DELIVERY_TIMEOUT: TIMEOUT, HERALD_METRICS_PORT: "0" } });
const receiver = await startReceiver();
const held: Socket[] = [];
let waiting = 0;
let peak = 0;
let received = 0;
/** Counts requests waiting for an answer, not sockets: the client may also open idle ones. */
const blackHole = createServer((socket) => {
  held.push(socket);
  socket.on("error", () => {});
  socket.once("data", () => {
    received++;
    waiting++;
    peak = Math.max(peak, waiting);
    socket.once("close", () => waiting--);
  });
});
blackHole.listen(0, "127.0.0.1");
await once(blackHole, "listening");
const holePort = (blackHole.address() as { port: number }).port;

try {
  await call(herald, "POST", "/v1/event-types", { name: "order.created", description: "an order was placed" });
  await call(herald, "POST", "/v1/tenants", { name: "healthy", uid: "healthy" });
  await call(herald, "POST", "/v1/tenants", { name: "hole", uid: "hole" });
  for (let i = 0; i < HEALTHY_ENDPOINTS; i++) {
    await call(herald, "POST", "/v1/tenants/healthy/endpoints", { name: `h${i}`, url: `${receiver.url}/h${i}` });
  }
  await call(herald, "POST", "/v1/tenants/hole/endpoints", { name: "hole", url: `http://127.0.0.1:${holePort}/hole` });

  const without = await healthyRate(herald, receiver, async () => {});
  console.log(
    `without black hole: ${without.perSecond} healthy deliveries/s (${healthyEvents * HEALTHY_ENDPOINTS} in ${without.ms} ms; first ${without.firstAfterMs} ms after the worker started)`,
  );

  const withHole = await healthyRate(herald, receiver, () => publishMany(herald, "hole", blackHoleEvents));
  console.log(
    `with black hole:    ${withHole.perSecond} healthy deliveries/s (${healthyEvents * HEALTHY_ENDPOINTS} in ${withHole.ms} ms; first ${withHole.firstAfterMs} ms after the worker started, behind ${blackHoleEvents} black-hole jobs)`,
  );
  console.log(`isolation ratio:    ${(withHole.perSecond / without.perSecond).toFixed(2)}`);
  console.log(`black hole: ${received} requests, at most ${peak} waiting at once (${TIMEOUT} deadline)`);
} finally {
  for (const socket of held) socket.destroy();
  blackHole.close();
  await receiver.close();
  await herald.stop();
}
