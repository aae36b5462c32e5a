import type { InodeRecord } from "../storage/store.js";

/**
 * Committed inode records, so that the hottest read (Tgetattr, and the inode
 * lookup in front of every Tread) costs no storage transaction: on IndexedDB
 * a read-only transaction alone costs ~0.1 ms.
 *
 * Safe because this FileSystem is the only writer of its store (one owner per
 * tree: a Web Lock in browsers, one process in Node) and every readwrite
 * transaction reports what it committed here before its reply can go out.
 * A record read by a read-only transaction is remembered only if no commit
 * happened while that transaction ran (the epoch), so a stale read can never
 * overwrite a newer commit. Bounded: least recently used records go first.
 */
export class InodeCache {
  private readonly records = new Map<number, InodeRecord>();
  /** Bumped by every commit that changed inodes. */
  private epochValue = 0;

  constructor(private readonly limit = 8192) {}

  get epoch(): number {
    return this.epochValue;
  }

  get(ino: number): InodeRecord | undefined {
    const rec = this.records.get(ino);
    if (rec) {
      // Refresh its place in the LRU order (Map keeps insertion order).
      this.records.delete(ino);
      this.records.set(ino, rec);
    }
    return rec;
  }

  /** Remember what a read-only transaction that began at `epoch` read. */
  remember(rec: InodeRecord, epoch: number): void {
    if (epoch !== this.epochValue) return;
    this.put(rec);
  }

  /** A readwrite transaction committed these records (undefined: deleted). */
  committed(changes: Iterable<[number, InodeRecord | undefined]>): void {
    this.epochValue++;
    for (const [ino, rec] of changes) {
      if (rec) this.put(rec);
      else this.records.delete(ino);
    }
  }

  /** Something committed without saying what (reclaiming, formatting): forget everything. */
  clear(): void {
    this.epochValue++;
    this.records.clear();
  }

  get size(): number {
    return this.records.size;
  }

  private put(rec: InodeRecord): void {
    this.records.delete(rec.ino);
    this.records.set(rec.ino, rec);
    if (this.records.size > this.limit) {
      const oldest = this.records.keys().next().value;
      if (oldest !== undefined) this.records.delete(oldest);
    }
  }
}
