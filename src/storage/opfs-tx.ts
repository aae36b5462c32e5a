/**
 * A transaction of the OPFS store. It sees, newest first: its own changes
 * (writers), the committed state — the journal's overlay (opfs-overlay.ts),
 * then the caches of committed records, then the IndexedDB checkpoint — and
 * writes nothing anywhere until its batch commits (OpfsStore.commit): then
 * the changes collected here become one journal record.
 *
 * The checkpoint changes only when a checkpoint runs, which is exclusive of
 * writers (invariant 4) and never changes the committed state, only where it
 * is kept (invariant 11); so a writer may read it through any number of
 * short readonly IndexedDB transactions.
 */
import { copyFrom } from "../protocol/bytes.js";
import { abortError } from "../protocol/errno.js";
import type { ChunkMapCache } from "./chunk-map-cache.js";
import type { CommittedRecords } from "./committed-records.js";
import type { CheckpointNames } from "./opfs-names.js";
import { entryKey, ownBytes, normalizeInode, req, xattrKey, type ChunkRef, type StoreName } from "./indexeddb-common.js";
import { chunkKey as key, cutFile, emptyFile, fileRef, layerFile, mergeIndices, mergeListing, type CommitRecord, type Overlay, type OverlayEntry, type OverlayFile } from "./opfs-overlay.js";
import type { EntryRecord, InodeRecord, StoreTx, XattrList } from "./store.js";

/** A readonly body that saw a commit land under it runs again this often, then once more with writers held off. */
const READ_RETRIES = 2;

/** Chunk records fetched per checkpoint lookup when reading: sequential reads need one round trip per this many chunks. */
const READ_AHEAD = 8;

export function readOnlyError(): Error {
  const e = new Error("write in a readonly transaction");
  e.name = "ReadOnlyError";
  return e;
}

/** What a transaction needs from its store. */
export interface TxSource {
  readonly chunkSize: number;
  readonly inlineLimit: number;
  readonly overlay: Overlay;
  readonly cache: ChunkMapCache;
  readonly records: CommittedRecords;
  readonly checkpointNames: CheckpointNames;
  /** Commits applied so far (invariant 7). */
  readonly commits: number;
  /** A readonly IndexedDB transaction over the checkpoint. */
  checkpointTx(): IDBTransaction;
  chunkBytes(ref: ChunkRef | null): Uint8Array | undefined;
  readChunkInto(ref: ChunkRef | null, within: number, dest: Uint8Array): number | undefined;
}

export interface PendingChunk {
  ino: number;
  index: number;
  data: Uint8Array;
}

export class OpfsTx implements StoreTx {
  /** Writes issued so far (WriterBatcher: a body that failed before writing has nothing to undo). */
  writes = 0;
  /** Set when the batch was aborted: a body still running on it fails at its next call. */
  dead = false;
  readonly ownInodes = new Map<number, InodeRecord | null>();
  readonly ownMeta = new Map<string, unknown>();
  /** Entry changes, per directory, by entry key. */
  readonly ownDirs = new Map<number, Map<string, OverlayEntry>>();
  /** Chunk changes per inode, in the overlay's shape: a cut, then refs ("slot" refs wait in `pending`). */
  readonly ownFiles = new Map<number, OverlayFile>();
  /** Slot-sized chunks put, written at commit. */
  readonly pending = new Map<string, PendingChunk>();
  /** Keys put with isNew (nothing committed there): no slot to free, no lookup. */
  readonly knownNew = new Set<string>();
  private tx: IDBTransaction | undefined;
  /** Read-ahead of committed chunk refs: ino → index → ref. Dropped on any change to that inode's chunks. */
  private readonly ahead = new Map<number, Map<number, ChunkRef | null>>();

  constructor(
    private readonly src: TxSource,
    readonly writable: boolean,
  ) {}

  // ---------------------------------------------------------------- the checkpoint, through short readonly transactions

  /** A request on the current checkpoint transaction, or a fresh one when it has finished. */
  private request<T>(make: (store: (name: StoreName) => IDBObjectStore) => IDBRequest<T>): Promise<T> {
    this.alive();
    for (let attempt = 0; ; attempt++) {
      try {
        const tx = (this.tx ??= this.src.checkpointTx());
        return req(make((n) => tx.objectStore(n)));
      } catch (e) {
        // TransactionInactiveError / InvalidStateError: it committed already (an await elsewhere); the checkpoint is unchanged since.
        this.tx = undefined;
        if (attempt > 0) throw e;
      }
    }
  }

  alive(): void {
    if (this.dead) throw abortError();
  }

  private writing(): void {
    this.alive();
    if (!this.writable) throw readOnlyError();
    this.writes++;
  }

