#!/usr/bin/env node
// The CLI is compiled to dist/ by `npm run build`, which `npm ci` runs (prepare).
import "../dist/cli/run.js";
