import { DirIndex } from "./memory-dir-index.js";
import type { EntryRecord, InodeRecord, StoreTx, XattrList } from "./store.js";

/** What a MemoryStore holds between transactions. */
export interface MemoryState {
  readonly inodes: Map<number, InodeRecord>;
  readonly dirs: Map<number, DirIndex>;
  /** ino → chunk index → bytes. Nested so deleting a file's chunks needs no scan of other files. */
  readonly chunks: Map<number, Map<number, Uint8Array>>;
  readonly meta: Map<string, unknown>;
  readonly xattrs: Map<number, XattrList>;
  used: number;
}

export function emptyState(): MemoryState {
  return { inodes: new Map(), dirs: new Map(), chunks: new Map(), meta: new Map(), xattrs: new Map(), used: 0 };
}

/** Rough bytes an inode record costs beyond its variable parts (quota accounting only). */
const INODE_BYTES = 128;
/** Rough bytes a directory entry costs beyond its name. */
const ENTRY_BYTES = 48;

export function inodeCost(rec: InodeRecord | undefined | null): number {
  if (!rec) return 0;
  let n = INODE_BYTES + (rec.target?.length ?? 0);
  if (rec.xattrs) n += xattrsCost(rec.xattrs);
  return n;
}

export function xattrsCost(list: XattrList | undefined | null): number {
  let n = 0;
  if (list) for (const [name, value] of list) n += name.length + value.byteLength;
  return n;
}

export function entryCost(e: EntryRecord | undefined | null): number {
  return e ? ENTRY_BYTES + e.name.length : 0;
}

/** A transaction's pending chunk changes for one inode. */
interface ChunkOverlay {
  /** Every stored chunk at or past this index is deleted (Infinity: none). */
  from: number;
  /** Later puts/deletes; null marks a delete. */
  writes: Map<number, Uint8Array | null>;
}

/**
 * One transaction's view: reads fall through a private overlay to the shared
 * state; writes only touch the overlay, which `apply` folds into the state in
 * one synchronous step (so rollback is simply dropping the overlay).
 *
 * Records handed out are the shared objects themselves (a plain Map lookup, no
 * copy) and are frozen on the way in, so a caller that mutates one instead of
 * putting a new record fails loudly rather than corrupting other transactions.
 */
export class MemoryTx implements StoreTx {
  private killed: Error | undefined;
  private inodes: Map<number, InodeRecord | null> | undefined;
  private entries: Map<number, Map<string, EntryRecord | null>> | undefined;
  private chunks: Map<number, ChunkOverlay> | undefined;
  private meta: Map<string, unknown> | undefined;
  private xattrs: Map<number, XattrList | null> | undefined;

  constructor(
    private readonly state: MemoryState,
    private readonly chunkSize: number,
    readonly writable: boolean,
  ) {}

