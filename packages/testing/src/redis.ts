import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A queue prefix no other test uses; the braces keep its keys in one cluster slot. */
export function freshQueuePrefix(): string {
  return `{herald-test-${randomBytes(5).toString("hex")}}`;
}

/**
 * Deletes every key under a prefix, without touching other tests' keys. `url`
 * may be a comma-separated list of cluster nodes: each node is scanned for the
 * keys it holds.
 */
export async function deletePrefix(prefix: string, url = TEST_REDIS_URL): Promise<void> {
  for (const node of url.split(",")) {
    // No endless reconnecting: a server that is gone (a private one stopped too early) is an error, not a hang.
    const redis = new Redis(node.trim(), { maxRetriesPerRequest: 1, retryStrategy: () => null });
    try {
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        // One DEL per key: in a cluster, keys of different slots cannot share a command.
        if (keys.length > 0) await Promise.all(keys.map((key) => redis.del(key)));
      } while (cursor !== "0");
    } finally {
      redis.disconnect();
    }
  }
}
