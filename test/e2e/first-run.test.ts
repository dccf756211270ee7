import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stripVTControlCharacters } from "node:util";
import { freePort, type Receiver, startReceiver } from "@herald/testing";
import postgres from "postgres";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_STARTED, type OperatorCommand, OperatorCommands, portIsFree, WORKER_STARTED, waitUntilGone } from "./process-support.ts";

/**
 * The quick start on a machine with only Node.js and a redis-server binary:
 * `npm start` runs an embedded PostgreSQL and a private redis-server (forced
 * with HERALD_EMBEDDED=true, since this machine has both on their default
 * ports), the README's walk-through delivers a signed webhook, the data
 * survives a restart, and stopping leaves nothing running.
 */

const ADMIN = { authorization: "Bearer herald-dev-admin-token", "content-type": "application/json" };
const EMBEDDED_POSTGRES = /PostgreSQL \S+, embedded: 127\.0\.0\.1:(\d+), data in (\S+)/;
const PRIVATE_REDIS = /Redis \S+, private redis-server: 127\.0\.0\.1:(\d+), data in (\S+)/;

let home: string;
let dataDir: string;
let receiver: Receiver;
/** Every command run and process a start has had: a broken stop orphans processes that no tree below npm shows any more. */
const operator = new OperatorCommands();

beforeAll(async () => {
  // Another data directory than the checkout's .herald, readable by `nobody` (whom root runs PostgreSQL as), like a checkout.
  home = mkdtempSync(join(tmpdir(), "herald-first-run-"));
  chmodSync(home, 0o755);
  dataDir = join(home, ".herald");
  receiver = await startReceiver();
});

afterAll(async () => {
  // Whatever a failed test left running is killed, so it leaks no process.
  operator.killLeftovers();
  await receiver?.close();
  rmSync(home, { recursive: true, force: true });
});

async function start(): Promise<{ command: OperatorCommand; baseUrl: string; postgresPort: number }> {
  const port = await freePort();
  const command = operator.run(["start"], { HERALD_EMBEDDED: "true", HERALD_DATA_DIR: dataDir, PORT: String(port) });
  const [api] = await Promise.all([command.waitFor(API_STARTED), command.waitFor(WORKER_STARTED)]);
  const postgresLine = command.output().match(EMBEDDED_POSTGRES);
  const redisLine = command.output().match(PRIVATE_REDIS);
  // The start-up lines say where the data is and how to start again from nothing.
  expect(postgresLine?.[2], command.output()).toBe(join(dataDir, "postgres"));
  expect(redisLine?.[2], command.output()).toBe(join(dataDir, "redis"));
  expect(command.output()).toContain(`rm -rf ${dataDir}`);
  // Not the machine's PostgreSQL and Redis on their default ports.
  expect(Number(postgresLine?.[1])).not.toBe(5432);
  expect(Number(redisLine?.[1])).not.toBe(6379);
  operator.tree(command);
  return { command, baseUrl: api[1] as string, postgresPort: Number(postgresLine?.[1]) };
}

/** Signals npm and waits until every process it had (apps, PostgreSQL and its backends, redis-server) has exited. */
async function stop(command: OperatorCommand, signal: NodeJS.Signals, baseUrl: string): Promise<void> {
  const tree = operator.tree(command);
  // The check below means something only if the servers were in the tree.
  expect(tree.some((entry) => entry.command.includes("/native/bin/postgres -D"))).toBe(true);
  expect(tree.some((entry) => entry.command.startsWith("redis-server") || entry.command.includes("/redis-server "))).toBe(true);
  process.kill(command.pid, signal);
  expect(await command.exited, command.output()).toBe(0);
  const running = await waitUntilGone(tree);
  expect(running.map((entry) => `${entry.pid} ${entry.command}`)).toEqual([]);
  expect(await portIsFree(Number(new URL(baseUrl).port))).toBe(true);
}

