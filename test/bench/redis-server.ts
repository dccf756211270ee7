import { startPrivateRedis } from "@herald/testing";

export interface BenchRedis {
  url: string;
  /** True when this is a private redis-server started for the run. */
  dedicated: boolean;
  stop(): Promise<void>;
}

/**
 * A private redis-server for the run (packages/testing's startPrivateRedis),
 * so that INFO commandstats and Redis CPU time count Herald's commands only,
 * not those of other programs on the machine's Redis. Falls back to
 * `fallbackUrl` when no redis-server binary is on the PATH.
 */
export async function startBenchRedis(fallbackUrl: string): Promise<BenchRedis> {
  try {
    const redis = await startPrivateRedis();
    return { url: redis.url, dedicated: true, stop: () => redis.stop() };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    return { url: fallbackUrl, dedicated: false, stop: async () => {} };
  }
}
