import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { freePort } from "@herald/runtime/server-process";
import { Redis } from "ioredis";
import { type RedisServerProcess, spawnOnFreePort } from "./redis-server.ts";

const run = promisify(execFile);

/** How long the nodes may take to agree that every slot is served, on a busy machine. */
const CLUSTER_OK_TIMEOUT_MS = 30_000;

export interface RedisCluster {
  /** One `redis://127.0.0.1:P` per master, in the order `flushNode` counts them. */
  urls: string[];
  /** The same nodes comma-separated: what `REDIS_URL` holds with `HERALD_REDIS_CLUSTER=true`. */
  seedList: string;
  ports: number[];
  /** Deletes every key on one master (FLUSHALL there), as if that node had lost its data. */
  flushNode(index: number): Promise<void>;
  /** Stops every node and waits for each to exit. */
  stop(): Promise<void>;
}

/** Answers what `CLUSTER INFO` says `cluster_state` is on one node. */
async function clusterState(port: number): Promise<string | undefined> {
  const redis = new Redis({ host: "127.0.0.1", port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await redis.connect();
    const info = (await redis.cluster("INFO")) as string;
    return /cluster_state:(\w+)/.exec(info)?.[1];
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/**
 * A real Redis Cluster of the test's own: `masters` redis-server processes
 * (at least 3, what `redis-cli --cluster create` asks for) on free loopback
 * ports, each with its own directory and no persistence, joined with
 * `redis-cli --cluster create`, resolved once every node says
 * `cluster_state:ok`.
 */
export async function startRedisCluster({ masters = 3 }: { masters?: number } = {}): Promise<RedisCluster> {
  if (masters < 3) throw new Error(`a Redis Cluster needs at least 3 masters, not ${masters}`);
  const nodes: { port: number; server: RedisServerProcess }[] = [];
  const stop = () => Promise.all(nodes.map((node) => node.server.stop())).then(() => undefined);
  try {
    for (let i = 0; i < masters; i++) {
      // The bus port is chosen too: the default (port + 10000) may be taken, or above 65535.
      nodes.push(
        await spawnOnFreePort(async () => [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          "nodes.conf",
          "--cluster-port",
          String(await freePort()),
          "--cluster-node-timeout",
          "5000",
        ]),
      );
    }
    const ports = nodes.map((node) => node.port);
    await run(
      "redis-cli",
      ["--cluster", "create", ...ports.map((port) => `127.0.0.1:${port}`), "--cluster-replicas", "0", "--cluster-yes"],
      {
        timeout: CLUSTER_OK_TIMEOUT_MS,
      },
    );
    // `create` returns once the slots are assigned; each node says ok only when it has heard of every slot's owner.
    const deadline = Date.now() + CLUSTER_OK_TIMEOUT_MS;
    for (;;) {
      const states = await Promise.all(ports.map(clusterState));
      if (states.every((state) => state === "ok")) break;
      if (Date.now() > deadline) {
        throw new Error(`the cluster did not reach cluster_state:ok within ${CLUSTER_OK_TIMEOUT_MS} ms: ${states.join(", ")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const urls = ports.map((port) => `redis://127.0.0.1:${port}`);
    return {
      urls,
      seedList: urls.join(","),
      ports,
      async flushNode(index) {
        const port = ports[index];
        if (port === undefined) throw new Error(`no node ${index}: the cluster has ${ports.length}`);
        const redis = new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 1 });
        try {
          await redis.flushall();
        } finally {
          redis.disconnect();
        }
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
