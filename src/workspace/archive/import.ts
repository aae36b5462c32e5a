/**
 * Import entries (from a tar, a dropped folder or picked files) into a folder of
 * the tree, all or nothing.
 *
 * Invariant (2), atomic landing: everything is first written into a hidden staging
 * folder inside the target (`.worker9p-import-XXXX`), checked there, and only then
 * renamed into place, one rename per top-level name. Staging sits in the target
 * itself so each of those renames stays inside one directory. A failure before the
 * renames (a corrupt entry, a refused name, storage full, cancel) removes the
 * staging folder and leaves the target as it was; a failure among the renames
 * moves back what was already moved. Top-level names that already exist in the
 * target are a conflict reported before anything moves.
 */
import type { Client } from "../../client/client.js";
import { AT_REMOVEDIR } from "../../protocol/constants.js";
import { Errno, FsError } from "../../protocol/errno.js";
import { ArchiveError, entryComponents, symlinkStaysInside } from "./entry-path.js";
import { hardlink, joinPath, kindOf, listNames, readAllBytes, removeTree, setModeMtime, STAGING_PREFIX, symlink, tryLstat, writeFileFromStream } from "./tree9p.js";

export interface ImportEntry {
  /** The entry's name in the archive: slash separated, relative to the import target. */
  name: string;
  type: "file" | "directory" | "symlink" | "link" | "other";
  size: number;
  /** Permission bits (0o7777). */
  mode?: number;
  mtime?: Date;
  /** Symlink target, or for a hard link the name of the earlier entry it links to. */
  linkname?: string;
  /** A file's bytes. Always consumed or cancelled by the importer. */
  body?: ReadableStream<Uint8Array>;
}

export interface ImportProgress {
  entries: number;
  /** File bytes written into the tree so far. */
  bytes: number;
  /** The entry being written. */
  current: string;
}

