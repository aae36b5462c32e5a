import type { EntryRecord, InodeRecord } from "./store.js";

/**
 * Committed inode, entry and meta records of a store whose writers run one
 * at a time (WriterBatcher). A writer reads them here instead of asking
 * IndexedDB (a round trip of ~0.3 ms in Chromium, several per operation
 * otherwise), and its own changes enter only when it has committed — so
 * what is here is exactly the committed state the next writer starts from.
 *
 * Readers may use them too, under the store's rules (no writer in flight:
 * see OPFS invariant 7 in opfs.ts, and IndexedDBStore), and may add what they read from
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

  constructor(private readonly maxRecords = 50_000) {}

  /** The committed record, null when known absent, undefined when not known. */
  inode(ino: number): InodeRecord | null | undefined {
    return touch(this.inodes, ino);
  }

  entry(key: string): EntryRecord | null | undefined {
    return touch(this.entries, key);
  }

  /** What a value read from the committed state by the only writer turned out to be. */
  rememberInode(ino: number, rec: InodeRecord | null): void {
    put(this.inodes, ino, rec, this.maxRecords);
  }

  rememberEntry(key: string, e: EntryRecord | null): void {
    put(this.entries, key, e, this.maxRecords);
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
    return { has: this.meta.has(key), value: this.meta.get(key) };
  }

  rememberMeta(key: string, value: unknown): void {
    this.meta.set(key, value);
  }

  /** A commit's own changes. */
  apply(inodes: Map<number, InodeRecord | null>, meta: Map<string, unknown>, entries: Map<string, EntryRecord | null>): void {
    this.version++;
    for (const [ino, rec] of inodes) this.rememberInode(ino, rec);
    for (const [k, e] of entries) this.rememberEntry(k, e);
    for (const [k, v] of meta) this.meta.set(k, v);
  }

  clear(): void {
    this.version++;
    this.inodes.clear();
    this.entries.clear();
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
