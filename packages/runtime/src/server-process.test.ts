import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, expect, it } from "vitest";
import { waitForReadyLine } from "./server-process.ts";

/** A plain node child running `script` (no tsx: these start in a few tens of milliseconds). */
function child(script: string) {
  const process_ = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = once(process_, "exit").then(([code]) => code as number | null);
  return { process: process_, exited };
}

const notReady = (reason: "timeout" | "exited", output: string) => new Error(`${reason}: ${output}`);

describe("waitForReadyLine", () => {
  it("resolves with the match of a pattern printed on stderr, and keeps collecting output after it", async () => {
    const { process: c, exited } = child(
      `console.error("listening on http://127.0.0.1:1234"); setTimeout(() => console.log("later"), 50);`,
    );
    const ready = await waitForReadyLine(c, { ready: /listening on (http:\/\/\S+)/, timeoutMs: 10_000, exited, notReady });
    expect(ready.match[1]).toBe("http://127.0.0.1:1234");
    await exited;
    expect(ready.output()).toContain("later");
  });

  it("matches a literal text, stops collecting after it when asked, and passes every chunk on", async () => {
    const { process: c, exited } = child(`console.log("a.b ready (1)"); setTimeout(() => console.log("later"), 50);`);
    const chunks: string[] = [];
    const ready = await waitForReadyLine(c, {
      ready: "a.b ready (1)",
      timeoutMs: 10_000,
      exited,
      notReady,
      onOutput: (chunk) => chunks.push(chunk.toString()),
      collectAfterReady: false,
    });
    await exited;
    expect(ready.output()).toBe("a.b ready (1)\n");
    expect(chunks.join("")).toContain("later");
  });

  it("rejects with the child's output when it exits before it is ready", async () => {
    const { process: c, exited } = child(`console.log("port taken"); process.exit(3);`);
    await expect(waitForReadyLine(c, { ready: "ready", timeoutMs: 10_000, exited, notReady })).rejects.toThrow("exited: port taken");
  });

  it("kills a child that is not ready in time and waits for it to exit before it rejects", async () => {
    const { process: c, exited } = child(`console.log("starting"); setInterval(() => {}, 1000);`);
    await expect(waitForReadyLine(c, { ready: "ready", timeoutMs: 500, exited, notReady })).rejects.toThrow("timeout: starting");
    expect(c.signalCode).toBe("SIGKILL");
  });
});
