// npm run image [-- --print] [-- --refresh] [-- --no-profile]
// Builds the Debian root (build.ts) unless its key is built, records its boot profile (profile.ts)
// unless recorded, and prints a summary. --print: progress only (stderr), then the image folder
// as the last line of stdout. --refresh: apt-get update first.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDebianImage } from "./build.js";
import { ensureProfile } from "./profile.js";

async function main(argv: string[]): Promise<void> {
  const print = argv.includes("--print");
  const log = (l: string) => console.error(l);
  const started = performance.now();
  const image = await ensureDebianImage({ refresh: argv.includes("--refresh"), log });
  if (!argv.includes("--no-profile")) await ensureProfile(image, log);
  if (!print) {
    const m = image.manifest;
    const s = m.stats;
    console.log(`key       ${image.key}`);
    console.log(`packages  ${m.packages.length} (listed: ${m.requested.join(" ")})`);
    console.log(`tree      ${s.files} files, ${s.dirs} directories, ${s.symlinks} symlinks, ${(s.bytes / 2 ** 20).toFixed(1)} MiB`);
    console.log(`built in  ${(m.buildMs / 1000).toFixed(0)} s; this run ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  console.log(image.dir);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(`image: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
