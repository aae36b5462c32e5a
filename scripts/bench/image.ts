/**
 * npm run bench:image [-- --image DIR] — the base image's storage path under
 * Node, side by side with the tree imported into memory (what the guest
 * harness did before base images): open + reading the boot profile's files
 * cold (empty piece cache), warm (cache filled), and from the imported tree.
 * Pieces come from local files through the same fetch path a browser uses, so
 * this measures hashing, inflating and the layered store, not a network.
 * (The issue's in-browser boot comparison with v86's basefs is not here yet.)
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { ROOT_INO } from "../../src/fs/constants.js";
import { FileSystem } from "../../src/fs/filesystem.js";
import type { OpContext } from "../../src/fs/types.js";
import { DirImageCache } from "../../src/storage/image/cache-node.js";
import { fileFetch, imageDirUrl } from "../../src/storage/image/file-fetch.js";
import { BaseImage } from "../../src/storage/image/reader.js";
import { LayeredStore } from "../../src/storage/layered/layered-store.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { importTree } from "../../worker/import-tree.js";

const ctx: OpContext = { signal: new AbortController().signal };
const MiB = 2 ** 20;

/** The newest .cache/image/<key>/base with a written image. */
function defaultImage(): string {
  const root = path.resolve(import.meta.dirname, "../../.cache/image");
  const dirs = existsSync(root) ? readdirSync(root).map((k) => path.join(root, k, "base")).filter((d) => existsSync(path.join(d, "image.json"))) : [];
  dirs.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (!dirs[0]) throw new Error("no base image in .cache/image/*/base: run npm run image first, or pass --image DIR");
  return dirs[0];
}

async function readAll(fs: FileSystem, paths: string[]): Promise<number> {
  let bytes = 0;
  for (const p of paths) {
    const parts = p.split("/").filter(Boolean);
    const w = await fs.walk(ROOT_INO, parts, ctx);
    if (w.qids.length < parts.length) continue;
    const attr = await fs.getattr(w.ino, ctx);
    if ((attr.mode & 0o170000) !== 0o100000) continue;
    const buf = new Uint8Array(attr.size);
    bytes += await fs.readInto(w.ino, 0, buf, ctx);
  }
  return bytes;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { image: { type: "string" } } });
  const dir = path.resolve(values.image ?? defaultImage());
  const profileFile = path.join(dir, "..", "profile.txt");
  const rootfs = path.join(dir, "..", "rootfs");
  const profile = existsSync(profileFile) ? readFileSync(profileFile, "utf8").split("\n").filter(Boolean) : [];
  const cacheDir = mkdtempSync(path.join(tmpdir(), "w9p-bench-image-"));
  const rows: [string, number, number, number][] = [];
  try {
    const run = async (label: string): Promise<number> => {
      const t0 = performance.now();
      const image = await BaseImage.open(imageDirUrl(dir), { fetch: fileFetch, cache: new DirImageCache(cacheDir) });
      const fs = await FileSystem.open(await LayeredStore.open(new MemoryStore(), image));
      await readAll(fs, profile);
      const ms = performance.now() - t0;
      await image.settled();
      rows.push([label, ms, image.stats.requests, image.stats.fetchedBytes]);
      if (label === "cold") console.log(`image: ${dir}\n  ${image.manifest.inodes} inodes, ${(image.manifest.fileBytes / MiB).toFixed(1)} MiB of files, ${(image.manifest.storedBytes / MiB).toFixed(1)} MiB stored; profile: ${profile.length} paths`);
      return image.manifest.storedBytes;
    };
    const stored = await run("cold");
    await run("warm");
    let importMs = NaN;
    let readMs = NaN;
    if (existsSync(rootfs)) {
      const t0 = performance.now();
      const fs = await FileSystem.open(new MemoryStore());
      await importTree(fs, rootfs, fs.rootIno, { signal: ctx.signal, name: "" });
      importMs = performance.now() - t0;
      const t1 = performance.now();
      await readAll(fs, profile);
      readMs = performance.now() - t1;
    }
    const imported = importMs + readMs;
    console.log("\n| open + read the boot profile | ms | requests | MiB fetched | % of image | vs import |");
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const [label, ms, requests, fetched] of rows) {
      console.log(`| base image, ${label} cache | ${ms.toFixed(0)} | ${requests} | ${(fetched / MiB).toFixed(2)} | ${((100 * fetched) / stored).toFixed(1)} % | ${(ms / imported).toFixed(3)}× |`);
    }
    console.log(`| rootfs imported into memory (import ${importMs.toFixed(0)} + read ${readMs.toFixed(0)}) | ${imported.toFixed(0)} | – | – | – | 1× |`);
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();
