// Entry used by `npm run serve` (through tsx) and, compiled, by bin/worker9p.js.
import { main } from "./main.js";

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === "number") process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`worker9p: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
