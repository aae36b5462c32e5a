/**
 * The OPFS backend: chunk bytes in an Origin Private File System file written
 * through a synchronous access handle, everything else in IndexedDB.
 *
 * A crash (tab closed, worker terminated, renderer killed, power lost) may
 * stop us at any instant, and the tree must then be the one of some commit
 * point. OPFS has no transactions; IndexedDB does. The argument that this
 * holds is the numbered list below; code elsewhere cites it as "invariant N"
 * (opfs-read.ts, chunk-map-cache.ts, committed-records.ts, writer-batcher.ts).
 *
 * OPFS store invariants
 *
 *  1. Commit point. Only an IndexedDB readwrite transaction's commit makes a
 *     change visible. OPFS is written copy-on-write underneath it (2, 3), so
 *     a crash leaves exactly the state of the last commit that landed.
 *  2. Slots. The data file is an array of fixed-size slots, one chunk each.
 *     The `chunks` store maps [ino, index] to a slot, or holds a small chunk
 *     inline; `free` lists the free slots below the high-water mark `hwm`
 *     (`internal` store); no committed slot lies at or past `hwm`. Every slot
 *     below `hwm` is referenced exactly once or free (check() verifies it).
 *  3. Copy-on-write. A transaction writes new bytes only into slots free in
 *     the committed state (from `free`, or at/after `hwm`), at commit time,
 *     before the IndexedDB commit that points the map at them, takes them
 *     out of `free`, frees the slots they replace and moves `hwm`. A slot is
 *     freed only by a commit and never reused within the transaction that
 *     frees it. So the previous commit's slots — what a reader of it, or the
 *     state after a crash, refers to — never change under it. A crash before
 *     the commit leaves the written slots free, or past `hwm` (the file's
 *     tail, truncated at open: openInfo.reclaimedBytes).
 *  4. One writer at a time. Writers, and the shrinking of (9), run one at a
 *     time through the WriterBatcher (several bodies may share one
 *     transaction, which allocates once, at its commit). Hence the allocator
 *     (`hwm`, `freeSlots`), the committed records and the chunk map can be
 *     kept in memory, changed only when a commit or shrink has landed; two
 *     transactions never hand out one slot; an aborted one never commits its
 *     allocation. After a commit of unknown outcome all of it is dropped and
 *     read again (forgetMemory).
 *  5. Abort. An abort (signal, error, ENOSPC) aborts the IndexedDB
 *     transaction: the slots it wrote are free in the surviving state, and a
 *     file tail it grew is truncated again (rollbackFile).
 *  6. Durability. A durable commit flushes the data file before its strict
 *     IndexedDB commit, so it never points at bytes that could still be lost,
 *     its own or earlier relaxed commits'. A relaxed commit relies on the OS
 *     page cache, which survives any browser or worker crash; after a power
 *     loss it may be undone, like non-fsynced data on most file systems. So
 *     a slot freed by a relaxed commit is quarantined — neither written again
 *     nor trimmed (9) — until a durable point (a durable commit, or a barrier:
 *     data file flushed, then a strict IndexedDB commit, which IndexedDB
 *     orders after the relaxed ones) has made its freeing durable too. Else a
 *     power loss could undo the freeing yet keep the new bytes, and an
 *     fsynced file would read another file's data. The quarantine lives in
 *     memory only, so open() and close() each pass a barrier before anything
 *     is reused: every free slot a session starts from is durably free. A
 *     barrier is also forced past QUARANTINE_LIMIT slots and on ENOSPC.
 *  7. Readers and slot reuse. Chromium starts a readwrite transaction only
 *     after earlier overlapping readonly ones have finished (checked in the
 *     browser), so a slot freed by a commit is not rewritten while a reader of
 *     the previous commit can still read it through IndexedDB. A reader that
 *     needs no IndexedDB reads a slot synchronously, in the same turn as the
 *     cache lookup that named it, when no writer is in flight (8).
 *  8. Cache epochs. The chunk map cache and the committed records hold
 *     committed state only, never older or newer: a writer drops the inodes
 *     it touches before its commit can land and records its final refs once
 *     it has; a reader keeps what it looked up only if no drop or commit
 *     happened meanwhile (their `version`, the cache epoch). Readers use the
 *     caches only while no writer is in flight, and a body that mixed cache
 *     hits with an IndexedDB snapshot runs again if a writer started since
 *     its first hit (opfs-read.ts).
 *  9. Shrink. Free slots at the file's end are given back (`hwm` lowered,
 *     file truncated) at open and after commits that free the last slot,
 *     never past a quarantined slot (6). Truncating before the transaction
 *     commits is safe even if it aborts or we crash: slots past the new end
 *     are free either way, and a later allocation there grows the file again.
 * 10. One handle. A store keeps one sync access handle, opened in open()
 *     (Safari caps them at ~250 per page, and createSyncAccessHandle() is
 *     async, which a transaction body may not await). It is exclusive, so it
 *     doubles as a cross-context lock: a second opener retries for a bounded
 *     time, then fails with a clear error.
 *
 * Alternatives weighed: writing in place behind a write-ahead log (PGlite's
 * way) writes every byte twice and needs a replay at open; one OPFS file per
 * inode needs a sync handle per open file (Safari caps them, and opening one
 * is async, which a transaction body may not await) and still has no
 * atomicity across files. Copy-on-write slots cost one slot copy per small
 * overwrite and nothing else.
 *
 * Chunk bytes are written at commit time (after the body), in runs: chunks
 * that land in consecutive slots go out in one write() call, because OPFS
 * calls are expensive per call (browser.md: 12 MB/s at 8 KiB vs 236 MB/s at
 * 512 KiB) and a sequential 512 KiB write allocates consecutive slots.
 *
 * Memory stays bounded: the caches of committed state (8) are LRU-bounded;
 * a transaction holds only the chunks it writes until its commit.
 */
