import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));

/** Runs a script in a process with the handlers installed; returns its exit code and its log lines. */
async function run(body: string) {
  const script = `
    import { createLogger, handleProcessFailures } from ${JSON.stringify(entry)};
    handleProcessFailures(createLogger("info", "failure-test"));
    ${body}
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [code] = await once(child, "exit");
  const logs = stdout
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { message: string; stack: string } });
  return { code, logs, stdout, stderr };
}

describe("errors nothing caught", () => {
  it("an unhandled rejection is logged with its stack and the process goes on", async () => {
    const { code, logs, stdout } = await run(`
      // Runs after the handler above: the process is still alive once the rejection has been logged.
      process.on("unhandledRejection", () => setImmediate(() => { console.log("still running"); process.exit(0); }));
      Promise.reject(new Error("nobody waited for this"));
    `);
    expect(code).toBe(0);
    expect(stdout).toContain("still running");
    const logged = logs.find((line) => line.err?.message === "nobody waited for this");
    expect(logged).toMatchObject({ level: 50, msg: expect.stringContaining("unhandled promise rejection") });
    expect(logged?.err?.stack).toContain("Error: nobody waited for this");
  });

  it("an uncaught exception is logged as fatal and the process exits 1", async () => {
    const { code, logs } = await run(`
      setTimeout(() => { throw new TypeError("Cannot read properties of null (reading 'write')"); }, 0);
      setInterval(() => {}, 1000);
    `);
    expect(code).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 60,
        msg: expect.stringContaining("uncaught exception"),
        err: expect.objectContaining({ message: "Cannot read properties of null (reading 'write')" }),
      }),
    );
  });
});
