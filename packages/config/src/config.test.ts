import { describe, expect, it } from "vitest";
import { apiConfigSchema, ConfigError, minimumRetentionMs, parseConfig, parseDuration, workerConfigSchema } from "./index.ts";

describe("configuration", () => {
  it("parses durations", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("5s")).toBe(5000);
    expect(parseDuration("2h")).toBe(7_200_000);
    expect(parseDuration("1.5m")).toBe(90_000);
    expect(parseDuration("100")).toBe(100);
    expect(parseDuration("soon")).toBeUndefined();
  });

  it("applies the documented defaults", () => {
    const config = parseConfig(workerConfigSchema, {});
    expect(config.HERALD_RETRY_SCHEDULE).toEqual([
      0, 5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 50_400_000, 72_000_000, 86_400_000,
    ]);
    expect(config.HERALD_ALLOW_PRIVATE_TARGETS).toBe(false);
    expect(config.HERALD_DELIVERY_TIMEOUT).toBe(15_000);
  });

  it("gives the delivery engine's knobs their documented defaults and checks them", () => {
    const config = parseConfig(workerConfigSchema, {});
    expect(config).toMatchObject({
      HERALD_ENDPOINT_CONCURRENCY: 10,
      HERALD_CIRCUIT_THRESHOLD: 10,
      HERALD_CIRCUIT_COOLDOWN: 30_000,
      HERALD_DISABLE_AFTER: 432_000_000,
      HERALD_OPERATOR_TENANT: "herald-operator",
      HERALD_METRICS_HOST: "127.0.0.1",
    });
    expect(config.HERALD_OPERATOR_WEBHOOK_URL).toBeUndefined();
    expect(config.HERALD_METRICS_PORT).toBeUndefined();
    expect(() => parseConfig(workerConfigSchema, { HERALD_OPERATOR_WEBHOOK_URL: "ftp://ops" })).toThrow(/HERALD_OPERATOR_WEBHOOK_URL/);
    expect(() => parseConfig(workerConfigSchema, { HERALD_ENDPOINT_CONCURRENCY: "0" })).toThrow(/HERALD_ENDPOINT_CONCURRENCY/);
  });

  it("keeps 30 days by default and refuses a retention shorter than the retry schedule plus a day", () => {
    const config = parseConfig(workerConfigSchema, {});
    expect(config).toMatchObject({ HERALD_RETENTION: 30 * 86_400_000, HERALD_PARTITIONS_AHEAD: 7, HERALD_MAINTENANCE_INTERVAL: 3_600_000 });
    // The default schedule spans 75 h 35 min; at 20 % jitter that is 90.7 h, plus a day: 115 h.
    expect(minimumRetentionMs(config)).toBe(115 * 3_600_000);
    expect(() => parseConfig(workerConfigSchema, { HERALD_RETENTION: "4d" })).toThrow(/HERALD_RETENTION: must be at least 115h/);
    expect(parseConfig(workerConfigSchema, { HERALD_RETENTION: "115h" }).HERALD_RETENTION).toBe(115 * 3_600_000);
    expect(parseConfig(workerConfigSchema, { HERALD_RETENTION: "2d", HERALD_RETRY_SCHEDULE: "0,1h" }).HERALD_RETENTION).toBe(172_800_000);
  });

  it("names every bad variable in one error", () => {
    try {
      parseConfig(apiConfigSchema, { PORT: "eighty", HERALD_RETRY_SCHEDULE: "0,5x", REDIS_URL: "http://nope" });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of ["PORT", "HERALD_RETRY_SCHEDULE", "REDIS_URL", "HERALD_ADMIN_TOKEN"]) expect(message).toContain(name);
    }
  });
});

describe("queue shards and Redis Cluster", () => {
  it("defaults to one shard on one Redis, consumed whole", () => {
    const config = parseConfig(workerConfigSchema, {});
    expect(config).toMatchObject({ HERALD_QUEUE_SHARDS: 1, HERALD_REDIS_CLUSTER: false, HERALD_SCHEDULER_INTERVAL: 1000 });
    expect(config.HERALD_WORKER_SHARDS).toBeUndefined();
  });

  it("takes cluster seed nodes and a worker's shards", () => {
    const config = parseConfig(workerConfigSchema, {
      HERALD_REDIS_CLUSTER: "true",
      REDIS_URL: "redis://127.0.0.1:7101,redis://127.0.0.1:7102",
      HERALD_QUEUE_SHARDS: "3",
      HERALD_WORKER_SHARDS: "0, 2",
    });
    expect(config.HERALD_WORKER_SHARDS).toEqual([0, 2]);
    expect(config.REDIS_URL).toBe("redis://127.0.0.1:7101,redis://127.0.0.1:7102");
  });

  it("names the variable when a shard does not exist or a seed is not a Redis URL", () => {
    expect(() => parseConfig(workerConfigSchema, { HERALD_QUEUE_SHARDS: "2", HERALD_WORKER_SHARDS: "0,2" })).toThrow(
      /HERALD_WORKER_SHARDS: shard 2 does not exist/,
    );
    expect(() => parseConfig(workerConfigSchema, { HERALD_WORKER_SHARDS: "first" })).toThrow(/HERALD_WORKER_SHARDS/);
    expect(() => parseConfig(apiConfigSchema, { HERALD_ADMIN_TOKEN: "x".repeat(16), REDIS_URL: "redis://a:1,http://b" })).toThrow(
      /REDIS_URL/,
    );
  });
});
