import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const entry = fileURLToPath(new URL("./index.ts", import.meta.url));

/** A process that registers `onShutdown` with the given close, says ready, and waits for a signal. */
async function runWithClose(closeBody: string) {
  const script = `
    import { onShutdown } from ${JSON.stringify(entry)};
    import { pino } from "pino";
    onShutdown(pino({ level: "silent" }), async () => { ${closeBody} }, 300);
    setInterval(() => {}, 1000);
    console.log("ready");
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout.on("data", (chunk) => String(chunk).includes("ready") && resolve()));
  child.kill("SIGTERM");
  const [code] = await once(child, "exit");
  return code;
}

describe("shutdown", () => {
  it("exits 0 once closing finishes", async () => {
    expect(await runWithClose("")).toBe(0);
  });

  it("exits 1 when closing fails", async () => {
    expect(await runWithClose("throw new Error('flush failed')")).toBe(1);
  });

  it("exits 1 instead of hanging when closing never finishes", async () => {
    expect(await runWithClose("await new Promise(() => {})")).toBe(1);
  });
});