  // ---------------------------------------------------------------- inodes, entries, meta

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    this.alive();
    const own = this.ownInodes.get(ino);
    if (own !== undefined) return own ?? undefined;
    const o = this.src.overlay.inode(ino);
    if (o !== undefined) return o ?? undefined;
    const records = this.src.records;
    const known = records.inode(ino);
    if (known !== undefined) return known ?? undefined;
    const since = records.version;
    const rec = (await this.request((s) => s("inodes").get(ino))) as InodeRecord | undefined;
    // The committed record, unless a commit landed meanwhile (readers only: none lands during a writer).
    records.rememberInodeIf(since, ino, rec ?? null);
    return rec;
  }

  async putInode(rec: InodeRecord): Promise<void> {
    this.writing();
    this.ownInodes.set(rec.ino, normalizeInode(rec));
  }

  async deleteInode(ino: number): Promise<void> {
    this.writing();
    this.ownInodes.set(ino, null);
  }

  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    this.alive();
    const k = entryKey(dir, name);
    const own = this.ownDirs.get(dir)?.get(k);
    if (own) return own.rec ?? undefined;
    const o = this.src.overlay.entry(dir, name);
    if (o !== undefined) return o ?? undefined;
    const records = this.src.records;
    const known = records.entry(k);
    if (known !== undefined) return known ?? undefined;
    const since = records.version;
    // A name the checkpoint does not have (a create's lookup) needs no round trip.
    if ((await this.checkpointHas(dir, k)) === false) return this.ownDirs.get(dir)?.get(k)?.rec ?? undefined;
    const e = (await this.request((s) => s("entries").get([dir, name]))) as EntryRecord | undefined;
    records.rememberEntryIf(since, k, e ?? null);
    // A change made while the lookup was in flight is what this transaction sees.
    const changed = this.ownDirs.get(dir)?.get(k);
    return changed ? (changed.rec ?? undefined) : e;
  }

  /** Whether the checkpoint has this entry, from its name index (loaded by writers: invariant 4); undefined when not known. */
  private async checkpointHas(dir: number, k: string): Promise<boolean | undefined> {
    const names = this.src.checkpointNames;
    if (this.writable && names.worthLoading(dir)) {
      const range = IDBKeyRange.bound([dir, ""], [dir, []]);
      const count = await this.request((s) => s("entries").count(range));
      if (!names.tooLarge(dir, count)) {
        const keys = (await this.request((s) => s("entries").getAllKeys(range))) as [number, string][];
        if (names.worthLoading(dir)) names.loaded(dir, keys.map(([d, n]) => entryKey(d, n)));
      }
    }
    return names.has(dir, k);
  }

  private setEntry(dir: number, name: string, rec: EntryRecord | null): void {
    let d = this.ownDirs.get(dir);
    if (!d) {
      d = new Map();
      this.ownDirs.set(dir, d);
    }
    d.set(entryKey(dir, name), { dir, name, rec });
  }

  async putEntry(entry: EntryRecord): Promise<void> {
    this.writing();
    // Copy to a plain record: callers may pass objects with extra fields.
    const { dir, name, ino, cookie, dtype } = entry;
    this.setEntry(dir, name, { dir, name, ino, cookie, dtype });
  }

  async deleteEntry(dir: number, name: string): Promise<void> {
    this.writing();
    this.setEntry(dir, name, null);
  }

  async listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    this.alive();
    // getAll's count 0 means "no limit" in IndexedDB, the opposite of what the caller asked.
    if (!(limit > 0)) return [];
    const own = this.ownDirs.get(dir);
    // Snapshot the overlay's entries now: a checkpoint may move them into IndexedDB meanwhile (merging is idempotent).
    const layers = [...this.src.overlay.dirLayers(dir), [...(own?.values() ?? [])]];
    const extra = layers.reduce((n, l) => n + l.length, 0);
    const range = IDBKeyRange.bound([dir, after], [dir, Infinity], true, false);
    const base = (await this.request((s) => s("entries").index("byCookie").getAll(range, Math.min(limit + extra, 2 ** 32 - 1)))) as EntryRecord[];
    return mergeListing(base, layers, after, limit);
  }

  async getMeta<T>(key: string): Promise<T | undefined> {
    this.alive();
    if (this.ownMeta.has(key)) return this.ownMeta.get(key) as T | undefined;
    const o = this.src.overlay.metaValue(key);
    if (o.has) return o.value as T | undefined;
    const known = this.src.records.metaValue(key);
    if (known.has) return known.value as T | undefined;
    const v = (await this.request((s) => s("meta").get(key))) as T | undefined;
    // Meta values are few and small: remember them for writers only (readers rarely ask).
    if (this.writable && !this.ownMeta.has(key)) this.src.records.rememberMeta(key, v);
    return v;
  }

  async putMeta<T>(key: string, value: T): Promise<void> {
    this.writing();
    this.ownMeta.set(key, value);
  }

  // Extended attributes are meta values under a key no getMeta caller uses (xattrKey), journaled
  // like any other, but never kept in the committed records: they can be large, and only xattr
  // operations read them.
  async getXattrs(ino: number): Promise<XattrList | undefined> {
    this.alive();
    const k = xattrKey(ino);
    if (this.ownMeta.has(k)) return this.ownMeta.get(k) as XattrList | undefined;
    const o = this.src.overlay.metaValue(k);
    if (o.has) return o.value as XattrList | undefined;
    return (await this.request((s) => s("meta").get(k))) as XattrList | undefined;
  }

  async putXattrs(ino: number, list: XattrList | undefined): Promise<void> {
    this.writing();
    this.ownMeta.set(xattrKey(ino), list && list.length > 0 ? list.map(([k, v]) => [k, ownBytes(v)] as [string, Uint8Array]) : undefined);
  }

  // ---------------------------------------------------------------- chunks

  /** This transaction's own view of a chunk: its ref, "slot" when it waits in `pending`, undefined when unchanged. */
  private own(ino: number, index: number): ChunkRef | null | "slot" | undefined {
    const f = this.ownFiles.get(ino);
    if (!f) return undefined;
    if (this.pending.has(key(ino, index))) return "slot";
    return fileRef(f, index);
  }

  /** The committed ref (overlay, cache, checkpoint with read-ahead). */
  async committedRef(ino: number, index: number): Promise<ChunkRef | null> {
    const o = this.src.overlay.chunk(ino, index);
    if (o !== undefined) return o;
    const cache = this.src.cache;
    const hit = cache.lookup(ino, index);
    if (hit !== undefined) return hit;
    const known = this.ahead.get(ino)?.get(index);
    if (known !== undefined) return known;
    const since = cache.version;
    const got = (await this.request((s) => s("chunks").getAll(IDBKeyRange.bound([ino, index], [ino, index + READ_AHEAD - 1]), READ_AHEAD))) as ChunkRef[];
    const m = new Map<number, ChunkRef | null>();
    for (let i = 0; i < READ_AHEAD; i++) m.set(index + i, null);
    for (const r of got) m.set(r.index, r);
    // What the overlay says wins over the checkpoint (it may have changed while the lookup was in flight).
    for (const i of m.keys()) {
      const over = this.src.overlay.chunk(ino, i);
      if (over !== undefined) m.set(i, over);
    }
    this.ahead.set(ino, m);
    cache.remember(ino, m, since);
    return m.get(index) ?? null;
  }

  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    this.alive();
    const own = this.own(ino, index);
    if (own === "slot") return this.pending.get(key(ino, index))!.data;
    if (own !== undefined) return this.src.chunkBytes(own);
    return this.src.chunkBytes(await this.committedRef(ino, index));
  }

  async readChunkInto(ino: number, index: number, within: number, dest: Uint8Array): Promise<number | undefined> {
    this.alive();
    const own = this.own(ino, index);
    if (own === "slot") return copyFrom(this.pending.get(key(ino, index))!.data, within, dest);
    if (own !== undefined) return this.src.readChunkInto(own, within, dest);
    // A hit needs no await; a commit landing before the read makes the whole body run again (invariant 7).
    const o = this.src.overlay.chunk(ino, index);
    const ref = o !== undefined ? o : (this.src.cache.lookup(ino, index) ?? (await this.committedRef(ino, index)));
    return this.src.readChunkInto(ref, within, dest);
  }

  private ownFile(ino: number): OverlayFile {
    let f = this.ownFiles.get(ino);
    if (!f) {
      f = emptyFile();
      this.ownFiles.set(ino, f);
    }
    this.ahead.delete(ino);
    return f;
  }

  async putChunk(ino: number, index: number, data: Uint8Array, isNew = false): Promise<void> {
    this.writing();
    if (data.length > this.src.chunkSize) throw new RangeError(`chunk of ${data.length} bytes exceeds chunkSize ${this.src.chunkSize}`);
    const k = key(ino, index);
    const f = this.ownFile(ino);
    // isNew: nothing stored there in this transaction's view; unless this transaction removed it, nothing committed either.
    if (isNew && !f.refs.has(index) && index < f.cut) this.knownNew.add(k);
    if (data.length <= this.src.inlineLimit) {
      this.pending.delete(k);
      f.refs.set(index, { ino, index, slot: -1, len: data.length, data: ownBytes(data) });
    } else {
      this.pending.set(k, { ino, index, data });
      // The slot is chosen at commit; until then the ref is a placeholder the commit replaces.
      f.refs.set(index, { ino, index, slot: -2, len: data.length });
    }
  }

  async deleteChunk(ino: number, index: number): Promise<void> {
    this.writing();
    this.pending.delete(key(ino, index));
    this.ownFile(ino).refs.set(index, null);
  }

  async deleteChunksFrom(ino: number, from: number): Promise<void> {
    this.writing();
    cutFile(this.ownFile(ino), from);
    for (const [k, p] of this.pending) if (p.ino === ino && p.index >= from) this.pending.delete(k);
  }

  async countChunks(ino: number, from: number, to: number): Promise<number> {
    this.alive();
    if (to <= from) return 0;
    const keys = (await this.request((s) => s("chunks").getAllKeys(IDBKeyRange.bound([ino, from], [ino, to], false, true)))) as [number, number][];
    return mergeIndices(
      keys.map((k) => k[1]),
      [...this.src.overlay.fileLayers(ino), this.ownFiles.get(ino)],
      from,
      to,
    );
  }

  /** The committed slots this batch frees: what its cuts cut off and the chunks it replaces or deletes (invariant 3). */
  async freedSlots(): Promise<Set<number>> {
    const freed = new Set<number>();
    for (const [ino, f] of this.ownFiles) {
      if (f.cut < Infinity) for (const r of await this.committedFrom(ino, f.cut)) if (r.slot >= 0) freed.add(r.slot);
      for (const index of f.refs.keys()) {
        if (index >= f.cut || this.knownNew.has(key(ino, index))) continue;
        const r = await this.committedRef(ino, index);
        if (r && r.slot >= 0) freed.add(r.slot);
      }
    }
    return freed;
  }

  /** This batch's changes as one journal record, `pending[i]` written to `slots[i]`. */
  record(pending: PendingChunk[], slots: number[], taken: number[], freed: number[], hwm: number): CommitRecord {
    const record: CommitRecord = { inodes: [...this.ownInodes], entries: [], meta: [...this.ownMeta], cuts: [], chunks: [], taken, freed, hwm };
    for (const d of this.ownDirs.values()) for (const e of d.values()) record.entries.push([e.dir, e.name, e.rec]);
    const slotOf = new Map<string, number>();
    pending.forEach((p, i) => slotOf.set(key(p.ino, p.index), slots[i]!));
    for (const [ino, f] of this.ownFiles) {
      if (f.cut < Infinity) record.cuts.push([ino, f.cut]);
      for (const [index, ref] of f.refs) {
        const slot = slotOf.get(key(ino, index));
        record.chunks.push([ino, index, slot === undefined ? ref : { ino, index, slot, len: ref!.len }]);
      }
    }
    return record;
  }

  /** The checkpoint's free-slot list (writers only, when the allocator first needs it). */
  async checkpointFreeSlots(): Promise<number[]> {
    return (await this.request((s) => s("free").getAllKeys())) as number[];
  }

  /** The committed refs of `ino` at index ≥ from (overlay over checkpoint): what a cut frees. */
  async committedFrom(ino: number, from: number): Promise<ChunkRef[]> {
    const base = (await this.request((s) => s("chunks").getAll(IDBKeyRange.bound([ino, from], [ino, Infinity])))) as ChunkRef[];
    const byIndex = new Map<number, ChunkRef | null>();
    for (const r of base) byIndex.set(r.index, r);
    for (const f of this.src.overlay.fileLayers(ino)) layerFile(byIndex, f, from);
    const out: ChunkRef[] = [];
    for (const r of byIndex.values()) if (r) out.push(r);
    return out;
  }
}

/**
 * A readonly body sees one commit point (invariant 7): it runs on the
 * committed state as it is, and again if a commit landed while it ran; after
 * READ_RETRIES such runs, once more with writers held off. An abort rejects
 * at once; the body's next call fails.
 */
export function readCommitted<T>(
  src: TxSource,
  exclusive: <R>(task: () => Promise<R>) => Promise<R>,
  body: (tx: StoreTx) => Promise<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    let current: OpfsTx | undefined;
    const onAbort = (): void => {
      if (current) current.dead = true;
      reject(abortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const once = async (): Promise<{ value: T; clean: boolean }> => {
      const since = src.commits;
      current = new OpfsTx(src, false);
      const value = await body(current);
      return { value, clean: src.commits === since };
    };
    (async () => {
      for (let i = 0; i < READ_RETRIES; i++) {
        const r = await once();
        if (r.clean) return r.value;
      }
      return (await exclusive(once)).value;
    })().then(
      (v) => {
        signal?.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal?.removeEventListener("abort", onAbort);
        reject(signal?.aborted ? abortError() : e);
      },
    );
  });
}
