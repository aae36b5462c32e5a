import { Errno, FsError } from "../protocol/errno.js";
import type { InodeRecord, StoreTx } from "../storage/store.js";

/**
 * The inodes one readwrite transaction body changes. Records read from a store
 * may be shared with other transactions (the memory store hands out its own,
 * frozen objects), so they are never mutated: `edit` gives a private copy, and
 * `flush` puts each changed record back exactly once — which also makes
 * "the same directory is both parents" in rename come out right.
 */
export class InodeEdits {
  private readonly copies = new Map<number, InodeRecord>();
  /** Records already read: a body asks for the same inode several times, and each ask is a request on IndexedDB. */
  private readonly reads = new Map<number, InodeRecord | undefined>();
  private readonly deleted = new Set<number>();

  constructor(readonly tx: StoreTx) {}

  async get(ino: number): Promise<InodeRecord | undefined> {
    if (this.deleted.has(ino)) return undefined;
    const mine = this.copies.get(ino);
    if (mine) return mine;
    if (this.reads.has(ino)) return this.reads.get(ino);
    const rec = await this.tx.getInode(ino);
    this.reads.set(ino, rec);
    return rec;
  }

  async need(ino: number): Promise<InodeRecord> {
    const rec = await this.get(ino);
    if (!rec) throw new FsError(Errno.ENOENT, `inode ${ino}`);
    return rec;
  }

  /** A private, mutable copy that will be stored at flush. */
  async edit(ino: number): Promise<InodeRecord> {
    const mine = this.copies.get(ino);
    if (mine) return mine;
    const copy = { ...(await this.need(ino)) };
    this.copies.set(ino, copy);
    return copy;
  }

  /** A new record, stored at flush. */
  add(rec: InodeRecord): void {
    this.deleted.delete(rec.ino);
    this.copies.set(rec.ino, rec);
  }

  remove(ino: number): void {
    this.copies.delete(ino);
    this.deleted.add(ino);
  }

  /** What flush stored: each changed inode's new record, or undefined when deleted. */
  *changes(): IterableIterator<[number, InodeRecord | undefined]> {
    for (const ino of this.deleted) yield [ino, undefined];
    for (const [ino, rec] of this.copies) yield [ino, rec];
  }

  async flush(): Promise<void> {
    for (const ino of this.deleted) await this.tx.deleteInode(ino);
    for (const rec of this.copies.values()) await this.tx.putInode(rec);
  }
}
