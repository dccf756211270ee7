import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["e2e/**/*.test.ts", "bench/**/*.test.ts", "browser/**/*.test.ts"],
    testTimeout: 60_000,
    // Starting a whole Herald (a database, an API and workers) on two busy cores can take most of a minute.
    hookTimeout: 120_000,
    // Vitest's default on two cores is one file at a time. These files mostly wait on the processes they start
    // (API, workers, receivers, PostgreSQL and Redis do the work), so two run at once: this workspace is the
    // longest part of CI.
    maxWorkers: 2,
  },
});
