import type { ServerResponse } from "node:http";
import {
  createTestDatabase,
  deletePrefix,
  freshQueuePrefix,
  type Herald,
  heraldEnv,
  type Receiver,
  startHerald,
  startReceiver,
  TEST_ADMIN_TOKEN,
  type TestDatabase,
} from "@herald/testing";
import postgres from "postgres";
import { afterEach, describe, expect, it } from "vitest";
import { API_STARTED, type OperatorCommand, OperatorCommands, portIsFree, WORKER_STARTED, waitUntilGone } from "./process-support.ts";

/**
 * An operator stops Herald by signalling the process they started: `npm`.
 * The signal must reach Node through whatever npm runs, run the graceful
 * shutdown, and leave nothing behind: no orphan holding the port, no
 * delivery lost mid-request.
 */

const cleanups: (() => Promise<void> | void)[] = [];
/** The test's npm command and every process tree it has seen: a broken signal chain orphans processes that no tree below npm shows any more. */
const operator = new OperatorCommands();
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freshEnv(): Promise<{ env: Record<string, string>; database: TestDatabase }> {
  const database = await createTestDatabase();
  const queuePrefix = freshQueuePrefix();
  cleanups.push(async () => {
    await deletePrefix(queuePrefix);
    await database.drop();
  });
  return { env: heraldEnv(database, queuePrefix), database };
}

function run(args: string[], env: Record<string, string>, options: { ownGroup?: boolean } = {}): OperatorCommand {
  const command = operator.run(args, env, options);
  // Whatever a failing test leaves running is killed, so it leaks no process.
  cleanups.push(() => operator.killLeftovers());
  return command;
}

/** Signals the npm process and waits until every process of its tree, as it was just before, has exited. */
async function signalAndWait(
  command: OperatorCommand,
  { signal, app, apps = 1, group = false }: { signal: NodeJS.Signals; app: "api" | "worker"; apps?: number; group?: boolean },
  whileStopping = () => {},
) {
  const tree = operator.tree(command);
  // The tree really holds the apps (node running a bundle): a check of npm's pid alone would pass with them orphaned.
  expect(tree.filter((entry) => /^\S*node \S*dist\/main\.mjs$/.test(entry.command))).toHaveLength(apps);
  // To npm alone (kill <pid>), or to its whole process group as a terminal's Ctrl-C does: then every
  // process of the tree gets the signal at once, Node directly and once more through npm.
  process.kill(group ? -command.pid : command.pid, signal);
  // The app's own log line: the signal reached Node and its graceful shutdown began.
  await command.waitFor(new RegExp(`"name":"herald-${app}"[^\\n]*"signal":"${signal}"[^\\n]*"msg":"shutting down"`), 30_000);
  whileStopping();
  const running = await waitUntilGone(tree);
  expect(running.map((entry) => `${entry.pid} ${entry.command}`)).toEqual([]);
  expect(await command.exited, command.output()).toBe(0);
}

