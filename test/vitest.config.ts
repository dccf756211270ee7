import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts", "bench/**/*.test.ts", "browser/**/*.test.ts"],
    testTimeout: 60_000,
    // Starting a whole Herald (a database, an API and workers) on two busy cores can take most of a minute.
    hookTimeout: 120_000,
  },
});
