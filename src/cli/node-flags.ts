/**
 * V8 flags `worker9p serve` runs with (bin/worker9p.js passes them on its
 * shebang line, `npm run serve` and the benchmark on the command line; a test
 * keeps the three in step).
 *
 * Why: every Twrite frame is an ArrayBuffer of its own that the memory store
 * keeps as file data (no copy), so a write-heavy client allocates backing
 * stores at the rate it sends bytes. With V8's default starting old-space
 * size, that external allocation starts a full mark-compact every ~100
 * writes of 64 KiB (54 per 1.25 GiB written, measured), and a sequential
 * one-in-flight writer spends ~40% of the server's CPU in them. A larger
 * starting old space lets V8 size its limits to a server's working set from
 * the start: 15 mark-compacts for the same writes, server CPU per 64 KiB
 * Twrite ~90 → ~45 µs. It is a starting size, not a cap: memory is taken
 * only as it is used.
 */
export const SERVE_NODE_FLAGS = ["--initial-old-space-size=128"] as const;
