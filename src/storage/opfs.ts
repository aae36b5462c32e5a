/**
 * The OPFS backend: chunk bytes in an Origin Private File System data file,
 * metadata in an OPFS journal (opfs-journal.ts), both written through
 * synchronous access handles, and checkpointed in the background into
 * IndexedDB, which a lazy open reads on demand.
 *
 * A crash (tab closed, worker terminated, renderer killed, power lost) may
 * stop us at any instant, and the tree must then be the one of some commit
 * point. The argument that this holds is the numbered list below; code
 * elsewhere cites it as "invariant N" (opfs-tx.ts, opfs-overlay.ts,
 * opfs-journal.ts, chunk-map-cache.ts, committed-records.ts, writer-batcher.ts).
 *
 * OPFS store invariants
 *
 *  1. Commit point. A writer batch commits by appending one record to the
 *     journal (one sync-handle write). The committed state is the records
 *     since the last checkpoint (the overlay, opfs-overlay.ts) on top of the
 *     IndexedDB checkpoint. OPFS data is written copy-on-write underneath
 *     (2, 3), so a crash leaves exactly the state of the last record that
 *     reached the journal whole (12).
 *  2. Slots. The data file is an array of fixed-size slots, one chunk each.
 *     The chunk map ([ino, index] → slot, or a small chunk's bytes inline)
 *     and the list of free slots below the high-water mark `hwm` are part of
 *     the committed state; no committed slot lies at or past `hwm`. Every
 *     slot below `hwm` is referenced exactly once or free (check()).
 *  3. Copy-on-write. A batch writes new bytes only into slots free in the
 *     committed state (from the free list, or at/after `hwm`), before the
 *     journal record that points the map at them, takes them off the free
 *     list, frees the slots they replace and moves `hwm`. A slot is freed
 *     only by a commit and never reused within the batch that frees it. So
 *     the previous commit's slots never change under it. A crash before the
 *     record leaves the written slots free, or past `hwm` (the file's tail,
 *     truncated at open: openInfo.reclaimedBytes).
 *  4. One writer at a time. Writers, checkpoints (11) and shrinking (9) run
 *     one at a time through the WriterBatcher (several bodies may share one
 *     transaction, which allocates once, at its commit). Hence the allocator
 *     (`hwm`, `freeSlots`), the overlay and the caches are changed only by a
 *     commit, a checkpoint or a shrink; two batches never hand out one slot;
 *     an aborted one never commits its allocation.
 *  5. Abort. Until its record is appended a batch has changed nothing but
 *     free slots: an abort (signal, error, ENOSPC) drops its changes, and a
 *     file tail it grew is truncated again. From the slot lookups on, the
 *     commit step is synchronous, so no abort lands halfway.
 *  6. Durability. A durable commit flushes the data file, then appends and
 *     flushes its record, so it never points at bytes that could still be
 *     lost, its own or earlier relaxed commits'. A relaxed commit relies on
 *     the OS page cache, which survives any browser or worker crash; after a
 *     power loss it may be undone, like non-fsynced data on most file
 *     systems. So a slot freed by a relaxed commit is quarantined — neither
 *     written again nor trimmed (9) — until a durable point (a durable
 *     commit; a barrier: data file, then journal flushed; a checkpoint: data
 *     file flushed, then its strict IndexedDB commit, 11) has made its freeing durable too. Else a power
 *     loss could undo the freeing yet keep the new bytes, and an fsynced file
 *     would read another file's data. The quarantine lives in memory only, so
 *     open() and close() each pass a barrier before anything is reused. A
 *     barrier is also forced past QUARANTINE_LIMIT slots and on ENOSPC.
 *  7. Readers. Commits change the committed state synchronously, between a
 *     reader's awaits. A readonly body that saw a commit land while it ran
 *     (`commits` changed) is run again — a slot it read may have been freed
 *     and rewritten meanwhile — and after READ_RETRIES such runs once more
 *     with writers held off. A body that saw none read one commit point: the
 *     refs it used were current, so their slots were not rewritten (3).
 *  8. Cache epochs. The chunk map cache and the committed records hold
 *     committed state only, never older or newer: a commit records its own
 *     changes in them; a reader keeps what it looked up only if no commit
 *     landed meanwhile (their `version`, the cache epoch). The overlay is
 *     consulted before them and is exact.
 *  9. Shrink. Free slots at the file's end are given back (`hwm` lowered,
 *     file truncated) at open and right after a checkpoint — when IndexedDB
 *     holds the whole committed state — never past a quarantined slot (6).
 *     Truncating before that transaction commits is safe even if it aborts or
 *     we crash: slots past the new end are free either way.
 * 10. Handles. A store keeps two sync access handles (data file, journal),
 *     opened in open() (Safari caps them at ~250 per page, and opening one is
 *     async, which a transaction body may not await). They are exclusive, so
 *     they double as a cross-context lock: a second opener retries for a
 *     bounded time, then fails with a clear error.
 * 11. Checkpoint. Between writers, the data file is flushed, then the
 *     overlay is written into IndexedDB in one strict transaction that also
 *     records the number of the last journal record it holds (`journalSeq`);
 *     then overlay and journal are emptied. The flush comes first because
 *     the strict commit makes relaxed commits' chunk refs durable: without
 *     it a power loss could keep a ref and lose the bytes it points at (6). It moves the committed state without changing it, so readers
 *     may straddle one. A crash before its commit replays the journal as
 *     before; after it, records up to `journalSeq` are skipped. Out of quota,
 *     the overlay's deletions may be applied first, alone: every key the
 *     overlay deletes it also names, so the state it shows is the same.
 * 12. Journal damage. Records are numbered and checksummed. At open a torn
 *     last record (a crash mid-append) is ignored — its commit never
 *     happened — and zeroed; a damaged record with intact later ones fails
 *     the open with a report naming both, never a silently shorter tree.
 * 13. Bounded overlay. The overlay lives in memory and the journal is
 *     replayed whole at open, so neither may grow without bound when
 *     checkpoints keep failing (an IndexedDB error other than the quota):
 *     past MAX_OVERLAY_RECORDS records or MAX_OVERLAY_BYTES of journal, a
 *     writer batch checkpoints first and fails with EIO if that fails,
 *     committing nothing. Out of quota it goes on (the journal cannot grow
 *     then anyway, and a delete must still get through: ENOSPC handling).
 *
 * Alternatives weighed: writing data in place behind a write-ahead log
 * (PGlite's way) writes every byte twice; only metadata goes through the
 * journal here, and chunk bytes once, copy-on-write. One OPFS file per
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
 * the overlay by the checkpoint policy, and by invariant 13 if that fails;
 * a transaction holds only the chunks it writes until its commit.
 */
