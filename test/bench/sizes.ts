export interface Sizes {
  mode: "quick" | "full" | "tiny";
  /** Events published by the throughput, workers and isolation scenarios. */
  events: number;
  /**
   * Endpoints each of those events fans out to. Twenty, so that the worker's
   * per-endpoint concurrency cap (10 by default) times the endpoints exceeds its
   * concurrency (100), as in a real fan-out to many receivers.
   */
  endpoints: number;
  /** Jobs or requests of each reference point: the same as the deliveries of the throughput scenario. */
  referenceJobs: number;
  latencySeconds: number;
  ingestSeconds: number;
  fanout: number[];
  /**
   * Clean / dead-endpoint pairs the isolation scenario runs, alternating which
   * goes first (clean, dead, dead, clean, clean, dead…).
   */
  isolationPairs: number;
  /**
   * Herald / durable reference pairs at each concentration (20, 5 and 1
   * endpoints), alternating which goes first.
   */
  durablePairs: number;
  /**
   * Endpoints of the cluster scenario (the throughput run's deliveries spread
   * over them): many, so that their ids' hash spreads them evenly over the shards.
   */
  clusterEndpoints: number;
  /** Sharded / single-Redis pairs the cluster scenario runs, alternating which goes first. */
  clusterPairs: number;
  /** Concentrations (endpoints) at which the commands scenario breaks down Redis commands per delivery. */
  commandsEndpoints: number[];
  /** How long the soak publishes, and at how many deliveries per second (six endpoints, so a sixth of that in events). */
  soakSeconds: number;
  soakRate: number;
  /** Faults the soak injects per minute of publishing, the kinds in turn (at least one of each kind whatever the rate). */
  soakFaultsPerMinute: number;
  /**
   * Deliveries each compared run makes before its measured window (the durable comparison's both sides, the tracing
   * variants), on the same processes and endpoints, so that each side is measured at its steady state. A fresh
   * worker spends its first seconds compiling its hot code (V8's background threads took about as much CPU as its
   * main thread during the first two seconds of a quick run's deliveries, and about a fifth of it from the fifth second
   * on), while the durable reference runs in the suite's process, where BullMQ, ioredis, undici and postgres.js are
   * compiled already.
   */
  warmupDeliveries: number;
  /** The longest a scenario waits for its deliveries before it reports what it got. */
  timeoutMs: number;
}

export const SIZES: Record<Sizes["mode"], Sizes> = {
  quick: {
    mode: "quick",
    events: 500,
    endpoints: 20,
    referenceJobs: 10_000,
    latencySeconds: 10,
    ingestSeconds: 5,
    fanout: [1000, 10_000],
    isolationPairs: 2,
    durablePairs: 1,
    clusterEndpoints: 150,
    clusterPairs: 1,
    commandsEndpoints: [20],
    soakSeconds: 60,
    soakRate: 600,
    soakFaultsPerMinute: 2,
    warmupDeliveries: 4_000,
    timeoutMs: 90_000,
  },
  full: {
    mode: "full",
    events: 1000,
    endpoints: 20,
    referenceJobs: 20_000,
    latencySeconds: 30,
    ingestSeconds: 15,
    fanout: [1000, 10_000],
    isolationPairs: 5,
    durablePairs: 3,
    clusterEndpoints: 150,
    clusterPairs: 3,
    commandsEndpoints: [20, 1],
    soakSeconds: 240,
    soakRate: 600,
    soakFaultsPerMinute: 2,
    warmupDeliveries: 4_000,
    timeoutMs: 180_000,
  },
  // The smoke test's size: proves every scenario still produces its numbers, measures nothing.
  tiny: {
    mode: "tiny",
    events: 5,
    endpoints: 20,
    referenceJobs: 100,
    latencySeconds: 1,
    ingestSeconds: 1,
    fanout: [10, 50],
    isolationPairs: 1,
    durablePairs: 1,
    clusterEndpoints: 30,
    clusterPairs: 1,
    commandsEndpoints: [20],
    soakSeconds: 12,
    soakRate: 120,
    soakFaultsPerMinute: 2,
    warmupDeliveries: 100,
    timeoutMs: 30_000,
  },
};

/** A warm-up of about `deliveries` deliveries to `endpoints` endpoints each: whole events, rounded up, and what they make. */
export function warmupOf(deliveries: number, endpoints: number): { events: number; deliveries: number } {
  const events = Math.ceil(deliveries / endpoints);
  return { events, deliveries: events * endpoints };
}
