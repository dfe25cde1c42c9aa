import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Integration and end-to-end files each own a database, an emulator and sometimes a child process.
    pool: "forks",
    // Expected errors (a 500 on purpose, a refused photo) would otherwise fill the output with JSON logs.
    env: { POWERTOOLS_LOG_LEVEL: "SILENT", POWERTOOLS_METRICS_DISABLED: "true", NO_COLOR: "1" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