export interface ImportOptions {
  signal?: AbortSignal;
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportResult {
  files: number;
  directories: number;
  symlinks: number;
  hardLinks: number;
  bytes: number;
  /** The names that landed directly in the target. */
  topLevel: string[];
  /** Entries of kinds the tree does not import (devices, fifos), by name. */
  skipped: string[];
}

export { STAGING_PREFIX } from "./tree9p.js";

function stagingName(): string {
  const r = new Uint8Array(6);
  crypto.getRandomValues(r);
  return STAGING_PREFIX + Array.from(r, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Files up to this size are read whole from the archive and written while the next
 * entries are read, up to WRITES_IN_FLIGHT at a time: a small file costs a few
 * 9P round trips and little else, so overlapping them is what makes 10,000 of
 * them fast. Larger files stream one at a time. Memory held: at most
 * SMALL_FILE × WRITES_IN_FLIGHT.
 */
const SMALL_FILE = 256 * 1024;
const WRITES_IN_FLIGHT = 16;

const isAbort = (e: unknown): boolean => e instanceof Error && e.name === "AbortError";

/** Turn whatever stopped an import into one message for the page. */
export function importFailure(e: unknown, entry: string | undefined): ArchiveError {
  const at = entry === undefined ? "" : ` while writing "${entry}"`;
  if (e instanceof ArchiveError) return e;
  if (e instanceof FsError && e.errno === Errno.ENOSPC) return new ArchiveError(`storage full${at}: nothing was imported`, entry, "full");
  if (isAbort(e)) return new ArchiveError("import cancelled: nothing was imported", entry, "cancelled");
  const msg = e instanceof Error ? e.message : String(e);
  return new ArchiveError(`import failed${at}: ${msg}; nothing was imported`, entry, "failed");
}

/** Import `entries` into the folder `target` (a path from the tree's root; "" is the root). */
export async function importEntries(client: Client, target: string, entries: AsyncIterable<ImportEntry>, options: ImportOptions = {}): Promise<ImportResult> {
  const { signal } = options;
  const attr = await tryLstat(client, target, signal);
  if (!attr || kindOf(attr.mode) !== "directory") throw new ArchiveError(`import target "${target || "/"}" is not a folder`, undefined, "failed");

  const staging = joinPath(target, stagingName());
  await client.mkdir(staging, 0o700);
  const result: ImportResult = { files: 0, directories: 0, symlinks: 0, hardLinks: 0, bytes: 0, topLevel: [], skipped: [] };
  /** What each relative path in staging is, so duplicates and parents need no round trip. */
  const made = new Map<string, ImportEntry["type"]>();
  const dirMeta: { rel: string; mode?: number; mtime?: Date }[] = [];
  let current: string | undefined;
  let count = 0;
  const progress = () => options.onProgress?.({ entries: count, bytes: result.bytes, current: current ?? "" });

  /** Small-file writes under way, by relative path; the first failure is kept for the loop to throw. */
  const inFlight = new Map<string, Promise<void>>();
  let firstFailure: { error: unknown; entry: string } | undefined;
  const checkFailure = () => {
    if (firstFailure) {
      current = firstFailure.entry;
      throw firstFailure.error;
    }
  };
  /** Wait for every write under way (before a link to one of them, a replacement, or the landing). */
  const drain = async () => {
    await Promise.allSettled(inFlight.values());
    checkFailure();
  };
  const launch = (rel: string, entry: string, write: Promise<void>) => {
    const p = write.then(
      () => void inFlight.delete(rel),
      (error: unknown) => {
        inFlight.delete(rel);
        firstFailure ??= { error, entry };
      },
    );
    inFlight.set(rel, p);
  };

  const ensureDir = async (parts: readonly string[]): Promise<void> => {
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join("/");
      const kind = made.get(rel);
      if (kind === "directory") continue;
      if (kind !== undefined) throw new ArchiveError(`refused "${current}": "${rel}" is not a folder in this archive`, current);
      await client.mkdir(joinPath(staging, rel), 0o755);
      made.set(rel, "directory");
      result.directories++;
    }
  };
  /** Make room for `rel` when an earlier entry of another kind took its name (tar: the last entry wins). */
  const replace = async (rel: string, type: ImportEntry["type"]): Promise<void> => {
    if (inFlight.has(rel)) await drain();
    const had = made.get(rel);
    if (had === undefined || (had === type && type !== "symlink" && type !== "link")) return;
    await removeTree(client, joinPath(staging, rel), signal);
    for (const k of [...made.keys()]) if (k === rel || k.startsWith(rel + "/")) made.delete(k);
  };

  try {
    for await (const entry of entries) {
      signal?.throwIfAborted();
      checkFailure();
      current = entry.name;
      try {
        const parts = entryComponents(entry.name);
        if (parts.length === 0 || entry.type === "other") {
          if (entry.type === "other") result.skipped.push(entry.name);
          continue;
        }
        const rel = parts.join("/");
        const path = joinPath(staging, rel);
        await ensureDir(parts.slice(0, -1));
        switch (entry.type) {
          case "directory":
            await replace(rel, "directory");
            if (made.get(rel) !== "directory") {
              await client.mkdir(path, 0o755);
              made.set(rel, "directory");
              result.directories++;
            }
            dirMeta.push({ rel, ...(entry.mode !== undefined ? { mode: entry.mode } : {}), ...(entry.mtime ? { mtime: entry.mtime } : {}) });
            break;
          case "file": {
            await replace(rel, "file");
            const body = entry.body ?? new Blob([]).stream();
            entry.body = undefined;
            made.set(rel, "file");
            result.files++;
            if (entry.size <= SMALL_FILE) {
              const data = await readAllBytes(body, entry.size);
              while (inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(inFlight.values());
              checkFailure();
              const onBytes = (n: number) => {
                result.bytes += n;
                progress();
              };
              launch(rel, entry.name, writeFileFromStream(client, path, data, entry.mode ?? 0o644, onBytes, signal, entry.mtime).then(() => {}));
            } else {
              await writeFileFromStream(client, path, body, entry.mode ?? 0o644, (n) => {
                result.bytes += n;
                progress();
              }, signal, entry.mtime);
            }
            break;
          }
          case "symlink": {
            const to = entry.linkname ?? "";
            if (!symlinkStaysInside(parts, to)) throw new ArchiveError(`refused symlink "${entry.name}" → "${to}": it points outside the target folder`, entry.name);
            await replace(rel, "symlink");
            await symlink(client, path, to, signal);
            made.set(rel, "symlink");
            result.symlinks++;
            break;
          }
          case "link": {
            await drain();
            const to = entryComponents(entry.linkname ?? "").join("/");
            if (made.get(to) !== "file") throw new ArchiveError(`refused hard link "${entry.name}" → "${entry.linkname}": it must name a file earlier in the archive`, entry.name);
            await replace(rel, "link");
            await hardlink(client, joinPath(staging, to), path, signal);
            made.set(rel, "file");
            result.hardLinks++;
            break;
          }
        }
      } finally {
        await entry.body?.cancel().catch(() => {});
      }
      count++;
      progress();
    }
    await drain();
    current = undefined;
    // Children changed their folders' mtimes: set the folders' own last, deepest first.
    for (const d of dirMeta.sort((a, b) => b.rel.split("/").length - a.rel.split("/").length)) {
      await setModeMtime(client, joinPath(staging, d.rel), d.mode, d.mtime, signal);
    }
    result.topLevel = await listNames(client, staging);
    for (const name of result.topLevel) {
      if (await tryLstat(client, joinPath(target, name), signal)) {
        throw new ArchiveError(`"${name}" already exists in "${target || "/"}": nothing was imported (rename or delete it, or import into another folder)`, name, "conflict");
      }
    }
    signal?.throwIfAborted();
  } catch (e) {
    // No write may still be under way when the staging folder goes.
    await Promise.allSettled(inFlight.values());
    await removeTree(client, staging).catch(() => {});
    throw importFailure(e, current);
  }

  // The landing: past this point nothing is cancelled, so the tree never ends half-moved.
  const moved: string[] = [];
  try {
    for (const name of result.topLevel) {
      await client.rename(joinPath(staging, name), joinPath(target, name));
      moved.push(name);
    }
  } catch (e) {
    for (const name of moved.reverse()) await client.rename(joinPath(target, name), joinPath(staging, name)).catch(() => {});
    await removeTree(client, staging).catch(() => {});
    throw importFailure(e, undefined);
  }
  await client.unlink(staging, AT_REMOVEDIR).catch(() => {});
  return result;
}
