import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createTestDatabase, deletePrefix, freshQueuePrefix, heraldEnv, REPO_ROOT, type TestDatabase } from "@herald/testing";
import { afterAll, describe, expect, it } from "vitest";
import {
  API_STARTED,
  killAll,
  type OperatorCommand,
  type ProcessEntry,
  processTree,
  runNpm,
  WORKER_STARTED,
  waitUntilGone,
} from "./process-support.ts";

let database: TestDatabase | undefined;
let queuePrefix: string | undefined;
const commands: OperatorCommand[] = [];

afterAll(async () => {
  // Stop the way an operator does; whatever a broken chain leaves behind is killed, so a failure leaks nothing.
  const trees: ProcessEntry[] = commands.flatMap((command) => processTree(command.pid));
  for (const command of commands) if (command.child.exitCode === null) command.child.kill("SIGTERM");
  killAll(await waitUntilGone(trees, 30_000));
  if (queuePrefix) await deletePrefix(queuePrefix);
  await database?.drop();
});

describe("processes started together from one checkout", () => {
  it("all start: 3 workers and 2 APIs at the same instant, each building its bundle first", { timeout: 180_000 }, async () => {
    database = await createTestDatabase();
    queuePrefix = freshQueuePrefix();
    const env = heraldEnv(database, queuePrefix);
    // Bundles from an earlier build: what a running process would be using when more start.
    const build = runNpm(["run", "build", "--silent", "-w", "@herald/api", "-w", "@herald/worker"], {});
    expect(await build.exited, build.output()).toBe(0);
    const bundleFiles = ["apps/api/dist/main.mjs", "apps/api/dist/docs/reference.js", "apps/worker/dist/main.mjs"];
    const vanished = new Set<string>();
    let starting = true;
    // Sampled all through the starts: a build that deletes the bundle before writing it shows here even when every
    // process happens to load in between (the deletion lasts as long as esbuild bundles, 100 ms and more).
    const sampling = (async () => {
      while (starting) {
        for (const file of bundleFiles) if (!existsSync(join(REPO_ROOT, file))) vanished.add(file);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    // As the README's "Scaling out" loop does: no waiting between starts.
    const starts = [
      ...Array.from({ length: 3 }, () => ({ command: runNpm(["run", "start:worker"], env), started: WORKER_STARTED })),
      ...Array.from({ length: 2 }, () => ({ command: runNpm(["run", "start:api"], env), started: API_STARTED })),
    ];
    commands.push(...starts.map((start) => start.command));

    const results = await Promise.allSettled(starts.map(({ command, started }) => command.waitFor(started)));
    starting = false;
    await sampling;
    const failures = results.flatMap((result) => (result.status === "rejected" ? [String(result.reason)] : []));
    expect(failures, failures.join("\n\n")).toEqual([]);
    expect([...vanished], "bundle files deleted while processes were starting").toEqual([]);
    // Started, and still running: none died after its line (an API reads files next to its bundle as it loads).
    expect(starts.map(({ command }) => command.child.exitCode ?? command.child.signalCode)).toEqual([null, null, null, null, null]);

    // The APIs serve the asset copied next to the bundle whole, as it is in the source.
    const asset = readFileSync(join(REPO_ROOT, "apps/api/src/routes/docs/reference.js"), "utf8");
    for (const result of results.slice(3)) {
      const baseUrl = (result as PromiseFulfilledResult<RegExpMatchArray>).value[1] as string;
      const docs = await fetch(`${baseUrl}/docs/reference.js`);
      expect(docs.status).toBe(200);
      expect(await docs.text()).toBe(asset);
    }
  });
});
