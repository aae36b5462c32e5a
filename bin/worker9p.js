#!/usr/bin/env -S node --initial-old-space-size=128
// The CLI is compiled to dist/ by `npm run build`, which `npm ci` runs (prepare).
// The flag on the first line is SERVE_NODE_FLAGS (src/cli/node-flags.ts says why).
import "../dist/cli/run.js";
