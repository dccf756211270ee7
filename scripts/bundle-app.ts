/**
 * Bundles an app and the workspace packages it imports into `dist/main.mjs`,
 * so production runs plain Node.js instead of TypeScript through a loader
 * (about 50 MiB less memory per process). npm packages stay external and load
 * from node_modules as usual.
 *
 * Every start builds first, and operators start several processes from one
 * checkout at the same moment (`for i in 1 2 3 4; do npm run start:worker & done`).
 * So a build never deletes `dist/` or anything in it: each file is written
 * under a temporary name and renamed over the old one. A rename is atomic, so a
 * process loading the bundle, or reading an asset next to it, gets the old file
 * or the new one whole, never a missing or half-written one.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { build, stop } from "esbuild";

const ROOT = join(import.meta.dirname, "..");

/** Files read at run time next to the module that reads them: they move next to the bundle. */
const ASSET_DIRS = ["src/ui/assets", "src/routes/docs"];

function externalPackages(): string[] {
  const workspaces = ["apps", "packages"].flatMap((dir) => readdirSync(join(ROOT, dir)).map((name) => join(ROOT, dir, name)));
  const external = new Set<string>();
  for (const dir of workspaces) {
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    for (const name of Object.keys(manifest.dependencies ?? {})) if (!name.startsWith("@herald/")) external.add(name);
  }
  // Subpath imports (hono/body-limit, drizzle-orm/pg-core) are external too.
  return [...external].flatMap((name) => [name, `${name}/*`]);
}

function writeAtomically(path: string, contents: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    writeFileSync(temporary, contents);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Builds `<app>/dist` from `<app>/src/main.ts`; `app` is the app's directory. */
export async function bundleApp(app: string): Promise<void> {
  const dist = join(app, "dist");
  try {
    const result = await build({
      entryPoints: [join(app, "src", "main.ts")],
      outfile: join(dist, "main.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      sourcemap: true,
      external: externalPackages(),
      logLevel: "warning",
      write: false,
      // Comments in the bundle name paths relative to this, so every way of building writes the same bytes.
      absWorkingDir: app,
    });
    for (const file of result.outputFiles) writeAtomically(file.path, file.contents);
  } finally {
    // esbuild keeps a service process for the next build; a start that builds and then runs for days needs none.
    await stop();
  }
  for (const assets of ASSET_DIRS) {
    const from = join(app, assets);
    if (!existsSync(from)) continue;
    const to = join(dist, assets.split("/").at(-1) as string);
    for (const file of filesUnder(from)) writeAtomically(join(to, relative(from, file)), readFileSync(file));
  }
}
