import { spawn } from "node:child_process";
import { once } from "node:events";
import { REPO_ROOT, TEST_ADMIN_URL } from "@herald/testing";
import { describe, expect, it } from "vitest";

/** Runs an app's entry point to completion and returns its exit code and all it printed. */
async function run(app: "api" | "worker", env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", `apps/${app}/src/main.ts`], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const [code] = await once(child, "exit");
  return { code, lines: output.trim().split("\n") };
}

const token = { HERALD_ADMIN_TOKEN: "startup-test-token-0123456789" };

describe("start-up failures are one clear line", () => {
  it("names the Redis URL it tried and how to start one", async () => {
    // A PostgreSQL that answers (the default URL's database need not exist on a fresh machine), so Redis is the one named.
    const { code, lines } = await run("api", { ...token, DATABASE_URL: TEST_ADMIN_URL, REDIS_URL: "redis://127.0.0.1:1" });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^herald: Redis is not answering at redis:\/\/127\.0\.0\.1:1 .*redis-server/);
  });

  it("names the PostgreSQL URL it tried, without its password", async () => {
    const { code, lines } = await run("worker", { DATABASE_URL: "postgres://herald:s3cret@127.0.0.1:1/herald" });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^herald: PostgreSQL is not answering at postgres:\/\/herald@127\.0\.0\.1:1\/herald /);
    expect(lines[0]).not.toContain("s3cret");
  });

  it("names every bad variable", async () => {
    const { code, lines } = await run("api", { PORT: "eighty", HERALD_RETRY_SCHEDULE: "soon" });
    expect(code).toBe(1);
    const text = lines.join("\n");
    for (const name of ["PORT", "HERALD_RETRY_SCHEDULE", "HERALD_ADMIN_TOKEN"]) expect(text).toContain(name);
    expect(text).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