import { deleteDB, unwrap } from "idb";
import { copyFrom } from "../protocol/bytes.js";
import { Errno, isFsError, isQuotaError } from "../protocol/errno.js";
import type { Store, StoreTx, StoreUsage, TxMode, TxOptions } from "./store.js";
import { ChunkMapCache } from "./chunk-map-cache.js";
import { CommittedRecords } from "./committed-records.js";
import { WriterBatcher } from "./writer-batcher.js";
import { OpfsReadTx, readOnlyError, runCachedRead } from "./opfs-read.js";
import {
  MetadataOps,
  RollbackError,
  chunkRange,
  enospc,
  openFormat,
  req,
  txDone,
  openWorkerDb,
  ownBytes,
  runIdbTransaction,
  type AnyTx,
  type ChunkRef,
  type FormatRecord,
  type StoreName,
  type WorkerDb,
} from "./indexeddb-common.js";

/**
 * Default chunk (= slot) size: 256 KiB, chosen by measurement (headless
 * Chromium 156, dedicated worker, this 2-core VM shared with other jobs, so
 * ranges over runs; e2e/browser/store-bench.ts, one transaction per 512 KiB
 * write/read like the file-system layer):
 *
 *   slot    seq write   overwrite   seq read   4 KiB random write   random read
 *   128K    163-208     193-232     415-426    1.6-1.7 ms           0.58-0.68 ms
 *   256K    242-258     192-274     436-449    1.9-2.1 ms           0.58-0.61 ms
 *   512K    240-333     282-306     439-475    2.2-2.7 ms           0.72-0.75 ms   (MB/s)
 *
 *   raw sync-handle writes here: 0.8-1.4 GB/s at 64 KiB calls, 1.1-1.4 at
 *   128 KiB, 1.2-1.8 at 512 KiB; reads 0.9-2.2 GB/s.
 *
 * A store write is bound by its IndexedDB metadata commit (~1-1.5 ms here),
 * not by OPFS, so fewer, larger slots help sequential writes up to 256 KiB;
 * past that, a small random write (copy-on-write of one whole slot) gets
 * dearer with nothing gained. Sequential writes never depend on the slot
 * size for their OPFS call size: consecutive slots are written in one call
 * (browser.md measured 82 MB/s at 64 KiB calls vs 236 at 512 KiB on this
 * machine kind; here the gap is smaller, but the copy that coalescing costs
 * is bounded by memory bandwidth). Small files and short tails (up to half a
 * slot) are stored inline in IndexedDB, so they cost their own size.
 */
export const OPFS_DEFAULT_CHUNK_SIZE = 256 * 1024;

export interface OpfsStoreOptions {
  /** Chunk (slot) size for a new store. An existing store keeps the size it was created with. */
  chunkSize?: number;
  /**
   * Chunks of at most this many bytes are kept inline in IndexedDB instead
   * of taking a whole slot, so small files and short tails cost their own
   * size. Default chunkSize / 2.
   */
  inlineLimit?: number;
  /** How long open() keeps retrying while another context still holds the data file's handle. Default 5000 ms. */
  handleRetryMs?: number;
  /** Testing only: observe the store's steps that tests cannot otherwise see. */
  debugHooks?: {
    /** After a commit's data is written and before its metadata is. */
    afterDataWrite?: () => void;
    /** After every earlier commit became durable (data file flushed, strict IndexedDB commit): invariant 6. */
    afterDurable?: () => void;
    /** open() is about to wait and retry: another context holds the data file (`retries` so far). */
    onHandleRetry?: (retries: number) => void;
  };
}

/** What open() found and repaired. */
export interface OpfsOpenInfo {
  /** Bytes of the data file past the committed high-water mark (written by transactions that never committed), truncated away. */
  reclaimedBytes: number;
  /** Free slots at the end of the file given back to the file system. */
  trimmedSlots: number;
  /** Times createSyncAccessHandle had to be retried (the previous page's worker still held it). */
  handleRetries: number;
  ms: number;
}

/** Invariants of the slot bookkeeping, from a full scan (tests, fsck). */
export interface OpfsCheckReport {
  ok: boolean;
  problems: string[];
  hwm: number;
  usedSlots: number;
  freeSlots: number;
  inlineChunks: number;
  fileBytes: number;
}

