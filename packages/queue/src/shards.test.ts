import calculateSlot from "cluster-key-slot";
import { describe, expect, it } from "vitest";
import { shardOf, shardPrefix, shardPrefixes } from "./shards.ts";

describe("shards", () => {
  it("keeps the configured prefix when there is one shard", () => {
    expect(shardPrefix("{herald}", 0, 1)).toBe("{herald}");
    expect(shardOf("ep_anything", 1)).toBe(0);
  });

  it("puts each of K shards in its own K-th of the slot range", () => {
    for (const shards of [2, 3, 5, 16]) {
      const prefixes = shardPrefixes("{herald}", shards);
      expect(new Set(prefixes).size).toBe(shards);
      prefixes.forEach((prefix, shard) => {
        const tag = /\{([^}]*)\}/.exec(prefix)?.[1] ?? "";
        expect(tag.startsWith(`herald-${shard}`)).toBe(true);
        const slot = calculateSlot(tag);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((shard * 16384) / shards));
        expect(slot).toBeLessThan(Math.floor(((shard + 1) * 16384) / shards));
      });
    }
  });

  it("hashes endpoints stably and roughly evenly", () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i++) {
      const shard = shardOf(`ep_01jd${i.toString(36).padStart(22, "0")}`, 3);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    expect(shardOf("ep_01jd0000000000000000000000", 3)).toBe(shardOf("ep_01jd0000000000000000000000", 3));
    for (const count of counts) expect(count).toBeGreaterThan(800);
  });
});
