import { spawn } from "node:child_process";
import { createServer } from "node:net";

export interface BenchRedis {
  url: string;
  /** True when this is a private redis-server started for the run. */
  dedicated: boolean;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === "object" && address ? address.port : 0;
}

/**
 * A private redis-server for the run, without persistence, so that INFO
 * commandstats and Redis CPU time count Herald's commands only, not those of
 * other programs on the machine's Redis. Falls back to `fallbackUrl` when no
 * redis-server binary is on the PATH.
 */
export async function startBenchRedis(fallbackUrl: string): Promise<BenchRedis> {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const started = await new Promise<boolean>((resolve) => {
    let output = "";
    child.on("error", () => resolve(false));
    child.on("exit", () => resolve(false));
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) resolve(true);
    });
  });
  if (!started) return { url: fallbackUrl, dedicated: false, stop: async () => {} };
  return {
    url: `redis://127.0.0.1:${port}`,
    dedicated: true,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
