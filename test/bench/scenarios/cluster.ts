import { shardOf, shardPrefix } from "@herald/queue";
import { type RedisCluster, startPrivateRedis, startRedisCluster } from "@herald/testing";
import { Redis } from "ioredis";
import type { BenchOptions } from "../herald-bench.ts";
import { log, round } from "../progress.ts";
import type { FastReceiver } from "../receiver.ts";
import type { Sizes } from "../sizes.ts";
import { median } from "./durable.ts";
import { throughput } from "./throughput.ts";

/** Shards of the sharded side, one per master of the cluster. */
export const CLUSTER_SHARDS = 3;

export interface ClusterMaster {
  port: number;
  /** Endpoints of the run whose shard this master serves. */
  endpoints: number;
  /** Per delivery of the whole run: this master's Redis commands (INFO commandstats) and CPU ms (INFO cpu, user + sys). */
  commands: number;
  cpuMs: number;
  /** The commands by name, per delivery, for explaining an imbalance. */
  byCommand: Record<string, number>;
}

export interface ClusterRun {
  kind: "sharded" | "single";
  deliveriesPerSecond: number;
  complete: boolean;
  /** Per delivery, over every node. */
  redisCommands: number;
  redisCpuMs: number;
  /** The sharded side's masters; the single Redis as one entry. */
  masters: ClusterMaster[];
  /** The busiest master's commands and CPU ÷ the masters' mean (1 for the single Redis). */
  busiestCommands: number;
  busiestCpu: number;
  /** The rest of the run's cost per delivery, for the capacity model. */
  pgTransactions: number;
  pgCpuMs: number;
  workerCpuMs: number;
  apiCpuMs: number;
}

export interface ClusterSide {
  deliveriesPerSecond: number;
  redisCommands: number;
  redisCpuMs: number;
  pgTransactions: number;
  pgCpuMs: number;
  workerCpuMs: number;
  apiCpuMs: number;
}

export interface ClusterResult {
  scenario: "cluster";
  shards: number;
  endpoints: number;
  events: number;
  deliveries: number;
  pairs: number;
  /** Medians over each side's runs. */
  sharded: ClusterSide & { busiestCommands: number; busiestCpu: number };
  single: ClusterSide;
  /** Sharded deliveries/s ÷ single. */
  ratio: number;
  runs: ClusterRun[];
}

const busiest = (values: number[]) => {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return mean > 0 ? round(Math.max(...values) / mean, 3) : 0;
};

/**
 * Herald with its queue in three shards on a real three-master Redis Cluster
 * (every client a Cluster client) against one shard on one redis-server, with
 * the same deliveries to many endpoints (so that the endpoints' hash spreads
 * them over the shards) and the same receiver, in pairs whose order
 * alternates. Reports each side's deliveries/s and each master's commands and
 * CPU, and how far the busiest master is above the mean. On one machine the
 * masters share its cores with everything else: the figure that carries over
 * to a deployment is the balance and the cost per delivery, not the speed-up.
 */
