import { Cluster, Redis, type RedisOptions } from "ioredis";

/** A single Redis or a Redis Cluster: everything in this package works on either. */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  /** `REDIS_URL` is a comma-separated list of cluster seed nodes, and the client a Cluster client. */
  cluster: boolean;
  /** Options for each connection, e.g. BullMQ's `maxRetriesPerRequest: null` for workers. */
  redisOptions?: RedisOptions;
}

/**
 * The Redis client of a process. With `cluster`, an ioredis Cluster seeded
 * from every URL in the list (their password and TLS apply to every node);
 * BullMQ and the endpoint guard work on it because each shard's keys share one
 * hash tag.
 */
export function createRedisClient(url: string, options: RedisClientOptions): RedisClient {
  if (!options.cluster) return new Redis(url, options.redisOptions ?? {});
  const seeds = url.split(",").map((part) => new URL(part.trim()));
  const first = seeds[0] as URL;
  return new Cluster(
    seeds.map((seed) => ({ host: seed.hostname, port: Number(seed.port || 6379) })),
    {
      // A producer that fails fast fails fast across the cluster too.
      ...(options.redisOptions?.enableOfflineQueue === false ? { enableOfflineQueue: false } : {}),
      redisOptions: {
        ...options.redisOptions,
        ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
        ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
        ...(first.protocol === "rediss:" ? { tls: {} } : {}),
      },
    },
  );
}

/** The first URL of REDIS_URL: the only one without a cluster, a seed node with one (what start-up checks). */
export const firstRedisUrl = (url: string) => url.split(",")[0]?.trim() ?? url;

/** Another connection like `client` (a Cluster stays a Cluster), with some options changed. */
export function duplicateRedis(client: RedisClient, options: RedisOptions): RedisClient {
  if (client instanceof Cluster)
    return client.duplicate([], {
      ...client.options,
      redisOptions: { ...client.options.redisOptions, ...options },
      ...(options.enableAutoPipelining ? { enableAutoPipelining: true } : {}),
    });
  return client.duplicate(options);
}