import { deleteDB, unwrap } from "idb";
import { copyFrom } from "../protocol/bytes.js";
import { Errno, FsError, abortError, isFsError, isQuotaError } from "../protocol/errno.js";
import type { EntryRecord, Store, StoreTx, StoreUsage, TxMode, TxOptions } from "./store.js";
import { ChunkMapCache } from "./chunk-map-cache.js";
import { CommittedRecords } from "./committed-records.js";
import { WriterBatcher } from "./writer-batcher.js";
import { Journal } from "./opfs-journal.js";
import type { JournalValue } from "./journal-codec.js";
import { Overlay, type CommitRecord } from "./opfs-overlay.js";
import { CheckpointNames } from "./opfs-names.js";
import { OpfsTx, type PendingChunk, type TxSource } from "./opfs-tx.js";
import {
  chunkRange,
  enospc,
  entryKey,
  isXattrKey,
  openFormat,
  txDone,
  openWorkerDb,
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
 * (Measured when a store write was bound by an IndexedDB metadata commit,
 * ~1-1.5 ms here, before the journal took it off the write path.) Fewer,
 * larger slots helped sequential writes up to 256 KiB;
 * past that, a small random write (copy-on-write of one whole slot) gets
 * dearer with nothing gained. Sequential writes never depend on the slot
 * size for their OPFS call size: consecutive slots are written in one call
 * (browser.md measured 82 MB/s at 64 KiB calls vs 236 at 512 KiB on this
 * machine kind; here the gap is smaller, but the copy that coalescing costs
 * is bounded by memory bandwidth). Small files and short tails (up to half a
 * slot) are stored inline in the chunk map, so they cost their own size.
 */
export const OPFS_DEFAULT_CHUNK_SIZE = 256 * 1024;

export interface OpfsStoreOptions {
  /** Chunk (slot) size for a new store. An existing store keeps the size it was created with. */
  chunkSize?: number;
  /**
   * Chunks of at most this many bytes are kept inline in the chunk map instead
   * of taking a whole slot, so small files and short tails cost their own
   * size. Default chunkSize / 2.
   */
  inlineLimit?: number;
  /**
   * Checkpoint by itself (journal long, tail slots freed, idle): default true.
   * False leaves it to close() and to the overlay bound (invariant 13) — tests that watch slot reuse step by step.
   */
  autoCheckpoint?: boolean;
  /**
   * Journal records not yet checkpointed past which a writer checkpoints first,
   * and fails (EIO) if it cannot (invariant 13). Default MAX_OVERLAY_RECORDS.
   */
  maxOverlayRecords?: number;
  /** How long open() keeps retrying while another context still holds the data file's handle. Default 5000 ms. */
  handleRetryMs?: number;
  /** Testing only: observe the store's steps that tests cannot otherwise see. */
  debugHooks?: {
    /** After a commit's data is written and before its metadata is. */
    afterDataWrite?: () => void;
    /** After the data file was flushed (invariants 6, 11). */
    afterDataFlush?: () => void;
    /** After every earlier commit became durable (data file, then journal flushed): invariant 6. */
    afterDurable?: () => void;
    /** A checkpoint is about to write into IndexedDB; throwing fails it (an IndexedDB failure, for tests). */
    beforeCheckpoint?: () => void;
    /** After a checkpoint's IndexedDB commit, before the overlay and journal are emptied (invariant 11). */
    afterCheckpointCommit?: () => void;
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
  /** Journal records replayed (committed since the last checkpoint). */
  replayedRecords: number;
  /** Whether the journal ended in a torn record (a crash mid-append), ignored. */
  tornJournalTail: boolean;
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
const JOURNAL_FILE = "journal";
/** Largest single write() of a run; bounds the transient copy. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;
/** Free slots at the end of the file given back per shrink pass (keeps each pass short). */
const SHRINK_BATCH = 4096;
/** Freed slots waiting for a durable point before one is forced (invariant 6). */
const QUARANTINE_LIMIT = 256;
/** Up to this many free slots, allocation sorts them all and takes the lowest; past it, any (sorted). */
const SORTED_FREE_LIMIT = 4096;

/** A group commit's journal record once it reaches this many records or bytes: checkpoint (keeps replay at open short). */
const CHECKPOINT_RECORDS = 512;
const CHECKPOINT_BYTES = 4 * 1024 * 1024;
/**
 * Past this many records (or bytes) of journal not yet checkpointed, writers
 * wait for a checkpoint and fail if it fails (invariant 13): the overlay is
 * in memory and replayed whole at open.
 */
const MAX_OVERLAY_RECORDS = 16 * CHECKPOINT_RECORDS;
const MAX_OVERLAY_BYTES = 16 * CHECKPOINT_BYTES;
/** With commits in the overlay and none for this long, checkpoint anyway (the next open replays nothing). */
const CHECKPOINT_IDLE_MS = 1000;
/** A readonly body that saw a commit land under it runs again this often, then once more with writers held off. */
const READ_RETRIES = 2;

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

/** What commit() hands to apply(): the record and what the memory state needs besides. */
interface Committed {
  seq: number;
  record: CommitRecord;
  durable: boolean;
  touched: Set<number>;
}

export class OpfsStore implements Store, TxSource {
  readonly kind = "opfs";
  /** Slot-sized chunks are written to the data file at commit; inline ones are copied into the record. */
  readonly keepsChunkBuffers = false;
  readonly chunkSize: number;
  readonly inlineLimit: number;
  /** What open() had to repair. */
  readonly openInfo: OpfsOpenInfo;
  /** Committed changes the checkpoint does not hold yet (invariant 11). */
  readonly overlay = new Overlay();
  /** The committed chunk map as far as known (invariant 8). */
  readonly cache = new ChunkMapCache();
  /** Committed inode, entry and meta records as far as known (invariant 8). */
  readonly records = new CommittedRecords();
  /** The names the checkpoint holds, for small directories (opfs-names.ts). */
  readonly checkpointNames = new CheckpointNames();
  /** Commits applied so far: a readonly body that saw this change under it runs again (invariant 7). */
  commits = 0;
  /** Writers, checkpoints and shrinking one at a time; writers committed in batches (invariant 4). */
  private readonly writers = new WriterBatcher<OpfsTx>((body, asked) => this.runWriters(body, asked));
  /** Slots freed by commits that are not durable yet: not written again, nor trimmed, before a durable point (invariant 6). */
  private readonly quarantine = new Set<number>();
  private closed = false;
  private released = false;
  private readonly inflight = new Set<Promise<unknown>>();
  /** Committed free slots below hwm, once a writer needed them; quarantined ones left out (invariants 4, 6). */
  private freeSlots: Set<number> | undefined;
  private checkpointing: Promise<void> | undefined;
  /** After a checkpoint failed (out of quota), the next waits for this much more journal: no retry on every commit. */
  private checkpointBackoff = { records: 0, bytes: 0 };
  /** Why the last checkpoint failed, if it did (diagnostics). */
  lastCheckpointError: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** Committed high-water mark (invariant 2). */
  private hwm: number;

  private constructor(
    private readonly name: string,
    private readonly db: WorkerDb,
    private readonly handle: SyncAccessHandle,
    private readonly journal: Journal,
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
   * Reads a few small records, the data file's size and the journal since the
   * last checkpoint (bounded by the checkpoint policy), whatever the tree's size.
   */
  static async open(name: string, options: OpfsStoreOptions = {}): Promise<OpfsStore> {
    const started = performance.now();
    let store: OpfsStore | undefined;
    const db = await openWorkerDb(opfsStoreDbName(name), true, () => {
      if (store) store.closed = true;
    });
    const handles: SyncAccessHandle[] = [];
    try {
      const tx = db.transaction("internal", "readwrite");
      const format = await openFormat(tx, name, "opfs", options.chunkSize ?? OPFS_DEFAULT_CHUNK_SIZE);
      let hwm = (await tx.store.get("hwm")) as number | undefined;
      if (hwm === undefined) {
        hwm = 0;
        await tx.store.put(0, "hwm");
      }
      const checkpointSeq = ((await tx.store.get("journalSeq")) as number | undefined) ?? 0;
      await tx.done;
      const dir = await storeDirectory(name, true);
      const budget = options.handleRetryMs ?? 5000;
      const onRetry = options.debugHooks?.onHandleRetry;
      const data = await acquireHandle((await dir.getFileHandle(DATA_FILE, { create: true })) as unknown as SyncFileHandle, budget, onRetry);
      handles.push(data.handle);
      const jh = await acquireHandle((await dir.getFileHandle(JOURNAL_FILE, { create: true })) as unknown as SyncFileHandle, budget, onRetry);
      handles.push(jh.handle);
      // Replay what the checkpoint does not hold yet (a damaged record in the middle throws here).
      const { journal, scan } = Journal.open(jh.handle, checkpointSeq);
      const handle = data.handle;
      const info: OpfsOpenInfo = {
        reclaimedBytes: 0,
        trimmedSlots: 0,
        handleRetries: data.retries + jh.retries,
        replayedRecords: scan.records.length,
        tornJournalTail: scan.tornTail,
        ms: 0,
      };
      store = new OpfsStore(name, db, handle, journal, format, hwm, info, options);
      for (const r of scan.records) store.overlay.apply(r.seq, r.value as unknown as CommitRecord);
      store.hwm = store.overlay.hwm ?? hwm;
      // Reclaim what transactions that never committed wrote past the high-water mark (invariant 3).
      const committedBytes = store.hwm * format.chunkSize;
      const size = handle.getSize();
      if (size > committedBytes) {
        handle.truncate(committedBytes);
        info.reclaimedBytes = size - committedBytes;
      }
      // The free list may hold slots freed by relaxed commits of an earlier session (invariant 6).
      store.durabilityBarrier();
      if (store.overlay.empty) info.trimmedSlots = await store.shrink();
      else store.scheduleCheckpoint();
      info.ms = Math.round((performance.now() - started) * 10) / 10;
      return store;
    } catch (e) {
      for (const h of handles) h.close();
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

  checkpointTx(): IDBTransaction {
    return unwrap(this.db).transaction(STORES, "readonly");
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error("OPFS store is closed"));
    const p = mode === "readonly" ? this.read(body, options?.signal) : this.writers.run(body, options);
    this.track(p);
    return p;
  }

  /**
   * A readonly body sees one commit point (invariant 7): it runs on the
   * committed state as it is, and again if a commit landed while it ran; after
   * READ_RETRIES such runs, once more with writers held off. An abort rejects
   * at once; the body's next call fails.
   */
  private read<T>(body: (tx: StoreTx) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<T>((resolve, reject) => {
      let current: OpfsTx | undefined;
      const onAbort = (): void => {
        if (current) current.dead = true;
        reject(abortError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const once = async (): Promise<{ value: T; clean: boolean }> => {
        const since = this.commits;
        current = new OpfsTx(this, false);
        const value = await body(current);
        return { value, clean: this.commits === since };
      };
      (async () => {
        for (let i = 0; i < READ_RETRIES; i++) {
          const r = await once();
          if (r.clean) return r.value;
        }
        return (await this.writers.exclusive(once)).value;
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

  /** WriterBatcher's transaction: run the batch's bodies on one OpfsTx, then commit it (or nothing). */
  private async runWriters(body: (x: OpfsTx) => Promise<void>, asked: TxOptions): Promise<void> {
    await this.boundOverlay();
    // Enough freed slots waiting for a durable point: make this commit durable, so they can be used again.
    const durable = asked.durable === true || this.quarantine.size >= QUARANTINE_LIMIT;
    try {
      return await this.attempt(body, asked.signal, durable);
    } catch (e) {
      if (!(isFsError(e) && e.errno === Errno.ENOSPC) || (this.quarantine.size === 0 && this.overlay.empty)) throw e;
      // Out of space: make freed slots usable (invariant 6), give a grown journal back, trim the file's tail; try once more.
      try {
        this.durabilityBarrier();
        // IndexedDB refuses even a shrinking transaction with no headroom: give it the journal's preallocated room.
        this.journal.trimToEnd();
        await this.checkpoint(true);
      } catch (c) {
        // The checkpoint needs room too; without it the retry reports ENOSPC again.
        this.lastCheckpointError = String(c);
      }
      return this.attempt(body, asked.signal, durable);
    }
  }

  /** Invariant 13: past the limit, checkpoint before this batch; if that fails (not for quota), the batch fails. */
  private async boundOverlay(): Promise<void> {
    const maxRecords = this.options.maxOverlayRecords ?? MAX_OVERLAY_RECORDS;
    const within = (): boolean => this.overlay.records < maxRecords && this.journal.bytes < MAX_OVERLAY_BYTES;
    if (within()) return;
    try {
      await this.checkpoint();
    } catch (e) {
      this.lastCheckpointError = String(e);
      // Out of quota, or only the shrink after a checkpoint that went through failed: go on.
      if (isQuotaError(e) || within()) return;
      throw new FsError(Errno.EIO, `OPFS store ${this.name}: ${this.overlay.records} commits wait for a checkpoint, which fails (${String(e)})`);
    }
  }

  private attempt(body: (x: OpfsTx) => Promise<void>, signal: AbortSignal | undefined, durable: boolean): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError());
    const x = new OpfsTx(this, true);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        // Before the commit point nothing is visible: the batch leaves no trace (invariant 5).
        x.dead = true;
        reject(abortError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      (async () => {
        await body(x);
        x.alive();
        await this.commit(x, durable);
      })().then(
        () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
        (e: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          reject(x.dead ? abortError() : e);
        },
      );
    });
  }

  /**
   * The commit step (invariants 1-6): find the committed slots the batch
   * frees, then — synchronously, so that no abort or reader can come between —
   * allocate, write the chunk bytes, append the journal record (the commit
   * point), and apply it to memory.
   */
  private async commit(x: OpfsTx, durable: boolean): Promise<void> {
    const freed = new Set<number>();
    for (const [ino, f] of x.ownFiles) {
      if (f.cut < Infinity) for (const r of await x.committedFrom(ino, f.cut)) if (r.slot >= 0) freed.add(r.slot);
      for (const index of f.refs.keys()) {
        if (index >= f.cut || x.knownNew.has(key(ino, index))) continue;
        const r = await x.committedRef(ino, index);
        if (r && r.slot >= 0) freed.add(r.slot);
      }
    }
    const pending = [...x.pending.values()].sort((a, b) => a.ino - b.ino || a.index - b.index);
    if (pending.length > 0 && !this.freeSlots) this.freeSlots = await this.loadFreeSlots(x);
    x.alive();

    // From here on, synchronous.
    const hwm = this.hwm;
    const taken = pending.length > 0 ? this.lowestFree(this.freeSlots!, pending.length) : [];
    const slots: number[] = [];
    let next = hwm;
    for (let i = 0; i < pending.length; i++) slots.push(i < taken.length ? taken[i]! : next++);
    const record: CommitRecord = { inodes: [...x.ownInodes], entries: [], meta: [...x.ownMeta], cuts: [], chunks: [], taken, freed: [...freed], hwm: next };
    for (const d of x.ownDirs.values()) for (const e of d.values()) record.entries.push([e.dir, e.name, e.rec]);
    const slotOf = new Map<string, number>();
    pending.forEach((p, i) => slotOf.set(key(p.ino, p.index), slots[i]!));
    for (const [ino, f] of x.ownFiles) {
      if (f.cut < Infinity) record.cuts.push([ino, f.cut]);
      for (const [index, ref] of f.refs) {
        const slot = slotOf.get(key(ino, index));
        record.chunks.push([ino, index, slot === undefined ? ref : { ino, index, slot, len: ref!.len }]);
      }
    }
    if (record.inodes.length + record.entries.length + record.meta.length + record.cuts.length + record.chunks.length === 0) {
      // Nothing changed (Tfsync): a durable point is all that is asked.
      if (durable) this.durabilityBarrier();
      return;
    }
    try {
      this.writeRuns(pending, slots);
      this.options.debugHooks?.afterDataWrite?.();
      // A durable record never points at bytes that could still be lost, its own or earlier relaxed ones' (invariant 6).
      if (durable) this.flushData();
      // A record that adds no bytes (deletes, metadata) may use the journal's reserve: deleting works when the quota is exhausted.
      const addsBytes = pending.length > 0 || record.chunks.some((c) => c[2]?.data !== undefined && c[2].data.length > 0);
      const seq = this.journal.append(record as unknown as JournalValue, durable, !addsBytes);
      this.apply({ seq, record, durable, touched: new Set(x.ownFiles.keys()) });
    } catch (e) {
      // Not committed: the slots written are free or past hwm; give a grown tail back (invariant 5).
      if (pending.length > 0 && this.handle.getSize() > hwm * this.chunkSize) this.handle.truncate(hwm * this.chunkSize);
      throw isQuotaError(e) ? enospc("OPFS quota exceeded") : e;
    }
  }

  /** A commit landed: bring everything kept in memory to it. */
  private apply(c: Committed): void {
    const r = c.record;
    this.overlay.apply(c.seq, r);
    this.hwm = r.hwm;
    if (this.freeSlots) for (const s of r.taken) this.freeSlots.delete(s);
    for (const s of r.freed) this.quarantine.add(s);
    // Every earlier commit is durable now as well.
    if (c.durable) this.becameDurable();
    const entries = new Map<string, EntryRecord | null>();
    for (const [dir, name, rec] of r.entries) entries.set(entryKey(dir, name as string), rec);
    // Extended attributes are meta values too, but large and rarely read: not kept in memory past the checkpoint.
    this.records.apply(new Map(r.inodes), new Map(r.meta.filter(([k]) => !isXattrKey(k))), entries);
    if (c.touched.size > 0) this.cache.apply(c.touched, r.chunks);
    this.commits++;
    const due = this.overlay.records >= CHECKPOINT_RECORDS + this.checkpointBackoff.records || this.journal.bytes >= CHECKPOINT_BYTES + this.checkpointBackoff.bytes;
    if (due || r.freed.includes(this.hwm - 1)) {
      this.scheduleCheckpoint();
    } else {
      this.scheduleIdleCheckpoint();
    }
  }

  /** The committed free slots: the checkpoint's list with the overlay's changes, quarantined ones left out. */
  private async loadFreeSlots(x: OpfsTx): Promise<Set<number>> {
    const keys = await x.checkpointFreeSlots();
    const s = new Set<number>();
    for (const k of keys) if (!this.overlay.taken.has(k)) s.add(k);
    for (const k of this.overlay.added) s.add(k);
    for (const k of this.quarantine) s.delete(k);
    return s;
  }

  async usage(): Promise<StoreUsage> {
    // OPFS and IndexedDB both count against the origin's quota.
    const est = await navigator.storage.estimate();
    return { used: est.usage ?? 0, quota: est.quota ?? 0 };
  }

  /** Waits for transactions in flight, checkpoints, makes everything durable and releases the files. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.idleTimer);
    await Promise.allSettled([...this.inflight]);
    await this.checkpointing;
    if (this.released) return;
    this.released = true;
    try {
      await this.writers.exclusive(() => this.checkpoint());
    } catch {
      // Closing anyway (the database may be going away: destroy()); the journal keeps what the checkpoint lacks.
    }
    try {
      // Leave nothing relaxed behind (invariant 6): the next session starts from durable state.
      this.durabilityBarrier();
    } catch {
      // A handle that cannot flush has nothing more to give.
    }
    this.handle.close();
    this.journal.close();
    this.db.close();
  }

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

  /** Make every commit so far durable (data file flushed, then the journal), so the slots they freed may be written again (invariant 6). */
  durabilityBarrier(): void {
    this.flushData();
    this.journal.flush();
    this.becameDurable();
  }

  private flushData(): void {
    this.handle.flush();
    this.options.debugHooks?.afterDataFlush?.();
  }

  private becameDurable(): void {
    this.releaseQuarantine();
    this.options.debugHooks?.afterDurable?.();
  }

  private releaseQuarantine(): void {
    if (this.freeSlots) for (const s of this.quarantine) this.freeSlots.add(s);
    this.quarantine.clear();
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

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
  }

  private scheduleIdleCheckpoint(): void {
    clearTimeout(this.idleTimer);
    if (this.closed || this.options.autoCheckpoint === false) return;
    this.idleTimer = setTimeout(() => this.scheduleCheckpoint(), CHECKPOINT_IDLE_MS);
  }

  /** Checkpoint (and shrink) off the writers' path, between batches. */
  private scheduleCheckpoint(): void {
    clearTimeout(this.idleTimer);
    if (this.checkpointing || this.closed || this.options.autoCheckpoint === false) return;
    this.checkpointing = this.writers
      .exclusive(() => this.checkpoint())
      .then(
        () => {
          this.checkpointBackoff = { records: 0, bytes: 0 };
        },
        () => {
          this.checkpointBackoff = { records: this.overlay.records, bytes: this.journal.bytes };
        },
      )
      .then(() => {
        this.checkpointing = undefined;
      });
  }

  /**
   * Flush the data file, then write the overlay into IndexedDB (invariant
   * 11): one strict transaction that also records the last journal record it holds; then empty the
   * overlay and the journal, and give free slots at the file's end back.
   * Runs between writers (exclusive), so nothing commits meanwhile.
   */
  private async checkpoint(deletesFirst = false): Promise<void> {
    const o = this.overlay;
    if (!o.empty) {
      this.options.debugHooks?.beforeCheckpoint?.();
      // The strict commit below makes the overlay's chunk refs durable, relaxed commits' too: their
      // bytes must be on disk first, or a power loss could leave a durable ref to a slot that still
      // holds an older, deleted file's bytes (invariants 6, 11).
      this.flushData();
      // The early deletions below must never outlive the records that made them.
      if (deletesFirst) this.journal.flush();
    }
    // Chromium's IndexedDB refuses a transaction that puts anything when the origin is out of
    // quota, but takes one that only deletes. Applying the overlay's deletions to the checkpoint
    // early changes nothing it shows (the overlay names every key it deleted, and its cuts cover
    // their ranges), so a crash between the two transactions replays to the same state.
    if (!o.empty && deletesFirst) await this.applyDeletions();
    if (!o.empty) {
      const tx = unwrap(this.db).transaction(STORES, "readwrite", { durability: "strict" });
      const s = (n: StoreName): IDBObjectStore => tx.objectStore(n);
      for (const [ino, rec] of o.inodes) {
        if (rec) s("inodes").put(rec);
        else s("inodes").delete(ino);
      }
      for (const d of o.dirs.values()) {
        for (const e of d.values()) {
          if (e.rec) s("entries").put(e.rec);
          else s("entries").delete([e.dir, e.name]);
        }
      }
      for (const [k, v] of o.meta) {
        if (v === undefined) s("meta").delete(k);
        else s("meta").put(v, k);
      }
      for (const [ino, f] of o.files) {
        if (f.cut < Infinity) s("chunks").delete(chunkRange(ino, f.cut));
        for (const [index, ref] of f.refs) {
          if (ref) s("chunks").put(ref, [ino, index]);
          else s("chunks").delete([ino, index]);
        }
      }
      for (const slot of o.taken) s("free").delete(slot);
      for (const slot of o.added) s("free").put(1, slot);
      if (o.hwm !== undefined) s("internal").put(o.hwm, "hwm");
      s("internal").put(o.lastSeq, "journalSeq");
      await txDone(tx);
      this.options.debugHooks?.afterCheckpointCommit?.();
      // The committed state is unchanged; only where it is kept moved (invariant 11). The
      // strict commit made every freeing in it durable (invariant 6).
      for (const d of o.dirs.values()) for (const [k, e] of d) this.checkpointNames.checkpointed(e.dir, k, e.rec !== null);
      o.clear();
      this.releaseQuarantine();
      this.journal.reset();
    }
    this.openInfo.trimmedSlots += await this.shrink();
  }

  /** The overlay's deletions alone, in one transaction (see checkpoint). */
  private async applyDeletions(): Promise<void> {
    const o = this.overlay;
    const tx = unwrap(this.db).transaction(["inodes", "entries", "chunks"], "readwrite", { durability: "strict" });
    for (const [ino, rec] of o.inodes) if (!rec) tx.objectStore("inodes").delete(ino);
    const gone: [number, string][] = [];
    for (const d of o.dirs.values()) {
      for (const [k, e] of d) {
        if (e.rec) continue;
        tx.objectStore("entries").delete([e.dir, e.name]);
        gone.push([e.dir, k]);
      }
    }
    for (const [ino, f] of o.files) {
      if (f.cut < Infinity) tx.objectStore("chunks").delete(chunkRange(ino, f.cut));
      for (const [index, ref] of f.refs) if (!ref) tx.objectStore("chunks").delete([ino, index]);
    }
    await txDone(tx);
    for (const [dir, k] of gone) this.checkpointNames.checkpointed(dir, k, false);
  }

  /**
   * Give free slots at the end of the file back (invariant 9): lower `hwm`
   * past them and truncate. Runs right after a checkpoint (the overlay is
   * empty, so IndexedDB holds the whole committed state), between writers.
   */
  private async shrink(): Promise<number> {
    if (!this.overlay.empty) return 0;
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
    await this.checkpointing;
    // Between writers: nothing commits during the scan. It changes nothing (no checkpoint), so observing is not acting.
    return this.writers.exclusive(() => this.scan());
  }

  private async scan(): Promise<OpfsCheckReport> {
    const tx = this.db.transaction(["chunks", "free", "internal"], "readonly");
    const baseHwm = ((await tx.objectStore("internal").get("hwm")) as number | undefined) ?? 0;
    const baseRefs = (await tx.objectStore("chunks").getAll()) as ChunkRef[];
    const baseFree = (await tx.objectStore("free").getAllKeys()) as number[];
    await tx.done;
    // The committed state: the overlay on top of the checkpoint (invariant 11).
    const o = this.overlay;
    const hwm = o.hwm ?? baseHwm;
    const byKey = new Map<string, ChunkRef>();
    for (const r of baseRefs) {
      const f = o.files.get(r.ino);
      if (f && r.index >= f.cut) continue;
      byKey.set(key(r.ino, r.index), r);
    }
    for (const [ino, f] of o.files) {
      for (const [index, r] of f.refs) {
        if (r) byKey.set(key(ino, index), r);
        else byKey.delete(key(ino, index));
      }
    }
    const refs = [...byKey.values()];
    const free = baseFree.filter((s) => !o.taken.has(s)).concat([...o.added]);
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
    if (hwm !== this.hwm) problems.push(`in-memory hwm ${this.hwm}, committed ${hwm}`);
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
