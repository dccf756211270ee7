/**
 * The PostgreSQL and Redis that `npm start` and `npm test` run themselves on a
 * machine that has none: an embedded PostgreSQL (see embedded-postgres.ts)
 * and a private redis-server from the PATH, each on a free loopback port,
 * with data under one directory. A service the user configured, or one that
 * already answers on its default port, is used as it is, unless
 * HERALD_EMBEDDED=true asks for the embedded ones anyway.
 */
import { once } from "node:events";
import { chmodSync, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { z } from "zod";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "./embedded-postgres.ts";
import { findRedisServer, type PrivateRedisServer, REDIS_INSTALL_HINT, startPrivateRedisServer } from "./private-redis.ts";
import { LocalServiceError } from "./service-process.ts";

/** HERALD_EMBEDDED: `true` always runs both, `false` never does, unset decides by what answers. */
export const embeddedSetting = z
  .enum(["true", "false"], { message: "expected true or false" })
  .optional()
  .transform((value) => (value === undefined ? "auto" : value === "true" ? "always" : "never"));

export interface ServicePlan {
  /** The HERALD_EMBEDDED setting. */
  embedded: "auto" | "always" | "never";
  /** Whether the user set the URL of each service (then it is theirs, unless embedded is `always`). */
  postgresConfigured: boolean;
  redisConfigured: boolean;
}

/** Whether something accepts connections on 127.0.0.1:`port` (within a second). */
export async function answers(port: number): Promise<boolean> {
  const socket = connect({ host: "127.0.0.1", port });
  socket.setTimeout(1_000, () => socket.destroy(new Error("timeout")));
  try {
    await once(socket, "connect");
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

/** Which services to run here: `postgres` and `redis` are true for the ones this machine lacks. */
export async function decide(plan: ServicePlan): Promise<{ postgres: boolean; redis: boolean }> {
  if (plan.embedded === "never") return { postgres: false, redis: false };
  if (plan.embedded === "always") return { postgres: true, redis: true };
  const [postgresAnswers, redisAnswers] = await Promise.all([answers(5432), answers(6379)]);
  return { postgres: !plan.postgresConfigured && !postgresAnswers, redis: !plan.redisConfigured && !redisAnswers };
}

export interface LocalServices {
  postgres?: EmbeddedPostgres;
  redis?: PrivateRedisServer;
  /** Stops what was started (Redis first, so nothing it holds outlives the database), once. */
  stop(): Promise<void>;
}

/**
 * Starts the services `wanted` names, with data under `dataDir` (`postgres/`,
 * `redis/` and their logs). Redis is checked first, so a missing redis-server
 * stops the start before a database is created. What was started is in the
 * answer at once, so a signal during the start can still stop it.
 */
export function startLocalServices(
  wanted: { postgres: boolean; redis: boolean },
  options: { dataDir: string; durable: boolean },
): { services: LocalServices; ready: Promise<void> } {
  const services: LocalServices = {
    async stop() {
      const { redis, postgres } = services;
      services.redis = undefined;
      services.postgres = undefined;
      await redis?.stop();
      await postgres?.stop();
    },
  };
  const ready = (async () => {
    if (wanted.redis && !findRedisServer()) throw new LocalServiceError(REDIS_INSTALL_HINT);
    mkdirSync(options.dataDir, { recursive: true });
    // Root runs PostgreSQL as another user (see embedded-postgres.ts), who must be able to enter the directory.
    if (wanted.postgres && process.getuid?.() === 0) chmodSync(options.dataDir, 0o755);
    const { dataDir, durable } = options;
    if (wanted.postgres) {
      services.postgres = await startEmbeddedPostgres({
        dataDir: join(dataDir, "postgres"),
        logFile: join(dataDir, "postgres.log"),
        durable,
      });
    }
    if (wanted.redis) {
      mkdirSync(join(dataDir, "redis"), { recursive: true });
      services.redis = await startPrivateRedisServer({ dir: join(dataDir, "redis"), logFile: join(dataDir, "redis.log"), durable });
    }
  })();
  return { services, ready };
}