// The project compiles against the DOM lib, which lacks the worker-only OPFS
// sync access handle; this is the part of it used here.
export interface SyncAccessHandle {
  read(buffer: ArrayBufferView, options?: { at?: number }): number;
  write(buffer: ArrayBufferView, options?: { at?: number }): number;
  truncate(newSize: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
export interface SyncFileHandle {
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
}

const STORES: StoreName[] = ["inodes", "entries", "chunks", "meta", "internal", "free"];
const ROOT_DIR = "worker9p";
const DATA_FILE = "data";
/** Largest single write() of a run; bounds the transient copy. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;
/** Free slots at the end of the file given back per shrink pass (keeps each pass short). */
const SHRINK_BATCH = 4096;
/** Freed slots waiting for a durable point before one is forced (invariant 6). */
const QUARANTINE_LIMIT = 256;
/** Up to this many free slots, allocation sorts them all and takes the lowest; past it, any (sorted). */
const SORTED_FREE_LIMIT = 4096;
/** Chunk-map records fetched per lookup when reading: sequential reads need one round trip per this many chunks. */
const READ_AHEAD = 8;

export function opfsStoreDbName(name: string): string {
  return `worker9p-opfs:${name}`;
}

function key(ino: number, index: number): string {
  return `${ino}:${index}`;
}

/** Whether pending[i..j) lie back to back in one buffer. */
function adjacentViews(pending: PendingChunk[], i: number, j: number): boolean {
  for (let k = i + 1; k < j; k++) {
    const a = pending[k - 1]!.data;
    const b = pending[k]!.data;
    if (b.buffer !== a.buffer || b.byteOffset !== a.byteOffset + a.length) return false;
  }
  return true;
}

interface PendingChunk {
  ino: number;
  index: number;
  data: Uint8Array;
}

export class OpfsTx extends MetadataOps implements StoreTx {
  /** Slot-sized chunks put by this transaction, written at commit. */
  readonly pending = new Map<string, PendingChunk>();
  /** Committed slots this transaction's changes release (made free by its commit). */
  readonly freed = new Set<number>();
  /** Keys whose committed record's slot is already accounted for in `freed`. */
  readonly resolved = new Set<string>();
  /** Lookups of replaced chunk records still in flight (their slots go to `freed`). */
  readonly lookups: Promise<unknown>[] = [];
  /** Read-ahead of committed chunk records: ino → index → record (null: none). Dropped on any change to that inode's chunks. */
  private ahead = new Map<number, Map<number, ChunkRef | null>>();
  /** Set by commit: the high-water mark read in this transaction, the new one, and whether slots were written. */
  hwmAtStart = -1;
  newHwm = -1;
  /** Committed free slots this transaction's commit takes. */
  usedFree: number[] = [];
  /** Whether its commit is durable (set by commitChunks). */
  durable = false;
  wroteData = false;
  /** Bumped on every change to an inode's chunks, so a read-ahead that raced one is not kept. */
  private readonly generation = new Map<number, number>();
  /** Inodes whose chunks this transaction changes: the committed-map cache forgets them at commit. */
  readonly touched = new Set<number>();
  /** The last change per chunk key: its new record, null when deleted, "slot" when it waits in `pending`. */
  readonly changes = new Map<string, { ino: number; index: number; ref: ChunkRef | null | "slot" }>();
  /** Records written by commitChunks for the pending chunks, by key. */
  readonly slotRefs = new Map<string, ChunkRef>();
  /** Per inode, the lowest index deleteChunksFrom removed from (puts after it are in `changes`). */
  private readonly truncatedFrom = new Map<number, number>();

  constructor(
    tx: AnyTx,
    private readonly owner: OpfsStore,
    readonly writable: boolean,
  ) {
    // Writers run one at a time (invariant 4): they read committed inode and meta records from memory.
    super(tx, writable ? { records: owner.records, writer: true } : undefined);
  }

  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    const p = this.pending.get(key(ino, index));
    if (p) return p.data;
    return this.owner.chunkBytes(await this.ref(ino, index));
  }

  async readChunkInto(ino: number, index: number, within: number, dest: Uint8Array): Promise<number | undefined> {
    const p = this.pending.get(key(ino, index));
    if (p) return copyFrom(p.data, within, dest);
    return this.owner.readChunkInto(await this.ref(ino, index), within, dest);
  }

  /** The record of a chunk as this transaction sees it (pending puts aside), looked up with read-ahead. */
  private async ref(ino: number, index: number): Promise<ChunkRef | null> {
    const known = this.ahead.get(ino)?.get(index);
    if (known !== undefined) return known;
    if (this.writable) {
      // This writer's own change, else the committed record, if cached (invariant 4).
      const own = this.changes.get(key(ino, index));
      if (own && own.ref !== "slot") return own.ref;
      const cut = this.truncatedFrom.get(ino);
      if (cut !== undefined && index >= cut) return null;
      const hit = this.owner.cache.lookup(ino, index);
      if (hit !== undefined) return hit;
    }
    const gen = this.generation.get(ino) ?? 0;
    const since = this.owner.cache.version;
    const got = (await req(this.store("chunks").getAll(IDBKeyRange.bound([ino, index], [ino, index + READ_AHEAD - 1]), READ_AHEAD))) as ChunkRef[];
    const m = new Map<number, ChunkRef | null>();
    for (let i = 0; i < READ_AHEAD; i++) m.set(index + i, null);
    for (const r of got) m.set(r.index, r);
    // A change to this inode's chunks issued while the lookup was in flight makes the neighbours stale.
    if ((this.generation.get(ino) ?? 0) === gen) this.ahead.set(ino, m);
    // A reader sees the committed map: worth keeping for the next reader.
    if (!this.writable) this.owner.cache.remember(ino, m, since);
    return m.get(index) ?? null;
  }

  async putChunk(ino: number, index: number, data: Uint8Array, isNew = false): Promise<void> {
    if (!this.writable) throw readOnlyError();
    if (data.length > this.owner.chunkSize) throw new RangeError(`chunk of ${data.length} bytes exceeds chunkSize ${this.owner.chunkSize}`);
    const k = key(ino, index);
    this.writes++;
    // Nothing stored there: no slot to free, no lookup to make (an append needs no IndexedDB read).
    if (isNew && !this.changes.has(k)) this.resolved.add(k);
    // Before the read-ahead is dropped: it may already know the replaced record.
    this.noteReplaced(ino, index);
    this.changed(ino);
    if (data.length <= this.owner.inlineLimit) {
      this.pending.delete(k);
      this.releaseOld(ino, index);
      const ref: ChunkRef = { ino, index, slot: -1, len: data.length, data: ownBytes(data) };
      this.store("chunks").put(ref, [ino, index]);
      this.changes.set(k, { ino, index, ref });
    } else {
      // The record is written at commit, with its slot.
      this.pending.set(k, { ino, index, data });
      this.changes.set(k, { ino, index, ref: "slot" });
    }
  }

  async countChunks(ino: number, from: number, to: number): Promise<number> {
    if (to <= from) return 0;
    // Committed records and this transaction's inline puts are in IndexedDB; slot-sized puts wait in `pending`.
    const keys = (await req(this.store("chunks").getAllKeys(IDBKeyRange.bound([ino, from], [ino, to], false, true)))) as [number, number][];
    const indices = new Set(keys.map((k) => k[1]));
    for (const p of this.pending.values()) if (p.ino === ino && p.index >= from && p.index < to) indices.add(p.index);
    return indices.size;
  }

  async deleteChunk(ino: number, index: number): Promise<void> {
    if (!this.writable) throw readOnlyError();
    this.writes++;
    this.noteReplaced(ino, index);
    this.changed(ino);
    this.pending.delete(key(ino, index));
    this.changes.set(key(ino, index), { ino, index, ref: null });
    this.releaseOld(ino, index);
    this.store("chunks").delete([ino, index]);
  }

  async deleteChunksFrom(ino: number, from: number): Promise<void> {
    if (!this.writable) throw readOnlyError();
    this.writes++;
    this.changed(ino);
    for (const [k, p] of this.pending) if (p.ino === ino && p.index >= from) this.pending.delete(k);
    // The cache forgets the whole inode at commit, so what lies past `from` is simply unknown then.
    for (const [k, c] of this.changes) if (c.ino === ino && c.index >= from) this.changes.delete(k);
    this.truncatedFrom.set(ino, Math.min(from, this.truncatedFrom.get(ino) ?? Infinity));
    const range = chunkRange(ino, from);
    this.track(req(this.store("chunks").getAll(range)), (refs) => {
      for (const r of refs as ChunkRef[]) if (r.slot >= 0) this.freed.add(r.slot);
    });
    this.store("chunks").delete(range);
  }

  private changed(ino: number): void {
    this.touched.add(ino);
    this.ahead.delete(ino);
    this.generation.set(ino, (this.generation.get(ino) ?? 0) + 1);
  }

  /**
   * Note the slot of the committed record about to be replaced or deleted:
   * every slot reference in the chunk map during a body is a committed one
   * (new ones are written only at commit), so that slot is freed by the
   * commit. Each key needs this once per transaction. Known from a read of
   * this transaction, it costs nothing; a large chunk's lookup waits for the
   * commit (one range read per run of chunks); otherwise a get is issued now,
   * ahead of the write (requests run in order), and commit waits for it.
   */
  private noteReplaced(ino: number, index: number): void {
    const k = key(ino, index);
    if (this.resolved.has(k)) return;
    // Unresolved keys were not put or deleted one by one in this transaction: the cache's committed record is the one replaced.
    const known = this.ahead.get(ino)?.get(index) ?? (this.writable ? this.owner.cache.lookup(ino, index) : undefined);
    if (known !== undefined) {
      if (known && known.slot >= 0) this.freed.add(known.slot);
      this.resolved.add(k);
    }
  }

  /** For writes that replace the record right away (inline chunks, deletes): look the old one up first. */
  private releaseOld(ino: number, index: number): void {
    const k = key(ino, index);
    if (this.resolved.has(k)) return;
    this.resolved.add(k);
    this.track(req(this.store("chunks").get([ino, index])), (ref) => {
      const r = ref as ChunkRef | undefined;
      if (r && r.slot >= 0) this.freed.add(r.slot);
    });
  }

  private track<V>(p: Promise<V>, then: (v: V) => void): void {
    // Failures abort the transaction, which reports them; keep them off the unhandled-rejection path.
    this.lookups.push(p.then(then).catch(() => {}));
  }
}

export class OpfsStore implements Store {
  readonly kind = "opfs";
  /** Slot-sized chunks are written to the data file at commit; inline ones are cloned by IndexedDB. */
  readonly keepsChunkBuffers = false;
  readonly chunkSize: number;
  readonly inlineLimit: number;
  /** What open() had to repair. */
  readonly openInfo: OpfsOpenInfo;
  /** The committed chunk map as far as known: reads that hit it need no IndexedDB transaction. */
  readonly cache = new ChunkMapCache();
  /** Committed inode and meta records, for writers (they run one at a time). */
  readonly records = new CommittedRecords();
  /** Writers (and file-tail shrinking) one at a time, committed in batches (invariant 4). */
  private readonly writers = new WriterBatcher<OpfsTx>(async (body, asked) => {
    // Enough freed slots waiting for a durable commit: make this one durable, so they can be used again.
    const options = { ...asked, durable: asked.durable === true || this.quarantine.size >= QUARANTINE_LIMIT };
    const attempt = () =>
      runIdbTransaction(unwrap(this.db), STORES, "readwrite", options, (tx) => new OpfsTx(tx, this, true), body, {
        beforeCommit: (x) => this.commitChunks(x, options.durable),
        onRollback: (x) => this.rollbackFile(x),
        onCommit: (x) => this.committed(x),
        onDesync: () => this.forgetMemory(),
      });
    try {
      return await attempt();
    } catch (e) {
      // Out of space while freed slots wait for durability: make them durable and usable, then try once more.
      if (!(isFsError(e) && e.errno === Errno.ENOSPC) || this.quarantine.size === 0) throw e;
      await this.durabilityBarrier();
      return attempt();
    }
  });
  /** Slots freed by commits that are not durable yet: not written again, nor trimmed, before a durable point (invariant 6). */
  private readonly quarantine = new Set<number>();
  /** Writers in flight, and started in all: readers consult the caches only while none is in flight (opfs-read.ts). */
  get writersActive(): number {
    return this.writers.active;
  }
  get writersStarted(): number {
    return this.writers.started;
  }
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Committed free slots below hwm, once a writer has needed them (kept up to date by commits and shrinks). */
  private freeSlots: Set<number> | undefined;
  private shrinking: Promise<void> | undefined;
  /** Committed high-water mark: read at open, then changed only by commits and shrinks (allocation uses it). */
  private hwm: number;
  /** False after forgetMemory(): the next commit reads hwm from IndexedDB. */
  private hwmKnown = true;

