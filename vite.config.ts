import { defineConfig } from "vitest/config";

// One config serves the dev server (npm start), the worker bundle and vitest.
export default defineConfig({
  worker: { format: "es" },
  server: {
    // The guest image cache is large and never part of the page.
    watch: { ignored: ["**/.cache/**", "**/dist/**"] },
  },
  test: {
    include: ["src/**/*.test.ts", "e2e/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
