import { defineConfig } from "vitest/config";
import { guestFiles } from "./scripts/workspace/guest-files.js";

// One config serves the dev server (npm start: the workspace), the worker bundle and vitest.
export default defineConfig({
  plugins: [guestFiles()],
  worker: { format: "es" },
  server: {
    // The guest image cache is large and never part of the page.
    watch: { ignored: ["**/.cache/**", "**/dist/**", "**/test-results/**"] },
  },
  test: {
    include: ["src/**/*.test.ts", "e2e/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
