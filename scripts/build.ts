/**
 * `npm run build -w @herald/<app>` (or `tsx scripts/build.ts apps/<app>`):
 * bundles the app in the current directory, or the one named, into `dist/`.
 * Safe to run while other processes run or load that bundle: see bundle-app.ts.
 */
import { resolve } from "node:path";
import { bundleApp } from "./bundle-app.ts";

await bundleApp(resolve(process.argv[2] ?? "."));
