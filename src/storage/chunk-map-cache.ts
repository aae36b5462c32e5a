import type { ChunkRef } from "./indexeddb-common.js";

/**
 * The committed part of an OPFS store's chunk map ([ino, index] → slot or
 * inline bytes), as far as known, kept in the worker so that a read whose
 * refs are known needs no IndexedDB transaction at all: one sync-handle
 * read. The journal's overlay holds what changed since the last checkpoint;
 * this cache remembers what was read from the checkpoint and what commits
 * set, so that hot files cost no lookups.
 *
 * What it holds is never newer or older than the committed state (OPFS
 * invariant 8, opfs.ts):
 *  - a commit forgets the inodes it touched and records its own final refs;
 *  - a reader remembers what it looked up only if nothing was dropped or
 *    applied while the lookup was in flight (`version`).
 * Entries are known refs or `null` (known hole). Unknown means "ask the
 * overlay and the checkpoint". Bounded: whole inodes are evicted least
 * recently used first, and inline bytes count against their own budget.
 */
export class ChunkMapCache {
  /** Bumped by every drop and apply: a lookup that straddles one is not remembered. */
  version = 0;
  private readonly inodes = new Map<number, Map<number, ChunkRef | null>>();
  private refs = 0;
  private inlineBytes = 0;

  constructor(
    private readonly maxRefs = 1 << 16,
    private readonly maxInlineBytes = 16 * 1024 * 1024,
  ) {}

  /** The committed ref, null for a known hole, undefined when not known. */
  lookup(ino: number, index: number): ChunkRef | null | undefined {
    const m = this.inodes.get(ino);
    if (!m) return undefined;
    // Least recently used order is the Map's insertion order.
    this.inodes.delete(ino);
    this.inodes.set(ino, m);
    return m.get(index);
  }

  /** Keep what a reader found, unless the map changed since it asked (`since` = version then). */
  remember(ino: number, found: Map<number, ChunkRef | null>, since: number): void {
    if (since !== this.version) return;
    for (const [index, ref] of found) this.set(ino, index, ref);
    this.evict();
  }

  /** A writer is about to commit changes to these inodes' chunks, or just did. */
  drop(inos: Iterable<number>): void {
    this.version++;
    for (const ino of inos) this.dropInode(ino);
  }

  /** A commit: forget everything it touched, then record its final refs. */
  apply(touched: Iterable<number>, refs: Iterable<[number, number, ChunkRef | null]>): void {
    this.drop(touched);
    for (const [ino, index, ref] of refs) this.set(ino, index, ref);
    this.evict();
  }

  clear(): void {
    this.version++;
    this.inodes.clear();
    this.refs = 0;
    this.inlineBytes = 0;
  }

  get size(): { refs: number; inlineBytes: number } {
    return { refs: this.refs, inlineBytes: this.inlineBytes };
  }

  private set(ino: number, index: number, ref: ChunkRef | null): void {
    // Inline bytes past the budget are left unknown rather than evicting refs for them.
    if (ref?.data && this.inlineBytes + ref.data.length > this.maxInlineBytes) return;
    let m = this.inodes.get(ino);
    if (!m) {
      m = new Map();
      this.inodes.set(ino, m);
    }
    const old = m.get(index);
    if (old === undefined) this.refs++;
    else if (old?.data) this.inlineBytes -= old.data.length;
    if (ref?.data) this.inlineBytes += ref.data.length;
    m.set(index, ref);
  }

  private dropInode(ino: number): void {
    const m = this.inodes.get(ino);
    if (!m) return;
    this.inodes.delete(ino);
    this.refs -= m.size;
    for (const ref of m.values()) if (ref?.data) this.inlineBytes -= ref.data.length;
  }

  private evict(): void {
    for (const ino of this.inodes.keys()) {
      if (this.refs <= this.maxRefs && this.inlineBytes <= this.maxInlineBytes) return;
      this.dropInode(ino);
    }
  }
}