  private constructor(
    private readonly name: string,
    private readonly db: WorkerDb,
    private readonly handle: SyncAccessHandle,
    format: FormatRecord,
    hwm: number,
    openInfo: OpfsOpenInfo,
    private readonly options: OpfsStoreOptions,
  ) {
    this.chunkSize = format.chunkSize;
    this.inlineLimit = Math.min(options.inlineLimit ?? Math.floor(format.chunkSize / 2), format.chunkSize);
    this.hwm = hwm;
    this.openInfo = openInfo;
  }

  /**
   * Open the store called `name` (creating it), in a dedicated worker.
   * Reads two small records and the data file's size, whatever the tree's size.
   */
  static async open(name: string, options: OpfsStoreOptions = {}): Promise<OpfsStore> {
    const started = performance.now();
    let store: OpfsStore | undefined;
    const db = await openWorkerDb(opfsStoreDbName(name), true, () => {
      if (store) store.closed = true;
    });
    let handle: SyncAccessHandle | undefined;
    try {
      const tx = db.transaction("internal", "readwrite");
      const format = await openFormat(tx, name, "opfs", options.chunkSize ?? OPFS_DEFAULT_CHUNK_SIZE);
      let hwm = (await tx.store.get("hwm")) as number | undefined;
      if (hwm === undefined) {
        hwm = 0;
        await tx.store.put(0, "hwm");
      }
      await tx.done;
      const dir = await storeDirectory(name, true);
      const file = (await dir.getFileHandle(DATA_FILE, { create: true })) as unknown as SyncFileHandle;
      const { handle: h, retries } = await acquireHandle(file, options.handleRetryMs ?? 5000, options.debugHooks?.onHandleRetry);
      handle = h;
      // Reclaim what transactions that never committed wrote past the high-water mark.
      const committedBytes = hwm * format.chunkSize;
      const size = handle.getSize();
      let reclaimedBytes = 0;
      if (size > committedBytes) {
        handle.truncate(committedBytes);
        handle.flush();
        reclaimedBytes = size - committedBytes;
      }
      const info: OpfsOpenInfo = { reclaimedBytes, trimmedSlots: 0, handleRetries: retries, ms: 0 };
      store = new OpfsStore(name, db, handle, format, hwm, info, options);
      // The free list read above may hold slots freed by relaxed commits of an
      // earlier session (invariant 6): make them durable before any is reused or trimmed.
      await store.durabilityBarrier();
      info.trimmedSlots = await store.shrink();
      info.ms = Math.round((performance.now() - started) * 10) / 10;
      return store;
    } catch (e) {
      handle?.close();
      db.close();
      throw e;
    }
  }

