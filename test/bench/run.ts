/**
 * `npm run bench [-- --full] [--only=throughput,latency] [--profile=<dir>] [--env NAME=value ...]
 *  [--soak-seconds=60] [--soak-rate=600] [--soak-faults=2]`
 *
 * Runs the reference points and every Herald scenario against real
 * processes, prints one JSON line per scenario on stdout (progress goes to
 * stderr), and writes BENCHMARKS.md and benchmarks.svg at the repository root.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT, TEST_ADMIN_URL, TEST_REDIS_URL } from "@herald/testing";
import { barChart } from "./chart.ts";
import { describeMachine } from "./machine.ts";
import { log } from "./progress.ts";
import { startBenchRedis } from "./redis-server.ts";
import { chartBars, judgeTargets, renderReport } from "./report.ts";
import { SIZES } from "./sizes.ts";
import { runSuite, SCENARIOS, type ScenarioName } from "./suite.ts";

const { values } = parseArgs({
  options: {
    full: { type: "boolean", default: false },
    only: { type: "string" },
    profile: { type: "string" },
    env: { type: "string", multiple: true },
    "no-write": { type: "boolean", default: false },
    "soak-seconds": { type: "string" },
    "soak-rate": { type: "string" },
    /** Faults per minute of soak. */
    "soak-faults": { type: "string" },
  },
});

const only = values.only?.split(",").map((name) => name.trim()) as ScenarioName[] | undefined;
const unknown = only?.filter((name) => !SCENARIOS.includes(name));
if (unknown && unknown.length > 0) {
  console.error(`unknown scenario(s): ${unknown.join(", ")}; choose from ${SCENARIOS.join(", ")}`);
  process.exit(2);
}
const positive = (flag: string, text: string | undefined) => {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`--${flag} must be a positive number, got "${text}"`);
    process.exit(2);
  }
  return value;
};
const base = values.full ? SIZES.full : SIZES.quick;
const sizes = {
  ...base,
  soakSeconds: positive("soak-seconds", values["soak-seconds"]) ?? base.soakSeconds,
  soakRate: positive("soak-rate", values["soak-rate"]) ?? base.soakRate,
  soakFaultsPerMinute: positive("soak-faults", values["soak-faults"]) ?? base.soakFaultsPerMinute,
};
const env = Object.fromEntries((values.env ?? []).map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
const profileDir = values.profile ? resolve(values.profile) : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

// Herald runs as operators run it: the production bundles of `npm run start:api` / `start:worker`.
for (const app of ["@herald/api", "@herald/worker"]) {
  const built = spawnSync("npm", ["run", "build", "--silent", "-w", app], { cwd: REPO_ROOT, stdio: "inherit" });
  if (built.status !== 0) process.exit(built.status ?? 1);
}
const redis = await startBenchRedis(TEST_REDIS_URL);
log(`${sizes.mode} mode; Redis: ${redis.dedicated ? `a private redis-server at ${redis.url}` : redis.url}`);
const started = Date.now();
try {
  const machine = await describeMachine(TEST_ADMIN_URL, redis.url);
  const results = await runSuite({
    sizes,
    redisUrl: redis.url,
    profileDir,
    env,
    only,
    built: true,
    emit: (line) => console.log(JSON.stringify(line)),
  });
  log(`finished in ${Math.round((Date.now() - started) / 1000)} s`);
  for (const target of judgeTargets(results)) {
    log(`${target.met === null ? "not measured" : target.met ? "met   " : "MISSED"}  ${target.target}: ${target.measured}`);
  }
  if (!values["no-write"]) {
    const args = [
      values.full ? "--full" : "",
      only ? `--only=${only.join(",")}` : "",
      values["soak-seconds"] ? `--soak-seconds=${values["soak-seconds"]}` : "",
      values["soak-rate"] ? `--soak-rate=${values["soak-rate"]}` : "",
      values["soak-faults"] ? `--soak-faults=${values["soak-faults"]}` : "",
      ...(values.env ?? []).map((pair) => `--env ${pair}`),
    ];
    const report = renderReport(results, machine, {
      command: ["npm run bench", ...(args.some(Boolean) ? ["--", ...args.filter(Boolean)] : [])].join(" "),
      mode: sizes.mode,
      redis: redis.dedicated ? "a private redis-server started by the suite, no persistence" : "the machine's Redis",
      date: `${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    });
    writeFileSync(join(REPO_ROOT, "BENCHMARKS.md"), report);
    writeFileSync(join(REPO_ROOT, "benchmarks.svg"), barChart("Deliveries per second, one run", "higher is better", chartBars(results)));
    log("wrote BENCHMARKS.md and benchmarks.svg");
  }
  if (results.errors.length > 0) process.exitCode = 1;
} finally {
  await redis.stop();
}
