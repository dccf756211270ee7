import { connect } from "node:net";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { startPrivateRedis } from "./redis-server.ts";

/** Opens one TCP connection to the port: answers "connected" or the error code. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
  });
}

describe("startPrivateRedis", () => {
  it("serves on its own port, restarts empty on the same port, and is gone once stopped", async () => {
    const redis = await startPrivateRedis();
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(redis.port).not.toBe(6379);
      const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      await client.set("k", "v");
      expect(await client.get("k")).toBe("v");
      // No persistence: nothing is saved, so nothing comes back.
      expect(await client.config("GET", "save")).toEqual(["save", ""]);
      expect(await client.config("GET", "appendonly")).toEqual(["appendonly", "no"]);
      client.disconnect();

      await redis.restart();
      const again = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      expect(await again.get("k")).toBeNull();
      again.disconnect();

      await redis.stop();
      // stop() resolved after the process exited: the port refuses at once.
      expect(await probe(redis.port)).toBe("ECONNREFUSED");
      await redis.start();
      const restarted = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      expect(await restarted.ping()).toBe("PONG");
      restarted.disconnect();
    } finally {
      await redis.stop();
    }
  });

  it("gives each caller a server of its own", async () => {
    const [one, two] = await Promise.all([startPrivateRedis(), startPrivateRedis()]);
    try {
      expect(one.port).not.toBe(two.port);
      const a = new Redis(one.url);
      const b = new Redis(two.url);
      await a.set("only-in-one", "1");
      expect(await b.exists("only-in-one")).toBe(0);
      a.disconnect();
      b.disconnect();
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
  });
});
