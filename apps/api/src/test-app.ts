import { apiConfigSchema, parseConfig } from "@herald/config";
import { createDeliveryClient } from "@herald/delivery";
import { createTestDatabase, deletePrefix, freshQueuePrefix, TEST_ADMIN_TOKEN, TEST_REDIS_URL } from "@herald/testing";
import { type Logger, pino } from "pino";
import { expect } from "vitest";
import { createApp } from "./app.ts";
import { openConnections } from "./connections.ts";

/**
 * The real app on a fresh database and queue prefix, called in-process with
 * `app.request`: everything but the socket is what production runs.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  { databaseUrl, logger: given }: { databaseUrl?: (url: string) => string; logger?: Logger } = {},
) {
  const database = await createTestDatabase();
  const prefix = freshQueuePrefix();
  const config = parseConfig(apiConfigSchema, {
    // A test may reach the database through something of its own (a proxy it can cut).
    DATABASE_URL: databaseUrl ? databaseUrl(database.url) : database.url,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_QUEUE_PREFIX: prefix,
    HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HERALD_ALLOW_PRIVATE_TARGETS: "true",
    ...env,
  });
  const logger = given ?? pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const connections = await openConnections(config, logger, { max: 4 });
  const { db, sql, redis, queue, queues } = connections;
  const deliveryClient = createDeliveryClient({
    timeoutMs: 5000,
    connectTimeoutMs: 2000,
    allowPrivateTargets: config.HERALD_ALLOW_PRIVATE_TARGETS,
  });
  const app = createApp({ config, db, sql, redis, queues, logger, deliveryClient });

  async function call(
    method: string,
    path: string,
    options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
  ) {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? TEST_ADMIN_TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    const response = await app.request(path, { method, headers, body });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = text;
    }
    // biome-ignore lint/suspicious/noExplicitAny: tests read answers loosely and assert on them.
    return { status: response.status, headers: response.headers, body: json as any };
  }

  return {
    app,
    call,
    /** The test database itself, not through whatever `databaseUrl` put in front of it. */
    databaseUrl: database.url,
    sql,
    queue,
    queues,
    redis,
    prefix,
    async close() {
      await deliveryClient.close();
      await connections.close();
      // A private Redis of the test dies with it; the shared one keeps no keys of this app.
      if (config.REDIS_URL === TEST_REDIS_URL) await deletePrefix(prefix);
      await database.drop();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof createTestApp>>;

/** Asserts an RFC 9457 answer: status, problem content type, stable code, a detail and a request id. */
export function expectProblem(response: { status: number; headers: Headers; body: Record<string, unknown> }, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toContain("application/problem+json");
  expect(response.body).toMatchObject({ status, code });
  expect(typeof response.body.detail).toBe("string");
  expect(response.headers.get("x-request-id")).toBeTruthy();
}
