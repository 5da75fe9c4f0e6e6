import { defineConfig } from "vitest/config";

// One run for every tier. Files run one at a time: lab tests build network namespaces and real daemons, and the
// machines have 2 cores. Integration and e2e tests skip themselves when not root or when a tool is missing.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ["default", "./test/summary-reporter.ts"],
  },
});
