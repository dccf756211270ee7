import { defineConfig } from "vitest/config";

export default defineConfig({
  // Starting a whole Herald (a database, an API and a worker) on two busy cores can take most of a minute.
  test: { testTimeout: 60_000, hookTimeout: 120_000 },
});
