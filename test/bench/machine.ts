import { cpus, totalmem } from "node:os";
import { Redis } from "ioredis";
import postgres from "postgres";

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  postgres: string;
  redis: string;
}

/** What the numbers were measured on, so a reader can compare with their own machine. */
export async function describeMachine(databaseUrl: string, redisUrl: string): Promise<Machine> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    const [row] = await sql<{ server_version: string }[]>`show server_version`;
    const info = await redis.info("server");
    return {
      cpu: cpus()[0]?.model.trim() ?? "unknown",
      cores: cpus().length,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      postgres: row?.server_version.split(" ")[0] ?? "unknown",
      redis: info.match(/^redis_version:(\S+)/m)?.[1] ?? "unknown",
    };
  } finally {
    await sql.end({ timeout: 1 });
    redis.disconnect();
  }
}