  /** Make every later call reject with `reason`: the transaction was aborted while its body ran. */
  kill(reason: Error): void {
    this.killed = reason;
  }

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    this.guard(false);
    const o = this.inodes?.get(ino);
    if (o !== undefined) return o ?? undefined;
    return this.state.inodes.get(ino);
  }

  async putInode(rec: InodeRecord): Promise<void> {
    this.guard(true);
    (this.inodes ??= new Map()).set(rec.ino, Object.freeze(rec));
  }

  async deleteInode(ino: number): Promise<void> {
    this.guard(true);
    (this.inodes ??= new Map()).set(ino, null);
  }

  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    this.guard(false);
    const o = this.entries?.get(dir)?.get(name);
    if (o !== undefined) return o ?? undefined;
    return this.state.dirs.get(dir)?.byName.get(name);
  }

  async putEntry(entry: EntryRecord): Promise<void> {
    this.guard(true);
    this.dirOverlay(entry.dir).set(entry.name, Object.freeze(entry));
  }

  async deleteEntry(dir: number, name: string): Promise<void> {
    this.guard(true);
    this.dirOverlay(dir).set(name, null);
  }

  async listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    this.guard(false);
    const base = this.state.dirs.get(dir);
    const ov = this.entries?.get(dir);
    if (!ov) return base ? base.list(after, limit) : [];
    return mergeListing(base, ov, after, limit);
  }

  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    this.guard(false);
    const ov = this.chunks?.get(ino);
    if (ov) {
      const w = ov.writes.get(index);
      if (w !== undefined) return w ?? undefined;
      if (index >= ov.from) return undefined;
    }
    return this.state.chunks.get(ino)?.get(index);
  }

  async putChunk(ino: number, index: number, data: Uint8Array): Promise<void> {
    this.guard(true);
    if (data.length > this.chunkSize) throw new RangeError(`chunk of ${data.length} bytes exceeds chunkSize ${this.chunkSize}`);
    this.chunkOverlay(ino).writes.set(index, data);
  }

  async deleteChunk(ino: number, index: number): Promise<void> {
    this.guard(true);
    this.chunkOverlay(ino).writes.set(index, null);
  }

  async deleteChunksFrom(ino: number, from: number): Promise<void> {
    this.guard(true);
    const ov = this.chunkOverlay(ino);
    if (from < ov.from) ov.from = from;
    for (const i of ov.writes.keys()) if (i >= from) ov.writes.delete(i);
  }

  async countChunks(ino: number, from: number, to: number): Promise<number> {
    this.guard(false);
    const ov = this.chunks?.get(ino);
    let n = 0;
    const base = this.state.chunks.get(ino);
    if (base) {
      for (const i of base.keys()) {
        if (i < from || i >= to) continue;
        if (ov && (i >= ov.from || ov.writes.has(i))) continue;
        n++;
      }
    }
    if (ov) for (const [i, w] of ov.writes) if (w && i >= from && i < to) n++;
    return n;
  }

  async getXattrs(ino: number): Promise<XattrList | undefined> {
    this.guard(false);
    const o = this.xattrs?.get(ino);
    if (o !== undefined) return o ?? undefined;
    return this.state.xattrs.get(ino);
  }

  async putXattrs(ino: number, list: XattrList | undefined): Promise<void> {
    this.guard(true);
    (this.xattrs ??= new Map()).set(ino, list && list.length > 0 ? Object.freeze(list) as XattrList : null);
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    this.guard(false);
    if (this.meta?.has(key)) return this.meta.get(key) as T | undefined;
    return this.state.meta.get(key) as T | undefined;
  }

  async putMeta<T>(key: string, value: T): Promise<void> {
    this.guard(true);
    (this.meta ??= new Map()).set(key, value);
  }

  /** Bytes the state would grow by (negative: shrink) if this overlay were applied. */
  sizeDelta(): number {
    return this.inodeDelta() + this.entryDelta() + this.chunkDelta() + this.xattrDelta();
  }

  /** Fold the overlay into the shared state. Synchronous: no other transaction can observe half of it. */
  apply(delta: number): void {
    const s = this.state;
    if (this.inodes) for (const [ino, rec] of this.inodes) rec ? s.inodes.set(ino, rec) : s.inodes.delete(ino);
    if (this.entries) for (const [dir, ov] of this.entries) applyEntries(s, dir, ov);
    if (this.chunks) for (const [ino, ov] of this.chunks) applyChunks(s, ino, ov);
    if (this.meta) for (const [k, v] of this.meta) s.meta.set(k, v);
    if (this.xattrs) for (const [ino, list] of this.xattrs) list ? s.xattrs.set(ino, list) : s.xattrs.delete(ino);
    s.used += delta;
  }

  private guard(write: boolean): void {
    if (this.killed) throw this.killed;
    if (write && !this.writable) {
      const e = new Error("write in a readonly transaction");
      e.name = "ReadOnlyError";
      throw e;
    }
  }

  private dirOverlay(dir: number): Map<string, EntryRecord | null> {
    const all = (this.entries ??= new Map());
    let ov = all.get(dir);
    if (!ov) all.set(dir, (ov = new Map()));
    return ov;
  }

  private chunkOverlay(ino: number): ChunkOverlay {
    const all = (this.chunks ??= new Map());
    let ov = all.get(ino);
    if (!ov) all.set(ino, (ov = { from: Infinity, writes: new Map() }));
    return ov;
  }

  private inodeDelta(): number {
    let d = 0;
    if (this.inodes) for (const [ino, rec] of this.inodes) d += inodeCost(rec) - inodeCost(this.state.inodes.get(ino));
    return d;
  }

  private xattrDelta(): number {
    let d = 0;
    if (this.xattrs) for (const [ino, list] of this.xattrs) d += xattrsCost(list) - xattrsCost(this.state.xattrs.get(ino));
    return d;
  }

  private entryDelta(): number {
    let d = 0;
    if (!this.entries) return d;
    for (const [dir, ov] of this.entries) {
      const base = this.state.dirs.get(dir);
      for (const [name, e] of ov) d += entryCost(e) - entryCost(base?.byName.get(name));
    }
    return d;
  }

  private chunkDelta(): number {
    let d = 0;
    if (!this.chunks) return d;
    for (const [ino, ov] of this.chunks) {
      const base = this.state.chunks.get(ino);
      if (base && ov.from !== Infinity) for (const [i, c] of base) if (i >= ov.from) d -= c.length;
      for (const [i, w] of ov.writes) {
        const old = i >= ov.from ? undefined : base?.get(i);
        d += (w?.length ?? 0) - (old?.length ?? 0);
      }
    }
    return d;
  }
}

function applyEntries(s: MemoryState, dir: number, ov: Map<string, EntryRecord | null>): void {
  let index = s.dirs.get(dir);
  for (const [name, e] of ov) {
    if (e) {
      if (!index) s.dirs.set(dir, (index = new DirIndex()));
      index.put(e);
    } else {
      index?.delete(name);
    }
  }
  if (index && index.size === 0) s.dirs.delete(dir);
}

function applyChunks(s: MemoryState, ino: number, ov: ChunkOverlay): void {
  let base = s.chunks.get(ino);
  if (base && ov.from !== Infinity) {
    if (ov.from <= 0) base.clear();
    else for (const i of base.keys()) if (i >= ov.from) base.delete(i);
  }
  for (const [i, w] of ov.writes) {
    if (w) {
      if (!base) s.chunks.set(ino, (base = new Map()));
      base.set(i, w);
    } else {
      base?.delete(i);
    }
  }
  if (base && base.size === 0) s.chunks.delete(ino);
}

/** A page of `dir` as this transaction sees it: stored entries not overridden by the overlay, merged with the overlay's in cookie order. */
function mergeListing(
  base: DirIndex | undefined,
  ov: Map<string, EntryRecord | null>,
  after: number,
  limit: number,
): EntryRecord[] {
  const added: EntryRecord[] = [];
  for (const e of ov.values()) if (e && e.cookie > after) added.push(e);
  added.sort((a, b) => a.cookie - b.cookie);
  const out: EntryRecord[] = [];
  let j = 0;
  base?.scan(after, (e) => {
    if (ov.has(e.name)) return true; // deleted or replaced in this transaction
    while (j < added.length && added[j]!.cookie < e.cookie && out.length < limit) out.push(added[j++]!);
    if (out.length < limit) out.push(e);
    return out.length < limit;
  });
  while (j < added.length && out.length < limit) out.push(added[j++]!);
  return out;
}
