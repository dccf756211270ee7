import { randomBytes } from "node:crypto";
import { createSql } from "@herald/schema/client";
import { TEST_ADMIN_URL } from "@herald/testing";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { BatchLoader, LoadFailedError } from "./batch-loader.ts";

// The queries need no tables, so the machine's test database will do.
const appName = `herald-loader-test-${randomBytes(4).toString("hex")}`;
const sql = createSql(TEST_ADMIN_URL, { max: 4, appName });
const killer = postgres(TEST_ADMIN_URL, { max: 1, onnotice: () => {} });
afterAll(async () => {
  await sql.end({ timeout: 1 });
  await killer.end({ timeout: 1 });
});

/** Waits until the pool answers a query again (it reconnects after a termination). */
async function answering(pool: typeof sql): Promise<void> {
  for (;;) {
    if (
      await pool`select 1`.then(
        () => true,
        () => false,
      )
    )
      return;
  }
}

/** Shaped like the worker's loaders: one query for the batch, a Map by id. */
function rowLoader() {
  return new BatchLoader<string, { id: string; n: number }>(async (ids) => {
    const rows = await sql<{ id: string; n: number }[]>`
      select id, length(id) as n from unnest(${ids}::text[]) as t(id) where id not like 'missing%'`;
    return new Map(rows.map((row) => [row.id, row]));
  });
}

describe("BatchLoader", () => {
  it("loads the keys of one turn with one query and answers each waiter", async () => {
    let calls = 0;
    const loader = new BatchLoader<string, number>(async (keys) => {
      calls++;
      return new Map(keys.map((key) => [key, key.length]));
    });
    expect(await Promise.all([loader.load("a"), loader.load("bb"), loader.load("a")])).toEqual([1, 2, 1]);
    expect(calls).toBe(1);
  });

  it("fails every waiter of a batch with a retryable error when the loader fails or returns garbage", async () => {
    const broken = [
      new BatchLoader<string, number>(async () => {
        throw Object.assign(new Error("write CONNECTION_CLOSED"), { code: "CONNECTION_CLOSED" });
      }),
      new BatchLoader<string, number>(() => {
        throw new TypeError("Iterator value undefined is not an entry object");
      }),
      new BatchLoader<string, number>(async () => undefined as unknown as Map<string, number>),
    ];
    for (const loader of broken) {
      const results = await Promise.allSettled([loader.load("a"), loader.load("b")]);
      for (const result of results) {
        expect(result.status).toBe("rejected");
        const reason = (result as PromiseRejectedResult).reason;
        // The worker puts a job that failed this way back without using an attempt and does not log it as unexpected.
        expect(reason).toBeInstanceOf(LoadFailedError);
        expect((reason as LoadFailedError).delayMs).toBeGreaterThanOrEqual(2_000);
        expect(reason.delayMs).toBeGreaterThan(0);
        expect(reason.cause).toBeInstanceOf(Error);
      }
    }
  });

  it("under repeated pg_terminate_backend, every load gets its own row or a retryable error", async () => {
    const loader = rowLoader();
    const ids = Array.from({ length: 60 }, (_, i) => `dlv_${i.toString().padStart(3, "0")}`);
    const outcomes = { loaded: 0, retryable: 0 };
    const wrong: unknown[] = [];
    let running = true;
    const jobs = Array.from({ length: 30 }, async (_, job) => {
      for (let round = 0; running; round++) {
        const id = ids[(job * 7 + round) % ids.length] as string;
        try {
          const [row, missing] = await Promise.all([loader.load(id), loader.load(`missing_${job}`)]);
          if (row?.id !== id || row.n !== id.length || missing !== undefined) wrong.push({ id, row, missing });
          else outcomes.loaded++;
        } catch (error) {
          if (error instanceof LoadFailedError) outcomes.retryable++;
          else wrong.push(error);
        }
      }
    });
    for (let cut = 0; cut < 12; cut++) {
      // Each cut waits for the pool to answer again, so it lands on live connections.
      await answering(sql);
      await killer`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${appName}`;
    }
    running = false;
    await Promise.all(jobs);
    expect(wrong).toEqual([]);
    expect(outcomes.loaded).toBeGreaterThan(0);
    expect(outcomes.retryable).toBeGreaterThan(0);
  });
});
