// npm run image [-- --print] [-- --refresh] [-- --no-profile]
// Builds the Debian root (build.ts) unless its key is built, records its boot profile (profile.ts)
// and writes it as a worker9p base image, profile first (base.ts), unless done, and prints a
// summary. --no-profile: the tree only. --print: progress only (stderr), then the image folder
// as the last line of stdout. --refresh: apt-get update first.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDebianImage } from "./build.js";
import { baseDir, ensureBaseImage } from "./base.js";
import { ensureProfile } from "./profile.js";

async function main(argv: string[]): Promise<void> {
  const print = argv.includes("--print");
  const log = (l: string) => console.error(l);
  const started = performance.now();
  const image = await ensureDebianImage({ refresh: argv.includes("--refresh"), log });
  const base = argv.includes("--no-profile") ? undefined : await ensureBaseImage(image, await ensureProfile(image, log), log);
  if (!print) {
    const m = image.manifest;
    const s = m.stats;
    console.log(`key       ${image.key}`);
    console.log(`packages  ${m.packages.length} (listed: ${m.requested.join(" ")})`);
    console.log(`tree      ${s.files} files, ${s.dirs} directories, ${s.symlinks} symlinks, ${(s.bytes / 2 ** 20).toFixed(1)} MiB`);
    if (base) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      console.log(`base      ${baseDir(image)}: ${base.inodes} inodes, ${mib(base.fileBytes)} → ${mib(base.storedBytes)} stored in ${base.packs.length} packs; profile ${mib(base.profileBytes)} (${((100 * base.profileBytes) / base.storedBytes).toFixed(1)} %)`);
    }
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
