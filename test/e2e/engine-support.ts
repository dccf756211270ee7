import type { Herald } from "@herald/testing";
import postgres from "postgres";
import { expect } from "vitest";

/** What the engine tests share: a tenant, endpoints, bulk publishing and a look into PostgreSQL. */

export const EVENT_TYPE = "order.created";

export async function createTenant(herald: Herald, uid: string): Promise<string> {
  const tenant = await herald.request("POST", "/v1/tenants", { name: uid, uid });
  expect(tenant.status).toBe(201);
  const type = await herald.request("POST", "/v1/event-types", { name: EVENT_TYPE, description: "an order was placed" });
  expect([201, 409]).toContain(type.status);
  return tenant.body.id as string;
}

export async function createEndpoint(herald: Herald, tenantId: string, url: string, extra: Record<string, unknown> = {}): Promise<string> {
  const response = await herald.request("POST", `/v1/tenants/${tenantId}/endpoints`, { name: url, url, ...extra });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body.id as string;
}

export async function publish(herald: Herald, tenantId: string, payload: unknown = {}): Promise<string> {
  const response = await herald.request("POST", `/v1/tenants/${tenantId}/events`, { eventType: EVENT_TYPE, payload });
  expect(response.status, JSON.stringify(response.body)).toBe(202);
  return response.body.id as string;
}

/** Publishes `count` events, `parallel` requests at a time; answers the event ids. */
export async function publishMany(herald: Herald, tenantId: string, count: number, parallel = 16): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const n = next++;
        ids.push(await publish(herald, tenantId, { n }));
      }
    }),
  );
  return ids;
}

export function database(herald: Herald) {
  return postgres(herald.database.url, { max: 2, onnotice: () => {} });
}

export type Db = ReturnType<typeof database>;

export async function statusCounts(sql: Db): Promise<Record<string, number>> {
  const rows = await sql<{ status: string; n: number }[]>`select status, count(*)::int as n from deliveries group by status`;
  return Object.fromEntries(rows.map((row) => [row.status, row.n]));
}

/** Resolves when every delivery of the database has the status (checked across processes). */
export function allDeliveries(sql: Db, status: string, expected: number) {
  return async () => {
    const counts = await statusCounts(sql);
    return counts[status] === expected ? counts : undefined;
  };
}