async function adminRequest(baseUrl: string, method: string, path: string, body?: unknown) {
  const response = await fetch(baseUrl + path, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as { id: string };
  expect(response.status, JSON.stringify(answer)).toBeLessThan(300);
  return answer;
}

/**
 * Publishes one event to a receiver that holds the request open: resolves
 * once the request is in flight, with a way to answer it.
 */
async function deliveryInFlight(baseUrl: string): Promise<{ eventId: string; receiver: Receiver; answer(): void }> {
  const held: ServerResponse[] = [];
  const receiver = await startReceiver((_request, _index, res) => {
    held.push(res);
  });
  cleanups.push(() => receiver.close());
  const tenant = await adminRequest(baseUrl, "POST", "/v1/tenants", { name: "Acme", uid: "acme" });
  await adminRequest(baseUrl, "POST", "/v1/event-types", { name: "order.created", description: "an order was placed" });
  await adminRequest(baseUrl, "POST", `/v1/tenants/${tenant.id}/endpoints`, { name: "slow", url: `${receiver.url}/slow` });
  const event = await adminRequest(baseUrl, "POST", `/v1/tenants/${tenant.id}/events`, { eventType: "order.created", payload: { n: 1 } });
  const [request] = await receiver.waitForRequests(1);
  expect(request?.headers["webhook-id"]).toBe(event.id);
  return {
    eventId: event.id,
    receiver,
    answer() {
      for (const res of held) res.writeHead(200).end("ok");
    },
  };
}

async function recordedAttempts(database: TestDatabase, eventId: string) {
  const sql = postgres(database.url, { max: 1, onnotice: () => {} });
  try {
    return await sql`
      select a.status_code, d.status from attempts a join deliveries d on d.id = a.delivery_id where d.event_id = ${eventId}`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe("a signal to the npm process an operator started stops everything gracefully", { timeout: 180_000 }, () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`npm start, ${signal}: the API and the worker exit, the port is free, the in-flight delivery is recorded`, async () => {
      const { env, database } = await freshEnv();
      const command = run(["start"], env);
      const [api] = await Promise.all([command.waitFor(API_STARTED), command.waitFor(WORKER_STARTED)]);
      const baseUrl = api[1] as string;
      const inFlight = await deliveryInFlight(baseUrl);

      await signalAndWait(command, { signal, app: "worker", apps: 2 }, inFlight.answer);

      expect(await portIsFree(Number(new URL(baseUrl).port))).toBe(true);
      expect(command.output()).toMatch(new RegExp(`"name":"herald-api"[^\\n]*"signal":"${signal}"[^\\n]*"msg":"shutting down"`));
      expect(await recordedAttempts(database, inFlight.eventId)).toEqual([{ status_code: 200, status: "succeeded" }]);
    });

    it(`npm run start:api, ${signal}: the API exits and the port is free`, async () => {
      const { env } = await freshEnv();
      const command = run(["run", "start:api"], env);
      const baseUrl = (await command.waitFor(API_STARTED))[1] as string;
      const port = Number(new URL(baseUrl).port);
      expect(await portIsFree(port)).toBe(false);

      await signalAndWait(command, { signal, app: "api" });

      expect(await portIsFree(port)).toBe(true);
    });

    it(`npm run start:worker, ${signal}: the worker exits once the in-flight delivery is recorded`, async () => {
      // The API that publishes runs from the harness; only the worker runs through npm.
      const herald: Herald = await startHerald({ workers: 0 });
      cleanups.push(() => herald.stop());
      const command = run(["run", "start:worker"], herald.env);
      await command.waitFor(WORKER_STARTED);
      const inFlight = await deliveryInFlight(herald.baseUrl);

      await signalAndWait(command, { signal, app: "worker" }, inFlight.answer);

      expect(await recordedAttempts(herald.database, inFlight.eventId)).toEqual([{ status_code: 200, status: "succeeded" }]);
    });
  }

  it("npm start, Ctrl-C (SIGINT to the whole process group): everything exits once, the in-flight delivery is recorded", async () => {
    const { env, database } = await freshEnv();
    const command = run(["start"], env, { ownGroup: true });
    const [api] = await Promise.all([command.waitFor(API_STARTED), command.waitFor(WORKER_STARTED)]);
    const baseUrl = api[1] as string;
    const inFlight = await deliveryInFlight(baseUrl);

    await signalAndWait(command, { signal: "SIGINT", app: "worker", apps: 2, group: true }, inFlight.answer);

    expect(await portIsFree(Number(new URL(baseUrl).port))).toBe(true);
    // Each app got SIGINT twice (from the terminal's group signal and from its parent) and shut down once.
    for (const name of ["herald-api", "herald-worker"]) {
      expect(command.output().match(new RegExp(`"name":"${name}"[^\\n]*"msg":"shutting down"`, "g")), name).toHaveLength(1);
    }
    expect(await recordedAttempts(database, inFlight.eventId)).toEqual([{ status_code: 200, status: "succeeded" }]);
  });
});
