import { runMigrations } from "@herald/schema/migrate";
import { listPartitions } from "@herald/schema/partitions";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApp, type TestApp } from "./test-app.ts";

/**
 * The workers make each day's partitions days ahead. With no worker running
 * for longer than that, today has no partition: a publish must say so as a
 * 503 an operator can act on, not a 500, and `npm run db:migrate` makes them.
 */
let t: TestApp;

beforeAll(async () => {
  t = await createTestApp();
  await t.call("POST", "/v1/tenants", { body: { name: "Acme", uid: "acme" } });
  await t.call("POST", "/v1/event-types", { body: { name: "order.paid", description: "An order was paid" } });
  await t.call("POST", "/v1/tenants/acme/endpoints", {
    body: { name: "Orders", url: "https://example.com/hook", eventTypes: ["order.paid"] },
  });
});
afterAll(async () => {
  await t?.close();
});

describe("a day with no partition", () => {
  it("answers 503 naming the missing partition, and publishes again once migrations have made it", async () => {
    const now = new Date();
    const today = (await listPartitions(t.sql)).filter((p) => p.table === "events" && p.to > now && (p.from === null || p.from <= now));
    expect(today).toHaveLength(1);
    await t.sql.unsafe(`drop table "${today[0]?.name}"`);

    const refused = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "order.paid", payload: { n: 1 } } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(refused.body).toMatchObject({ code: "service_unavailable" });
    expect(refused.body.detail).toMatch(/no partition of events covers now/);
    expect(refused.body.detail).toMatch(/npm run db:migrate/);

    await runMigrations(t.databaseUrl);
    const published = await t.call("POST", "/v1/tenants/acme/events", { body: { eventType: "order.paid", payload: { n: 2 } } });
    expect(published.status).toBe(202);
  });
});
