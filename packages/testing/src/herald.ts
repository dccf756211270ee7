import { createTestDatabase, type TestDatabase } from "./database.ts";
import { type HeraldProcess, startProcess } from "./processes.ts";
import { deletePrefix, freshQueuePrefix, TEST_REDIS_URL } from "./redis.ts";

export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789";

/**
 * The environment of a Herald process under test: its own database and queue
 * prefix on the shared test Redis, the test admin token, loopback receivers
 * allowed, and a port the kernel picks.
 */
export function heraldEnv(database: TestDatabase, queuePrefix: string): Record<string, string> {
  return {
    DATABASE_URL: database.url,
    REDIS_URL: TEST_REDIS_URL,
    HERALD_QUEUE_PREFIX: queuePrefix,
    HERALD_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    HERALD_ALLOW_PRIVATE_TARGETS: "true",
    PORT: "0",
  };
}

export interface Herald {
  baseUrl: string;
  database: TestDatabase;
  queuePrefix: string;
  env: Record<string, string>;
  api: HeraldProcess;
  workers: HeraldProcess[];
  /** Starts one more worker process with the same configuration (plus overrides). */
  addWorker(extra?: Record<string, string>): Promise<HeraldProcess>;
  /** Calls the API as the admin; answers the status and the parsed JSON body. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read API answers loosely; the API validates its own output.
  request<T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T }>;
  stop(): Promise<void>;
}

/**
 * A whole Herald for one test file: a fresh database and queue prefix, the
 * real API and worker processes, loopback receivers allowed.
 */
export async function startHerald(options: { env?: Record<string, string>; workers?: number; built?: boolean } = {}): Promise<Herald> {
  const database = await createTestDatabase();
  const queuePrefix = freshQueuePrefix();
  const env: Record<string, string> = { ...heraldEnv(database, queuePrefix), ...options.env };
  const start = { built: options.built ?? false };
  // All at once, as operators start them: on a busy machine each process's start-up then overlaps the others'.
  const started = await Promise.allSettled([
    startProcess("api", env, start),
    ...Array.from({ length: options.workers ?? 1 }, () => startProcess("worker", env, start)),
  ]);
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await Promise.all(started.map((result) => (result.status === "fulfilled" ? result.value.stop() : undefined)));
    await deletePrefix(queuePrefix, env.REDIS_URL).catch(() => {});
    await database.drop();
    throw failed.reason;
  }
  const [api, ...workers] = started.map((result) => (result as PromiseFulfilledResult<HeraldProcess & { match: RegExpMatchArray }>).value);
  if (!api) throw new Error("the API process did not start");
  const baseUrl = api.match[1] as string;
  return {
    baseUrl,
    database,
    queuePrefix,
    env,
    api,
    workers,
    async addWorker(extra = {}) {
      const worker = await startProcess("worker", { ...env, ...extra }, start);
      workers.push(worker);
      return worker;
    },
    async request(method, path, body, headers = {}) {
      const response = await fetch(baseUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    async stop() {
      await Promise.all([api.stop(), ...workers.map((worker) => worker.stop())]);
      // The Redis these processes used, which a test may have pointed at a private server or cluster.
      await deletePrefix(queuePrefix, env.REDIS_URL);
      await database.drop();
    },
  };
}
