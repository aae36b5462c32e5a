import type { InodeRecord } from "./store.js";

/**
 * Committed inode and meta records of a store whose writers run one at a
 * time (OPFS). A writer reads them here instead of asking IndexedDB (a round
 * trip of ~0.3 ms in Chromium, several per write otherwise), and its own
 * changes enter only when it has committed — so what is here is exactly the
 * committed state the next writer starts from. Readers do not use it (they
 * have the file system's own inode cache). Bounded: least recently used
 * inodes go first; meta records are few and small.
 */
export class CommittedRecords {
  private readonly inodes = new Map<number, InodeRecord | null>();
  private readonly meta = new Map<string, unknown>();

  constructor(private readonly maxInodes = 50_000) {}

  /** The committed record, null when known absent, undefined when not known. */
  inode(ino: number): InodeRecord | null | undefined {
    const rec = this.inodes.get(ino);
    if (rec !== undefined) {
      this.inodes.delete(ino);
      this.inodes.set(ino, rec);
    }
    return rec;
  }

  /** What a value read from the committed state (by the only writer) turned out to be. */
  rememberInode(ino: number, rec: InodeRecord | null): void {
    this.inodes.delete(ino);
    this.inodes.set(ino, rec);
    for (const k of this.inodes.keys()) {
      if (this.inodes.size <= this.maxInodes) break;
      this.inodes.delete(k);
    }
  }

  /** A meta value, with `has` telling a stored undefined from an unknown key. */
  metaValue(key: string): { has: boolean; value: unknown } {
    return { has: this.meta.has(key), value: this.meta.get(key) };
  }

  rememberMeta(key: string, value: unknown): void {
    this.meta.set(key, value);
  }

  /** A commit's own changes. */
  apply(inodes: Map<number, InodeRecord | null>, meta: Map<string, unknown>): void {
    for (const [ino, rec] of inodes) this.rememberInode(ino, rec);
    for (const [k, v] of meta) this.meta.set(k, v);
  }

  clear(): void {
    this.inodes.clear();
    this.meta.clear();
  }
}
