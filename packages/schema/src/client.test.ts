import { randomBytes } from "node:crypto";
import { sql as raw } from "drizzle-orm";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase, createSql, type Sql } from "./client.ts";

// No tables needed: these tests only talk to the server, so the machine's test database will do.
const URL = process.env.TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const opened: Sql[] = [];
const killer = postgres(URL, { max: 1, onnotice: () => {} });
afterAll(async () => {
  await Promise.all(opened.map((sql) => sql.end({ timeout: 1 })));
  await killer.end({ timeout: 1 });
});

/** A pool of our own, named so that only its connections are terminated. */
function pool(max = 1, options: Parameters<typeof createSql>[1] = {}) {
  const appName = `herald-client-test-${randomBytes(4).toString("hex")}`;
  const sql = createSql(URL, { max, appName, ...options });
  opened.push(sql);
  return { sql, appName };
}

async function terminate(appName: string): Promise<number> {
  const rows = await killer`select pg_terminate_backend(pid) from pg_stat_activity where application_name = ${appName}`;
  return rows.length;
}

/** Waits until the pool answers a query again (it reconnects after a termination). */
async function answering(sql: Sql): Promise<void> {
  for (;;) {
    if (
      await sql`select 1`.then(
        () => true,
        () => false,
      )
    )
      return;
  }
}

/** Waits until one of the pool's backends is doing `waitEvent` (e.g. sleeping inside a statement). */
async function backendWaiting(appName: string, waitEvent: string): Promise<void> {
  for (;;) {
    const [row] = await killer`
      select 1 from pg_stat_activity where application_name = ${appName} and wait_event = ${waitEvent}`;
    if (row) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("timestamps are Dates from every client", () => {
  it("raw queries on the drizzle client, raw queries on the plain client and drizzle selects agree", async () => {
    const at = new Date("2026-11-30T12:00:05.123Z");
    const { sql, db } = createDatabase(URL, { max: 1 });
    opened.push(sql);
    const plain = pool().sql;

    const [fromShared] = await sql`select ${at}::timestamptz as tz, ${at}::timestamptz::timestamp as ts, array[${at}::timestamptz] as list`;
    const [fromPlain] =
      await plain`select ${at}::timestamptz as tz, ${at}::timestamptz::timestamp as ts, array[${at}::timestamptz] as list`;
    for (const row of [fromShared, fromPlain]) {
      expect(row?.tz).toBeInstanceOf(Date);
      expect(row?.tz).toEqual(at);
      expect(row?.ts).toBeInstanceOf(Date);
      expect(row?.list).toEqual([at]);
    }

    const result = await db.execute<{ tz: Date }>(raw`select ${at.toISOString()}::timestamptz as tz`);
    expect(result[0]?.tz).toBeInstanceOf(Date);
    expect(result[0]?.tz.toISOString()).toBe(at.toISOString());
  });
});

describe("postgres.js survives lost connections", () => {
  it("a query after one that failed mid-result gets its own rows and no holes", async () => {
    const { sql } = pool();
    // Rows 1 to 3 reach the client before row 4 divides by zero: the way a statement timeout looks too.
    await expect(sql`select i, 1 / (4 - i) as boom from generate_series(1, 10) i`).rejects.toMatchObject({ code: "22012" });
    const rows = await sql`select 1 as one`;
    expect(rows).toHaveLength(1);
    expect([...rows]).toEqual([{ one: 1 }]);
  });

  it("a query after one whose connection was terminated mid-result gets its own rows and no holes", async () => {
    const { sql, appName } = pool();
    // About 50 kB of rows reach the client before the backend sleeps; then its connection is terminated.
    const streaming = sql`
      select i, repeat('x', 1000) as pad, case when i = 50 then pg_sleep(30) end as nap from generate_series(1, 60) i`;
    const failed = expect(streaming).rejects.toThrow();
    await backendWaiting(appName, "PgSleep");
    expect(await terminate(appName)).toBe(1);
    await failed;

    const rows = await sql`select generate_series(1, 3) as n`;
    expect(rows).toHaveLength(3);
    expect([...rows]).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it("a transaction whose connection is terminated fails, and the pool goes on", async () => {
    // Before the fix this threw "Cannot read properties of null (reading 'write')" from a timer (the
    // rollback was written to the dead socket), and the next connection never started.
    const { sql, appName } = pool();
    const transaction = sql.begin(async (tx) => {
      await tx`select 1`;
      await tx`select pg_sleep(30)`;
      await tx`select 2`;
    });
    const failed = expect(transaction).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    await backendWaiting(appName, "PgSleep");
    expect(await terminate(appName)).toBe(1);
    await failed;

    const rows = await sql`select 1 as one`;
    expect([...rows]).toEqual([{ one: 1 }]);
  });

  it("pooled queries under repeated terminations either succeed with their own rows or fail with a connection error", async () => {
    const { sql, appName } = pool(4);
    const ids = Array.from({ length: 40 }, (_, i) => `k${i}`);
    const outcomes = { ok: 0, failed: 0 };
    const unexpected: unknown[] = [];
    let running = true;
    const loops = Array.from({ length: 8 }, async () => {
      while (running) {
        const wanted = ids.slice(0, 1 + Math.floor(Math.random() * ids.length));
        try {
          const rows = await sql<{ id: string }[]>`select id from unnest(${ids}::text[]) as t(id) where id = any(${wanted}::text[])`;
          // A sparse result (holes before the rows) is what broke the worker's BatchLoader.
          const found = new Map(rows.map((row) => [row.id, row]));
          if (rows.length !== wanted.length || found.size !== wanted.length) unexpected.push(`${rows.length} rows for ${wanted.length}`);
          outcomes.ok++;
        } catch (error) {
          const code = (error as { code?: string }).code ?? "";
          if (/^(CONNECTION_CLOSED|CONNECTION_DESTROYED|ECONNRESET|EPIPE|57P01)$/.test(code)) outcomes.failed++;
          else unexpected.push(error);
        }
      }
    });
    for (let round = 0; round < 15; round++) {
      // Each round waits for a query to succeed again, so every round cuts live connections.
      await answering(sql);
      await terminate(appName);
    }
    running = false;
    await Promise.all(loops);
    expect(unexpected).toEqual([]);
    expect(outcomes.ok).toBeGreaterThan(0);
    expect(outcomes.failed).toBeGreaterThan(0);
  });
});

describe("a database that went away", () => {
  it("fails a query within the connect timeout when nothing answers, instead of waiting for it", async () => {
    // A port nobody listens on: refused at once. The backoff keeps later queries from waiting seconds for a retry.
    const sql = createSql("postgres://postgres@127.0.0.1:1/test", { max: 2 });
    opened.push(sql);
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      await expect(sql`select 1`).rejects.toMatchObject({ code: "ECONNREFUSED" });
      // The bound for a publish is about 2 s; a single query must be well inside it.
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  });

  it("ends a statement that runs past the statement timeout", async () => {
    const { sql } = pool(1, { statementTimeoutMs: 200 });
    await expect(sql`select pg_sleep(5)`).rejects.toMatchObject({ code: "57014" });
    expect([...(await sql`select 1 as one`)]).toEqual([{ one: 1 }]);
  });
});