  /** Delete a store's metadata and data (it must not be open). */
  static async destroy(name: string): Promise<void> {
    await deleteDB(opfsStoreDbName(name));
    const root = await navigator.storage.getDirectory();
    const top = await root.getDirectoryHandle(ROOT_DIR, { create: true });
    await top.removeEntry(opfsDirectoryName(name), { recursive: true }).catch((e: unknown) => {
      if ((e as { name?: string }).name !== "NotFoundError") throw e;
    });
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error("OPFS store is closed"));
    if (mode === "readonly") {
      const p = runCachedRead(body, options?.signal, (opened, useCache) => {
        return new OpfsReadTx(this, opened, () => new OpfsTx(unwrap(this.db).transaction(STORES, "readonly"), this, false), useCache);
      });
      this.track(p);
      return p;
    }
    const p = this.writers.run(body, options);
    this.track(p);
    return p;
  }

  async usage(): Promise<StoreUsage> {
    // OPFS and IndexedDB both count against the origin's quota.
    const est = await navigator.storage.estimate();
    return { used: est.usage ?? 0, quota: est.quota ?? 0 };
  }

  /** Waits for transactions in flight, flushes the data file and releases its handle. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    await this.shrinking;
    if (this.released) return;
    this.released = true;
    try {
      // Leave nothing relaxed behind (invariant 6): the next session starts from durable state.
      await this.durabilityBarrier();
    } catch {
      // Closing anyway (the database may be going away: destroy()); open() makes the barrier again.
    }
    this.handle.close();
    this.db.close();
  }

  private released = false;

  /** A chunk's bytes, read from its slot now (or its inline copy); undefined for a hole. */
  chunkBytes(ref: ChunkRef | null): Uint8Array | undefined {
    if (!ref) return undefined;
    if (ref.slot < 0) return ref.data ?? new Uint8Array(0);
    const out = new Uint8Array(ref.len);
    this.readSlot(ref, 0, out);
    return out;
  }