export async function cluster(options: BenchOptions, receiver: FastReceiver, sizes: Sizes): Promise<ClusterResult> {
  const endpoints = sizes.clusterEndpoints;
  const events = Math.max(1, Math.round((sizes.events * sizes.endpoints) / endpoints));
  const deliveries = events * endpoints;
  log(`cluster: starting a ${CLUSTER_SHARDS}-master Redis Cluster and a single redis-server`);
  const single = await startPrivateRedis();
  const masters = await startRedisCluster({ masters: CLUSTER_SHARDS }).catch(async (error) => {
    await single.stop();
    throw error;
  });
  try {
    const runs: ClusterRun[] = [];
    for (let pair = 0; pair < sizes.clusterPairs; pair++) {
      const order = pair % 2 === 0 ? (["sharded", "single"] as const) : (["single", "sharded"] as const);
      for (const kind of order) runs.push(await clusterRun(kind));
    }
    const side = (kind: ClusterRun["kind"]) => {
      const of = runs.filter((run) => run.kind === kind);
      const mid = (pick: (run: ClusterRun) => number, digits: number) => round(median(of.map(pick)), digits);
      return {
        deliveriesPerSecond: mid((run) => run.deliveriesPerSecond, 0),
        redisCommands: mid((run) => run.redisCommands, 2),
        redisCpuMs: mid((run) => run.redisCpuMs, 4),
        pgTransactions: mid((run) => run.pgTransactions, 4),
        pgCpuMs: mid((run) => run.pgCpuMs, 4),
        workerCpuMs: mid((run) => run.workerCpuMs, 4),
        apiCpuMs: mid((run) => run.apiCpuMs, 4),
        busiestCommands: mid((run) => run.busiestCommands, 3),
        busiestCpu: mid((run) => run.busiestCpu, 3),
      };
    };
    const sharded = side("sharded");
    const { busiestCommands: _, busiestCpu: __, ...one } = side("single");
    return {
      scenario: "cluster",
      shards: CLUSTER_SHARDS,
      endpoints,
      events,
      deliveries,
      pairs: sizes.clusterPairs,
      sharded,
      single: one,
      ratio: one.deliveriesPerSecond > 0 ? round(sharded.deliveriesPerSecond / one.deliveriesPerSecond, 3) : 0,
      runs,
    };
  } finally {
    await Promise.all([masters.stop(), single.stop()]);
  }

  async function clusterRun(kind: ClusterRun["kind"]): Promise<ClusterRun> {
    const sharded = kind === "sharded";
    const { result, bench } = await throughput(
      { ...options, redisUrl: sharded ? masters.seedList : single.url },
      receiver,
      // Four times the usual timeout: a run that times out measures little, and 150 endpoints each start at 2 slots.
      { ...sizes, events, endpoints, timeoutMs: sizes.timeoutMs * 4 },
      {
        name: sharded ? `cluster: ${CLUSTER_SHARDS} shards on ${CLUSTER_SHARDS} masters` : "cluster: 1 shard on one Redis",
        env: sharded ? { HERALD_REDIS_CLUSTER: "true", HERALD_QUEUE_SHARDS: String(CLUSTER_SHARDS) } : { HERALD_QUEUE_SHARDS: "1" },
        redisNodes: sharded ? masters.urls : [single.url],
      },
    );
    try {
      const ids = (await bench.sql<{ id: string }[]>`select id from endpoints`).map((row) => row.id);
      const endpointsByPort = sharded
        ? await endpointsPerMaster(masters, bench.herald.queuePrefix, ids)
        : new Map([[single.port, ids.length]]);
      const nodes = result.redisNodes.map((node) => {
        const port = Number(new URL(node.url).port);
        return { port, endpoints: endpointsByPort.get(port) ?? 0, commands: node.commands, cpuMs: node.cpuMs, byCommand: node.byCommand };
      });
      return {
        kind,
        deliveriesPerSecond: result.deliveriesPerSecond,
        complete: result.received === result.deliveries && result.attemptsRecorded >= result.deliveries,
        redisCommands: result.perDelivery.redisCommands,
        redisCpuMs: result.perDelivery.redisCpuMs,
        masters: nodes,
        busiestCommands: busiest(nodes.map((node) => node.commands)),
        busiestCpu: busiest(nodes.map((node) => node.cpuMs)),
        pgTransactions: result.perDelivery.pgTransactions,
        pgCpuMs: result.perDelivery.pgCpuMs,
        workerCpuMs: result.perDelivery.workerCpuMs,
        apiCpuMs: result.perDelivery.apiCpuMs,
      };
    } finally {
      await bench.stop();
    }
  }
}

/** How many of the endpoints each master serves: an endpoint's shard, its shard's hash-tag slot, the master owning that slot. */
async function endpointsPerMaster(masters: RedisCluster, prefix: string, endpointIds: string[]): Promise<Map<number, number>> {
  const node = new Redis(masters.urls[0] as string, { maxRetriesPerRequest: 1 });
  try {
    const ranges = (await node.call("CLUSTER", "SLOTS")) as [number, number, [string, number, ...unknown[]]][];
    const portOfShard: number[] = [];
    for (let shard = 0; shard < CLUSTER_SHARDS; shard++) {
      const slot = Number(await node.call("CLUSTER", "KEYSLOT", shardPrefix(prefix, shard, CLUSTER_SHARDS)));
      const range = ranges.find(([low, high]) => slot >= low && slot <= high);
      portOfShard.push(Number(range?.[2][1] ?? 0));
    }
    const counts = new Map<number, number>();
    for (const id of endpointIds) {
      const port = portOfShard[shardOf(id, CLUSTER_SHARDS)] ?? 0;
      counts.set(port, (counts.get(port) ?? 0) + 1);
    }
    return counts;
  } finally {
    node.disconnect();
  }
}
