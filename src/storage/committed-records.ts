import type { EntryRecord, InodeRecord } from "./store.js";

/**
 * Committed inode, entry and meta records of a store whose writers run one
 * at a time (WriterBatcher). A writer reads them here instead of asking
 * IndexedDB (a round trip of ~0.3 ms in Chromium, several per operation
 * otherwise), and its own changes enter only when it has committed — so
 * what is here is exactly the committed state the next writer starts from.
 *
 * Readers may use them too, under the store's rules (OPFS invariant 7,
 * opfs.ts; IndexedDB invariant 1, indexeddb.ts), and may add what they read from
 * IndexedDB only through remember*If, which refuses once a commit landed
 * since the lookup began (`version`; OPFS invariant 8, opfs.ts). Bounded:
 * least recently used first.
 */
export class CommittedRecords {
  /** Bumped by every commit applied. */
  version = 0;
  private readonly inodes = new Map<number, InodeRecord | null>();
  private readonly entries = new Map<string, EntryRecord | null>();
  private readonly meta = new Map<string, unknown>();
  /** Directories all of whose committed entries are in `entries` (rememberDir). */
  private readonly completeDirs = new Set<number>();
  private readonly largeDirs = new Set<number>();

  constructor(private readonly maxRecords = 50_000) {}

  /** The committed record, null when known absent, undefined when not known. */
  inode(ino: number): InodeRecord | null | undefined {
    return touch(this.inodes, ino);
  }

  /**
   * The committed entry under `key` (entryKey(dir, name)); with `dir`, null also when the
   * directory is complete here (completeDir) and the name is not in it.
   */
  entry(key: string, dir?: number): EntryRecord | null | undefined {
    const e = touch(this.entries, key);
    if (e === undefined && dir !== undefined && this.completeDirs.has(dir)) return null;
    return e;
  }

  /** A directory found too large to read whole (rememberDir's caller): a hint, bounded, forgotten by clear(). */
  markLarge(dir: number): void {
    putLatest(this.largeDirs, dir, 1024);
  }

  isLarge(dir: number): boolean {
    return this.largeDirs.has(dir);
  }

  /** Whether every entry of `dir` is here, so that a name not here is not in it. */
  isComplete(dir: number): boolean {
    return this.completeDirs.has(dir);
  }

  /**
   * A writer read all of `dir`'s committed entries (keyed by entryKey): from now on a name not
   * here is known absent. Commits keep that true (apply sees every change of an entry); evicting
   * one of the directory's entries ends it. A directory bigger than a tenth of the bound is not
   * kept whole.
   */
  rememberDir(dir: number, entries: [string, EntryRecord][]): void {
    if (entries.length > this.maxRecords / 10) return;
    for (const [k, e] of entries) this.rememberEntry(k, e);
    // Evicting to make room may have taken some of them (their directory was not complete yet).
    if (!entries.every(([k]) => this.entries.get(k) !== undefined)) return;
    // An empty directory has no entry whose eviction would end it: bound them here (forgetting one only costs a lookup).
    putLatest(this.completeDirs, dir, this.maxRecords);
  }

  /** What a value read from the committed state by the only writer turned out to be. */
  rememberInode(ino: number, rec: InodeRecord | null): void {
    put(this.inodes, ino, rec, this.maxRecords);
  }

  rememberEntry(key: string, e: EntryRecord | null): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    for (const [old, gone] of this.entries) {
      if (this.entries.size <= this.maxRecords) break;
      this.entries.delete(old);
      // A directory missing one of its entries is no longer complete.
      if (gone) this.completeDirs.delete(gone.dir);
    }
  }

  /** A reader's lookup that began at version `since`: kept only if no commit landed meanwhile. */
  rememberInodeIf(since: number, ino: number, rec: InodeRecord | null): void {
    if (since === this.version) this.rememberInode(ino, rec);
  }

  rememberEntryIf(since: number, key: string, e: EntryRecord | null): void {
    if (since === this.version) this.rememberEntry(key, e);
  }

  /** A meta value, with `has` telling a stored undefined from an unknown key. */
  metaValue(key: string): { has: boolean; value: unknown } {
    if (!this.meta.has(key)) return { has: false, value: undefined };
    const value = this.meta.get(key);
    put(this.meta, key, value, this.maxRecords);
    return { has: true, value };
  }

  /** Bounded like the records: a layered tree keeps a meta value per file it changed. */
  rememberMeta(key: string, value: unknown): void {
    put(this.meta, key, value, this.maxRecords);
  }

  /** A commit's own changes. */
  apply(inodes: Map<number, InodeRecord | null>, meta: Map<string, unknown>, entries: Map<string, EntryRecord | null>): void {
    this.version++;
    for (const [ino, rec] of inodes) this.rememberInode(ino, rec);
    for (const [k, e] of entries) this.rememberEntry(k, e);
    for (const [k, v] of meta) this.rememberMeta(k, v);
  }

  clear(): void {
    this.version++;
    this.inodes.clear();
    this.entries.clear();
    this.completeDirs.clear();
    this.largeDirs.clear();
    this.meta.clear();
  }
}

/** Map lookup that marks the key most recently used (a Map iterates in insertion order). */
function touch<K, V>(m: Map<K, V>, k: K): V | undefined {
  const v = m.get(k);
  if (v !== undefined) {
    m.delete(k);
    m.set(k, v);
  }
  return v;
}

function put<K, V>(m: Map<K, V>, k: K, v: V, max: number): void {
  m.delete(k);
  m.set(k, v);
  for (const old of m.keys()) {
    if (m.size <= max) break;
    m.delete(old);
  }
}

/** `k` as the newest member of `s`, the oldest dropped past `max` (put's order, for a set). */
function putLatest<K>(s: Set<K>, k: K, max: number): void {
  s.delete(k);
  s.add(k);
  for (const old of s) {
    if (s.size <= max) break;
    s.delete(old);
  }
}