async function call<T>(baseUrl: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(baseUrl + path, { method: body === undefined ? "GET" : "POST", headers: ADMIN, body: JSON.stringify(body) });
  const answer = await response.json();
  expect(response.status, `${path}: ${JSON.stringify(answer)}`).toBeLessThan(300);
  return answer as T;
}

describe("npm start with HERALD_EMBEDDED=true", { timeout: 180_000 }, () => {
  let eventId: string;

  it("runs Herald on its own PostgreSQL and Redis, and the README's walk-through delivers a signed webhook", async () => {
    const { command, baseUrl, postgresPort } = await start();
    expect(command.output()).toContain("created database herald");

    // The README's walk-through, step by step.
    await call(baseUrl, "/v1/tenants", { name: "Acme Inc.", uid: "acme" });
    await call(baseUrl, "/v1/event-types", {
      name: "payment.received",
      description: "A payment arrived",
      example: { amount: 4200, currency: "EUR" },
    });
    const endpoint = await call<{ id: string }>(baseUrl, "/v1/tenants/acme/endpoints", {
      name: "Billing",
      url: `${receiver.url}/webhooks`,
      eventTypes: ["payment.*"],
    });
    const event = await call<{ id: string; deliveries: number }>(baseUrl, "/v1/tenants/acme/events", {
      eventType: "payment.received",
      payload: { amount: 4200, currency: "EUR" },
    });
    expect(event.deliveries).toBe(1);
    eventId = event.id;

    const request = await receiver.waitFor(event.id, { timeoutMs: 60_000 });
    const { secret } = await call<{ secret: string }>(baseUrl, `/v1/tenants/acme/endpoints/${endpoint.id}/secret`);
    const verified = new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    expect(verified).toMatchObject({ type: "payment.received", data: { amount: 4200, currency: "EUR" } });
    expect(request.path).toBe("/webhooks");

    // The event is in the embedded PostgreSQL, not in the machine's.
    const sql = postgres(`postgres://postgres@127.0.0.1:${postgresPort}/herald`, { max: 1, onnotice: () => {} });
    try {
      expect(await sql`select id from events where id = ${event.id}`).toHaveLength(1);
    } finally {
      await sql.end({ timeout: 1 });
    }

    await stop(command, "SIGTERM", baseUrl);
  });

  it("keeps its data across a restart, and a Ctrl-C (SIGINT) stops everything again", async () => {
    expect(eventId).toBeDefined();
    const { command, baseUrl } = await start();
    expect(command.output()).not.toContain("created database");
    const event = await call<{ id: string; deliveries: { status: string }[] }>(baseUrl, `/v1/tenants/acme/events/${eventId}`);
    expect(event.deliveries.map((delivery) => delivery.status)).toEqual(["succeeded"]);
    await stop(command, "SIGINT", baseUrl);
  });
});

describe("npm test with HERALD_EMBEDDED=true", { timeout: 180_000 }, () => {
  it("starts an embedded PostgreSQL and a private redis-server for the run, hands them to the tests, and stops them", async () => {
    // One small workspace's tests that use TEST_DATABASE_URL: enough to see the URLs reach a test through turbo.
    // --ignore-scripts skips only the pretest step (which installs Chromium for the browser tests), not the test script.
    const command = operator.run(["test", "--ignore-scripts", "--", "--filter=@herald/schema", "--only", "--", "src/client.test.ts"], {
      HERALD_EMBEDDED: "true",
    });
    await command.waitFor(/tests use a private redis-server/);
    const tree = operator.tree(command);
    expect(tree.some((entry) => entry.command.includes("/native/bin/postgres -D"))).toBe(true);
    expect(tree.some((entry) => entry.command.includes("redis-server"))).toBe(true);
    expect(await command.exited, command.output()).toBe(0);
    expect(command.output()).toMatch(/tests use an embedded PostgreSQL \S+ at 127\.0\.0\.1:\d+, for this run only/);
    expect(stripVTControlCharacters(command.output())).toMatch(/Test Files\s+1 passed/);
    const running = await waitUntilGone(tree);
    expect(running.map((entry) => `${entry.pid} ${entry.command}`)).toEqual([]);
  });
});