  /** StoreTx.readChunkInto for a committed record: straight from the data file into `dest`. */
  readChunkInto(ref: ChunkRef | null, within: number, dest: Uint8Array): number | undefined {
    if (!ref) return undefined;
    if (ref.slot < 0) return copyFrom(ref.data ?? new Uint8Array(0), within, dest);
    const n = Math.max(0, Math.min(dest.length, ref.len - within));
    if (n > 0) this.readSlot(ref, within, n === dest.length ? dest : dest.subarray(0, n));
    return n;
  }

  private readSlot(ref: ChunkRef, within: number, into: Uint8Array): void {
    const n = this.handle.read(into, { at: ref.slot * this.chunkSize + within });
    if (n !== into.length) {
      throw new Error(`OPFS store ${this.name}: slot ${ref.slot} holds ${n} of ${into.length} bytes at ${within} (data file truncated?)`);
    }
  }

  /**
   * The commit step: runs after the body, inside its IndexedDB transaction.
   * Everything awaited here is a request of that transaction.
   */
  private async commitChunks(x: OpfsTx, durable: boolean): Promise<void> {
    if (!x.writable) return;
    x.durable = durable;
    // From now until the commit is known either way, readers of these inodes ask IndexedDB.
    if (x.touched.size > 0) this.cache.drop(x.touched);
    const pending = [...x.pending.values()].sort((a, b) => a.ino - b.ino || a.index - b.index);
    // The records the pending chunks replace, where not known yet: until this
    // commit the chunk map holds only committed slots, so every slot found
    // here is freed by it.
    const chunks = x.store("chunks");
    const unknown = pending.filter((p) => !x.resolved.has(key(p.ino, p.index)));
    for (let i = 0; i < unknown.length; ) {
      let j = i + 1;
      while (j < unknown.length && unknown[j]!.ino === unknown[i]!.ino && unknown[j]!.index === unknown[j - 1]!.index + 1) j++;
      const range = IDBKeyRange.bound([unknown[i]!.ino, unknown[i]!.index], [unknown[i]!.ino, unknown[j - 1]!.index]);
      x.lookups.push(
        req(chunks.getAll(range)).then((refs) => {
          for (const r of refs as ChunkRef[]) if (r.slot >= 0) x.freed.add(r.slot);
        }),
      );
      i = j;
    }
    await Promise.all(x.lookups);
    // Writers run one at a time, so the committed high-water mark and free slots are known here (invariant 4).
    if (!this.hwmKnown) {
      this.hwm = ((await req(x.store("internal").get("hwm"))) as number | undefined) ?? 0;
      this.hwmKnown = true;
    }
    const hwm = this.hwm;
    const freeKeys = pending.length > 0 ? this.lowestFree(await this.freeSet(x), pending.length) : [];
    x.hwmAtStart = hwm;
    if (pending.length === 0 && x.freed.size === 0) {
      x.newHwm = hwm;
      // Earlier non-durable commits may have left data unflushed that this
      // strict commit would otherwise make durable metadata point at.
      if (durable) this.handle.flush();
      return;
    }

    // Allocate: free slots first (lowest first), then past the high-water mark.
    const slots: number[] = [];
    let next = hwm;
    for (let i = 0; i < pending.length; i++) slots.push(i < freeKeys.length ? freeKeys[i]! : next++);
    x.wroteData = pending.length > 0;
    try {
      this.writeRuns(pending, slots);
    } catch (e) {
      throw new RollbackError(isQuotaError(e) ? enospc("OPFS quota exceeded") : e);
    }
    this.options.debugHooks?.afterDataWrite?.();
    // A durable commit must never point at bytes that could still be lost
    // (its own, or those of earlier non-durable commits).
    if (durable) this.handle.flush();

    for (let i = 0; i < pending.length; i++) {
      const p = pending[i]!;
      const ref: ChunkRef = { ino: p.ino, index: p.index, slot: slots[i]!, len: p.data.length };
      chunks.put(ref, [p.ino, p.index]);
      x.slotRefs.set(key(p.ino, p.index), ref);
    }
    const free = x.store("free");
    for (const k of freeKeys) free.delete(k);
    for (const s of x.freed) free.put(1, s);
    x.usedFree = freeKeys;
    x.newHwm = next;
    if (next !== hwm) x.store("internal").put(next, "hwm");
  }

