import calculateSlot from "cluster-key-slot";

/** Redis Cluster's slot count. */
const SLOTS = 16384;

/** FNV-1a, 32 bits: a stable hash of an endpoint id, the same in every process and version. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** The shard an endpoint's jobs and guard keys live in. */
export function shardOf(endpointId: string, shards: number): number {
  return shards <= 1 ? 0 : fnv1a(endpointId) % shards;
}

/**
 * The key prefix of one shard. With one shard it is the configured prefix
 * itself, so existing deployments keep their keys. With K shards the shard's
 * name goes inside the hash tag, and a suffix is chosen so that shard i hashes
 * into the i-th K-th of the slot range: a cluster made by `redis-cli --cluster
 * create` gives each master one contiguous range, so K shards on K masters land
 * one per master instead of wherever their names happen to hash.
 */
export function shardPrefix(prefix: string, shard: number, shards: number): string {
  if (shards <= 1) return prefix;
  const open = prefix.indexOf("{");
  const close = open >= 0 ? prefix.indexOf("}", open) : -1;
  const [before, tag, after] =
    close > open ? [prefix.slice(0, open), prefix.slice(open + 1, close), prefix.slice(close + 1)] : ["", prefix, ""];
  const low = Math.floor((shard * SLOTS) / shards);
  const high = Math.floor(((shard + 1) * SLOTS) / shards);
  for (let n = 0; ; n++) {
    const candidate = n === 0 ? `${tag}-${shard}` : `${tag}-${shard}.${n}`;
    const slot = calculateSlot(candidate);
    if (slot >= low && slot < high) return `${before}{${candidate}}${after}`;
  }
}

/** Every shard's prefix, by shard number. */
export function shardPrefixes(prefix: string, shards: number): string[] {
  return Array.from({ length: shards }, (_, shard) => shardPrefix(prefix, shard, shards));
}
