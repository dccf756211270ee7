import { Cluster, Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RedisCluster, startRedisCluster } from "./redis-cluster.ts";

let cluster: RedisCluster;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  client = new Cluster(cluster.ports.map((port) => ({ host: "127.0.0.1", port })));
});

afterAll(async () => {
  client?.disconnect();
  await cluster?.stop();
});

/** The slot ranges each master serves, by port, from CLUSTER NODES. */
async function slotOwners(): Promise<{ port: number; ranges: [number, number][] }[]> {
  const seed = new Redis(cluster.urls[0] as string);
  try {
    const text = (await seed.cluster("NODES")) as string;
    return text
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .filter((fields) => fields[2]?.includes("master"))
      .map((fields) => ({
        port: Number(/:(\d+)@/.exec(fields[1] ?? "")?.[1]),
        ranges: fields.slice(8).map((range) => {
          const [from, to] = range.split("-").map(Number);
          return [from as number, to ?? (from as number)];
        }),
      }));
  } finally {
    seed.disconnect();
  }
}

describe("startRedisCluster", () => {
  it("joins three masters that share all 16384 slots", async () => {
    expect(cluster.urls).toEqual(cluster.ports.map((port) => `redis://127.0.0.1:${port}`));
    expect(cluster.seedList).toBe(cluster.urls.join(","));
    const owners = await slotOwners();
    expect(owners.map((owner) => owner.port).sort()).toEqual([...cluster.ports].sort());
    const served = owners.flatMap((owner) => owner.ranges).reduce((sum, [from, to]) => sum + to - from + 1, 0);
    expect(served).toBe(16384);
  });

  it("puts keys of three hash tags on three different masters", async () => {
    // {a}, {b} and {c} hash to slots 15495, 3300 and 7365: one in each third of the slot space.
    const keys = ["{a}:job", "{b}:job", "{c}:job"];
    for (const key of keys) await client.set(key, `value of ${key}`);
    const owners = await slotOwners();
    const placed = await Promise.all(
      keys.map(async (key) => {
        const slot = Number(await client.cluster("KEYSLOT", key));
        const owner = owners.find((node) => node.ranges.some(([from, to]) => slot >= from && slot <= to));
        // Asked directly (no redirection), the owner holds the key.
        const node = new Redis({ host: "127.0.0.1", port: owner?.port as number });
        try {
          return { slot, port: owner?.port, value: await node.get(key) };
        } finally {
          node.disconnect();
        }
      }),
    );
    expect(placed.map((p) => p.slot)).toEqual([15495, 3300, 7365]);
    expect(placed.map((p) => p.value)).toEqual(keys.map((key) => `value of ${key}`));
    expect(new Set(placed.map((p) => p.port)).size).toBe(3);
  });

  it("flushes one node only", async () => {
    const keys = ["{a}:flush", "{b}:flush", "{c}:flush"];
    for (const key of keys) await client.set(key, "1");
    const owners = await slotOwners();
    const slotOf = async (key: string) => Number(await client.cluster("KEYSLOT", key));
    const ownerIndex = async (key: string) => {
      const slot = await slotOf(key);
      const port = owners.find((node) => node.ranges.some(([from, to]) => slot >= from && slot <= to))?.port;
      return cluster.ports.indexOf(port as number);
    };
    await cluster.flushNode(await ownerIndex("{b}:flush"));
    expect(await Promise.all(keys.map((key) => client.exists(key)))).toEqual([1, 0, 1]);
  });

  it("refuses fewer than three masters", async () => {
    await expect(startRedisCluster({ masters: 2 })).rejects.toThrow(/at least 3 masters/);
  });
});