  /**
   * Make every commit so far durable (data file flushed, then a strict
   * IndexedDB commit, which IndexedDB orders after the earlier relaxed ones),
   * so the slots they freed may be written again.
   */
  async durabilityBarrier(): Promise<void> {
    this.handle.flush();
    const tx = unwrap(this.db).transaction("internal", "readwrite", { durability: "strict" });
    tx.objectStore("internal").put(Date.now(), "durableAt");
    await txDone(tx);
    this.becameDurable();
  }

  /** Every commit so far is durable: what they freed may be written again (invariant 6). */
  private becameDurable(): void {
    if (this.freeSlots) for (const s of this.quarantine) this.freeSlots.add(s);
    this.quarantine.clear();
    this.options.debugHooks?.afterDurable?.();
  }

  /** After a commit of uncertain extent: drop everything kept in memory and read it again when needed. */
  private forgetMemory(): void {
    this.records.clear();
    this.cache.clear();
    this.freeSlots = undefined;
    this.hwmKnown = false;
  }

  /** The committed free slots, read once (inside a writer: nothing else changes them meanwhile). */
  private async freeSet(x: OpfsTx): Promise<Set<number>> {
    if (!this.freeSlots) {
      const keys = (await req(x.store("free").getAllKeys())) as number[];
      this.freeSlots = new Set(keys.filter((k) => !this.quarantine.has(k)));
    }
    return this.freeSlots;
  }

  /** `n` free slots to fill, lowest first (so the file's tail empties and can shrink), ascending (so runs stay consecutive). */
  private lowestFree(free: Set<number>, n: number): number[] {
    if (free.size === 0) return [];
    const all = free.size <= SORTED_FREE_LIMIT;
    const picked: number[] = [];
    for (const s of free) {
      picked.push(s);
      if (!all && picked.length === n) break;
    }
    picked.sort((a, b) => a - b);
    return picked.slice(0, n);
  }

