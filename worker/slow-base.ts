// A test hook for Tflush through the base image: fetches of the pieces of chosen base files wait
// a while first, abortably, the way a slow network would. The guest's read of such a file then
// sleeps in a 9P request for that long, so a test can kill it there and see the abort reach
// fetch() (BaseImage.stats.abortedFetches). Other fetches go through at once, so a boot is not
// slowed down.

import { delay } from "../src/protocol/errno.js";
import type { ImageIndex, ImageManifest } from "../src/storage/image/format.js";

/** Bytes [start, end) of one pack file. */
interface PackRange {
  file: string;
  start: number;
  end: number;
}

export interface SlowBaseFetch {
  fetch: typeof fetch;
  /** Hold from now on the fetches that touch these files' pieces (absolute paths in the image). */
  hold(index: ImageIndex, manifest: ImageManifest, paths: string[]): void;
}

export function slowBaseFetch(inner: typeof fetch, delayMs: number): SlowBaseFetch {
  let held: PackRange[] = [];
  const isHeld = (url: string, range: string | null): boolean => {
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const end = m ? Number(m[2]) + 1 : Infinity;
    return held.some((h) => url.endsWith(`/${h.file}`) && h.start < end && start < h.end);
  };
  return {
    fetch: async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (delayMs > 0 && isHeld(url, new Headers(init?.headers).get("range"))) await delay(delayMs, init?.signal ?? undefined);
      return inner(input, init);
    },
    hold(index, manifest, paths) {
      held = paths.flatMap((p) => {
        const node = index.inodes[lookup(index, p) - 1]!;
        return (node.pieces ?? [])
          .filter((id) => id >= 0)
          .map((id) => {
            const piece = index.pieces[id]!;
            return { file: manifest.packs[piece.pack]!.file, start: piece.offset, end: piece.offset + piece.stored };
          });
      });
    },
  };
}

/** The inode number of absolute path `p` in the image (no symlinks followed). */
function lookup(index: ImageIndex, p: string): number {
  const enc = new TextEncoder();
  let ino = 1;
  for (const name of p.split("/").filter(Boolean)) {
    const want = enc.encode(name);
    const e = index.inodes[ino - 1]?.entries?.find((x) => x.name.length === want.length && x.name.every((b, i) => b === want[i]));
    if (!e) throw new Error(`slow base file ${p}: no ${name} in the image`);
    ino = e.ino;
  }
  return ino;
}
