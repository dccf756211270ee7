#!/usr/bin/env node
// `npx herald` from a checkout: runs the TypeScript source through tsx, so it
// is always the code of this checkout and needs no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/main.ts");
process.exitCode = await main(process.argv);