  /** Write the pending chunks to their slots, one write() per run of consecutive slots. */
  private writeRuns(pending: PendingChunk[], slots: number[]): void {
    const cs = this.chunkSize;
    const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / cs));
    for (let i = 0; i < pending.length; ) {
      let j = i + 1;
      while (j < pending.length && j - i < maxRun && slots[j] === slots[j - 1]! + 1 && pending[j - 1]!.data.length === cs) j++;
      const at = slots[i]! * cs;
      const first = pending[i]!.data;
      const last = pending[j - 1]!.data;
      const length = (j - i - 1) * cs + last.length;
      let buf: Uint8Array;
      if (j - i === 1) {
        buf = first;
      } else if (adjacentViews(pending, i, j)) {
        // Consecutive chunks of one Twrite are back-to-back views of its frame: write them as one view, no copy.
        buf = new Uint8Array(first.buffer, first.byteOffset, length);
      } else {
        buf = new Uint8Array(length);
        for (let k = i; k < j; k++) buf.set(pending[k]!.data, (k - i) * cs);
      }
      const n = this.handle.write(buf, { at });
      if (n !== buf.length) throw enospc(`OPFS wrote ${n} of ${buf.length} bytes`);
      i = j;
    }
  }

  /** An aborted transaction that grew the file gives the tail back (its slots were never committed). */
  private rollbackFile(x: OpfsTx): void {
    if (!x.wroteData || x.hwmAtStart < 0) return;
    const committed = x.hwmAtStart * this.chunkSize;
    if (this.handle.getSize() > committed) this.handle.truncate(committed);
  }

  private committed(x: OpfsTx): void {
    if (x.newHwm >= 0) this.hwm = x.newHwm;
    if (this.freeSlots) for (const s of x.usedFree) this.freeSlots.delete(s);
    for (const s of x.freed) this.quarantine.add(s);
    // Every earlier commit is durable now as well.
    if (x.durable) this.becameDurable();
    this.records.apply(x.ownInodes, x.ownMeta, x.ownEntries);
    if (x.touched.size > 0) {
      const refs: [number, number, ChunkRef | null][] = [];
      for (const [k, c] of x.changes) {
        const ref = c.ref === "slot" ? x.slotRefs.get(k) : c.ref;
        if (ref !== undefined) refs.push([c.ino, c.index, ref]);
      }
      this.cache.apply(x.touched, refs);
    }
    // Freeing the last slot means the file may shrink: do it off the transaction's path.
    if (x.freed.has(this.hwm - 1)) this.scheduleShrink();
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
  }

  private scheduleShrink(): void {
    if (this.shrinking || this.closed) return;
    this.shrinking = this.writers.exclusive(() => this.shrink())
      .catch(() => 0)
      .then(() => {
        this.shrinking = undefined;
      });
  }

  /**
   * Give free slots at the end of the file back: lower `hwm` past them and
   * truncate. Truncating inside the transaction is safe even if it then
   * aborts or we crash: slots past the new end are free either way, and a
   * later allocation past the file's end just grows it again.
   */
  private async shrink(): Promise<number> {
    const tx = this.db.transaction(["internal", "free"], "readwrite");
    const hwm = ((await tx.objectStore("internal").get("hwm")) as number | undefined) ?? 0;
    let h = hwm;
    let cursor = await tx.objectStore("free").openKeyCursor(null, "prev");
    while (cursor && cursor.key === h - 1 && !this.quarantine.has(h - 1) && hwm - h < SHRINK_BATCH) {
      h--;
      cursor = await cursor.continue();
    }
    if (h < hwm) {
      this.handle.truncate(h * this.chunkSize);
      void tx.objectStore("free").delete(IDBKeyRange.bound(h, hwm - 1));
      void tx.objectStore("internal").put(h, "hwm");
    }
    await tx.done;
    this.hwm = h;
    if (this.freeSlots) for (let s = h; s < hwm; s++) this.freeSlots.delete(s);
    return hwm - h;
  }

  /** Scan all slot bookkeeping and the data file: every slot below hwm referenced or free, exactly once. Reads everything: tests and fsck only. */
  async check(): Promise<OpfsCheckReport> {
    await Promise.allSettled([...this.inflight]);
    await this.shrinking;
    // Between writers: one may otherwise have written slots past hwm whose commit waits behind the scan.
    return this.writers.exclusive(() => this.scan());
  }

  private async scan(): Promise<OpfsCheckReport> {
    const tx = this.db.transaction(["chunks", "free", "internal"], "readonly");
    const hwm = ((await tx.objectStore("internal").get("hwm")) as number | undefined) ?? 0;
    const refs = (await tx.objectStore("chunks").getAll()) as ChunkRef[];
    const free = (await tx.objectStore("free").getAllKeys()) as number[];
    await tx.done;
    const problems: string[] = [];
    const owner = new Map<number, string>();
    let inline = 0;
    for (const r of refs) {
      if (r.slot < 0) {
        inline++;
        if (!r.data || r.data.length !== r.len) problems.push(`inline chunk ${r.ino}:${r.index} has ${r.data?.length} bytes, record says ${r.len}`);
        continue;
      }
      if (r.slot >= hwm) problems.push(`chunk ${r.ino}:${r.index} in slot ${r.slot} past hwm ${hwm}`);
      const prev = owner.get(r.slot);
      if (prev) problems.push(`slot ${r.slot} used by ${prev} and ${r.ino}:${r.index}`);
      owner.set(r.slot, `${r.ino}:${r.index}`);
    }
    for (const s of free) {
      if (s >= hwm) problems.push(`free slot ${s} past hwm ${hwm}`);
      if (owner.has(s)) problems.push(`slot ${s} both free and used by ${owner.get(s)}`);
    }
    const freeSet = new Set(free);
    let leaked = 0;
    for (let s = 0; s < hwm; s++) if (!owner.has(s) && !freeSet.has(s)) leaked++;
    if (leaked > 0) problems.push(`${leaked} slots below hwm ${hwm} neither used nor free (leaked)`);
    // The writers' in-memory allocator state must be the committed one.
    if (this.hwmKnown && hwm !== this.hwm) problems.push(`in-memory hwm ${this.hwm}, committed ${hwm}`);
    const q = this.quarantine;
    if (this.freeSlots && (this.freeSlots.size + q.size !== freeSet.size || [...freeSet].some((f) => !this.freeSlots!.has(f) && !q.has(f)))) {
      problems.push(`in-memory free slots (${this.freeSlots.size} + ${q.size} awaiting a durable commit) differ from the committed ones (${freeSet.size})`);
    }
    const fileBytes = this.handle.getSize();
    if (fileBytes > hwm * this.chunkSize) problems.push(`data file has ${fileBytes} bytes, more than hwm ${hwm} slots`);
    let maxUsed = -1;
    for (const s of owner.keys()) maxUsed = Math.max(maxUsed, s);
    if (maxUsed >= 0) {
      const r = refs.find((x) => x.slot === maxUsed)!;
      if (fileBytes < maxUsed * this.chunkSize + r.len) problems.push(`data file of ${fileBytes} bytes cuts slot ${maxUsed}`);
    }
    return { ok: problems.length === 0, problems, hwm, usedSlots: owner.size, freeSlots: free.length, inlineChunks: inline, fileBytes };
  }
}

/**
 * OPFS refuses some directory names ("", "..", anything with "/") that are
 * fine tree names (IndexedDB takes any string): encode, with a prefix so the
 * result is never empty or a dot name.
 */
export function opfsDirectoryName(name: string): string {
  return `tree-${encodeURIComponent(name).replace(/\./g, "%2E")}`;
}

async function storeDirectory(name: string, create: boolean): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle(ROOT_DIR, { create });
  return top.getDirectoryHandle(opfsDirectoryName(name), { create });
}

/**
 * After a reload the previous page's worker releases its handle
 * asynchronously: retry NoModificationAllowedError with a bounded backoff.
 */
async function acquireHandle(
  file: SyncFileHandle,
  budgetMs: number,
  onRetry?: (retries: number) => void,
): Promise<{ handle: SyncAccessHandle; retries: number }> {
  const deadline = performance.now() + budgetMs;
  let delay = 5;
  for (let retries = 0; ; retries++) {
    try {
      return { handle: await file.createSyncAccessHandle(), retries };
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name !== "NoModificationAllowedError" || performance.now() + delay > deadline) {
        if (name === "NoModificationAllowedError") {
          throw new Error(`OPFS data file is still held by another context after ${budgetMs} ms (is the store open in another tab or worker?)`);
        }
        throw e;
      }
      onRetry?.(retries);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }
}
