// A test hook for Tflush through the base image: fetches of the pieces of chosen base files wait
// until they are aborted, the way a network that never answers would (like the fs's stuck* names,
// src/fs/latency.ts). The guest's read of such a file then sleeps in a 9P request until a test
// kills it there, and the kill's Tflush must reach fetch() (BaseImage.stats.abortedFetches) for
// the wait to end: no clock decides whether the kill comes while the fetch waits. Once `aborts`
// held fetches have been aborted the hold lifts (those still waiting go on), so a read nobody
// kills gets the bytes afterwards. Other fetches go through at once, so a boot is not slowed down.
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

export function slowBaseFetch(inner: typeof fetch, aborts: number): SlowBaseFetch {
  let held: PackRange[] = [];
  let aborted = 0;
  let lift = (): void => undefined;
  const lifted = new Promise<void>((resolve) => (lift = resolve));
  const countAbort = (): void => {
    if (++aborted === aborts) lift();
  };
  const isHeld = (url: string, range: string | null): boolean => {
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    const start = m ? Number(m[1]) : 0;
    const end = m ? Number(m[2]) + 1 : Infinity;
    return held.some((h) => url.endsWith(`/${h.file}`) && h.start < end && start < h.end);
  };
  return {
    fetch: async (input, init) => {
      const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
      if (aborted < aborts && isHeld(url, new Headers(init?.headers).get("range"))) await untilAborted(init?.signal ?? undefined, lifted, countAbort);
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

/** Waits until `signal` aborts (then calls onAbort and rejects with its reason) or `lifted` resolves. */
function untilAborted(signal: AbortSignal | undefined, lifted: Promise<void>, onAbort: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      onAbort();
      reject(signal!.reason);
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort, { once: true });
    void lifted.then(() => {
      signal?.removeEventListener("abort", abort);
      resolve();
    });
  });
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
