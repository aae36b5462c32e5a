/**
 * The IndexedDB store's committed chunk bytes, as far as kept: what commits
 * wrote and what readers read, bounded, so that a file read back soon after
 * it was written or read costs no IndexedDB request (a round trip to the
 * browser process and a deserialization per chunk).
 *
 * Like CommittedRecords, it holds committed state only, and changes only
 * when a writer's IndexedDB transaction completes (IndexedDB invariant 1,
 * indexeddb.ts): a writer's own chunk changes are kept apart (OwnChunks) and
 * applied at its commit. Only stored chunks are kept, never holes: a chunk
 * not here is asked of IndexedDB. Whole inodes are evicted, least recently
 * used first.
 */
export class CommittedChunks {
  private readonly inodes = new Map<number, Map<number, Uint8Array>>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(ino: number, index: number): Uint8Array | undefined {
    const m = this.inodes.get(ino);
    if (!m) return undefined;
    this.inodes.delete(ino);
    this.inodes.set(ino, m);
    return m.get(index);
  }

  /** A commit's chunk changes. */
  apply(own: OwnChunks): void {
    for (const [ino, cut] of own.cuts) this.dropFrom(ino, cut);
    for (const [ino, m] of own.chunks) {
      for (const [index, data] of m) {
        if (data) this.set(ino, index, data);
        else this.dropOne(ino, index);
      }
    }
    this.evict();
  }

  /** What a reader read from IndexedDB (its caller checks that no commit landed meanwhile). */
  remember(ino: number, index: number, data: Uint8Array): void {
    this.set(ino, index, data);
    this.evict();
  }

  clear(): void {
    this.inodes.clear();
    this.bytes = 0;
  }

  get size(): number {
    return this.bytes;
  }

  /** Files with chunks kept. */
  get files(): number {
    return this.inodes.size;
  }

  private set(ino: number, index: number, data: Uint8Array): void {
    // Not kept, but what it replaces is stale from now on.
    if (data.byteLength > this.maxBytes) return this.dropOne(ino, index);
    let m = this.inodes.get(ino);
    if (!m) {
      m = new Map();
      this.inodes.set(ino, m);
    }
    this.bytes += data.byteLength - (m.get(index)?.byteLength ?? 0);
    m.set(index, data);
  }

  private dropOne(ino: number, index: number): void {
    const m = this.inodes.get(ino);
    const old = m?.get(index);
    if (!m || !old) return;
    this.bytes -= old.byteLength;
    m.delete(index);
    if (m.size === 0) this.inodes.delete(ino);
  }

  private dropFrom(ino: number, from: number): void {
    const m = this.inodes.get(ino);
    if (!m) return;
    for (const [index, data] of m) {
      if (index < from) continue;
      this.bytes -= data.byteLength;
      m.delete(index);
    }
    // A file deleted or cut to nothing must not leave an empty map behind: they would add up unbounded.
    if (m.size === 0) this.inodes.delete(ino);
  }

  private evict(): void {
    for (const [ino, m] of this.inodes) {
      if (this.bytes <= this.maxBytes) return;
      for (const data of m.values()) this.bytes -= data.byteLength;
      this.inodes.delete(ino);
    }
  }
}

/**
 * A writer's own chunk changes, in the order they take effect: a cut
 * (deleteChunksFrom) forgets the changes it covers, so what is left after
 * it is later than it.
 */
export class OwnChunks {
  /** Per inode, the lowest index a deleteChunksFrom cut from. */
  readonly cuts = new Map<number, number>();
  /** Per inode, chunks put (bytes) or deleted (null) after any cut. */
  readonly chunks = new Map<number, Map<number, Uint8Array | null>>();

  put(ino: number, index: number, data: Uint8Array | null): void {
    let m = this.chunks.get(ino);
    if (!m) {
      m = new Map();
      this.chunks.set(ino, m);
    }
    m.set(index, data);
  }

  cut(ino: number, from: number): void {
    this.cuts.set(ino, Math.min(from, this.cuts.get(ino) ?? Infinity));
    const m = this.chunks.get(ino);
    if (m) for (const index of [...m.keys()]) if (index >= from) m.delete(index);
  }

  /** This writer's view of a chunk: its bytes, null for a hole it made, undefined when it did not change it. */
  get(ino: number, index: number): Uint8Array | null | undefined {
    const own = this.chunks.get(ino)?.get(index);
    if (own !== undefined) return own;
    const cut = this.cuts.get(ino);
    return cut !== undefined && index >= cut ? null : undefined;
  }

  touched(ino: number): boolean {
    return this.chunks.has(ino) || this.cuts.has(ino);
  }
}
