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
 * opfs-journal.ts, opfs-slots.ts, opfs-checkpoint.ts, opfs-scheduler.ts,
 * opfs-open.ts, opfs-check.ts, opfs-files.ts, chunk-map-cache.ts,
 * committed-records.ts, writer-batcher.ts).
 *
 * This file is the Store that ties the parts together: transactions and
 * the commit step. Its parts, one concern each: the slot allocator and
 * quarantine (opfs-slots.ts), when to checkpoint and the checkpoint's steps
 * between writers (opfs-scheduler.ts), the checkpoint writes and shrink
 * (opfs-checkpoint.ts), opening (opfs-open.ts, opfs-files.ts), the full scan
 * (opfs-check.ts), options and reports (opfs-options.ts).
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
 *  4. One writer at a time. Writers, a checkpoint's start (11, 14) and shrinking (9) run
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
 *     then overlay and journal are emptied (a background checkpoint lets
 *     writers go on while IndexedDB commits, and empties less: 14). The flush comes first because
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
 * 14. Checkpoints do not stop writers. A checkpoint freezes the overlay's
 *     layers (opfs-overlay.ts) and issues their IndexedDB writes between
 *     writers, synchronously, so it writes exactly the state of the last
 *     commit so far (N, recorded as `journalSeq`); then writers go on into a
 *     new live layer while IndexedDB commits. The frozen layers stay in the
 *     overlay until that commit lands, so every lookup sees the committed
 *     state throughout, and a layer laid over a checkpoint that already holds
 *     it changes nothing (layers are idempotent), whichever side of the
 *     commit a reader's IndexedDB request falls. Once committed: the frozen
 *     layers are dropped; only the slots freed by the commits it holds are
 *     released (later commits' freeings are not in it, 6); the journal is
 *     emptied only if nothing committed since, else it keeps records up to N,
 *     which open skips (12), and records after N, which it replays. Records
 *     up to N are flushed when the checkpoint starts, so a power loss never
 *     drops one of them behind a later record that survives (a damaged
 *     record with intact later ones fails the open, 12). A
 *     checkpoint that fails leaves its layers frozen: the next one writes
 *     them again, with the live layer, in one transaction, oldest first.
 *     The journal grows while writers never pause: past JOURNAL_RESET_BYTES
 *     a checkpoint holds writers until it commits, which empties it.
 * 15. Checkpoint order. A checkpoint's transaction may be written by a
 *     helper worker (opfs-checkpoint-writer.ts), from the frozen layers'
 *     journal frames (read back from the journal, which keeps them while a
 *     layer holds them: it is emptied only with the overlay), rebuilt into
 *     the same layers and written by the same writeOverlay: the same
 *     transaction (11). Checkpoint transactions commit
 *     in the order they were started: the helper creates them in the order it
 *     gets them, which IndexedDB keeps for overlapping readwrite transactions,
 *     and every other IndexedDB write of checkpointed state (a checkpoint in
 *     this thread, the deletions written first, a shrink) waits until the
 *     helper has none pending. Else an older checkpoint could commit after a
 *     newer one, or after a shrink, and put back keys, free slots and a
 *     `journalSeq` they changed, under layers already dropped. The other way
 *     round needs no wait: those writes run between writers and are awaited
 *     there, so none is pending when a checkpoint starts — except a
 *     background checkpoint written in this thread, and then so is the next
 *     (its frozen layers, or a broken helper, send every later one here too;
 *     a failed helper's pending ones are written here only once its context
 *     is gone, so none of its transactions is created after ours).
 *     So the only order across the two connections that matters is that of
 *     readers' readonly transactions against the helper's (7, 14), which
 *     IndexedDB keeps by creation order whatever the connection.
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
import { unwrap } from "idb";
import { copyFrom } from "../protocol/bytes.js";
import { Errno, abortError, isFsError, isQuotaError } from "../protocol/errno.js";
import type { EntryRecord, Store, StoreTx, StoreUsage, TxMode, TxOptions } from "./store.js";
import { ChunkMapCache } from "./chunk-map-cache.js";
import { CommittedRecords } from "./committed-records.js";
import { WriterBatcher } from "./writer-batcher.js";
import { afterQueuedTasks } from "./next-task.js";
import type { Journal } from "./opfs-journal.js";
import type { JournalValue } from "./journal-codec.js";
import { Overlay, type CommitRecord, type JournalRange } from "./opfs-overlay.js";
import { CheckpointNames } from "./opfs-names.js";
import { OpfsTx, readCommitted, type TxSource } from "./opfs-tx.js";
import { enospc, entryKey, isXattrKey, type ChunkRef, type WorkerDb } from "./indexeddb-common.js";
import type { OpfsCheckReport, OpfsOpenInfo, OpfsStoreOptions } from "./opfs-options.js";
import { QUARANTINE_LIMIT, SlotAllocator } from "./opfs-slots.js";
import { STORES, shrink } from "./opfs-checkpoint.js";
import { CheckpointScheduler } from "./opfs-scheduler.js";
import { scanSlots } from "./opfs-check.js";
import { destroyStore, openParts, opfsStoreDbName } from "./opfs-open.js";
import { CheckpointWriter } from "./opfs-checkpoint-writer.js";

export { OPFS_DEFAULT_CHUNK_SIZE, type OpfsCheckReport, type OpfsOpenInfo, type OpfsStoreOptions } from "./opfs-options.js";
export { opfsDirectoryName, type SyncAccessHandle, type SyncFileHandle } from "./opfs-files.js";
export { opfsStoreDbName } from "./opfs-open.js";

/** What commit() hands to apply(): the record and what the memory state needs besides. */
interface Committed {
  seq: number;
  record: CommitRecord;
  /** Where its frame lies in the journal (a checkpoint helper rebuilds the overlay from there: invariant 15). */
  at: JournalRange | undefined;
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
  private readonly writers: WriterBatcher<OpfsTx>;
  private closed = false;
  private released = false;
  private readonly inflight = new Set<Promise<unknown>>();
  /** When to checkpoint, and the checkpoint's steps between writers (invariants 9, 11, 13-15). */
  private readonly checkpoints: CheckpointScheduler;
  /** The data file's slots: hwm, free list, quarantine (invariants 2, 3, 6). */
  private readonly slots: SlotAllocator;
  /** Writes checkpoints, in a helper worker when it can (invariant 15). */
  readonly checkpointWriter: CheckpointWriter;

  private constructor(
    name: string,
    private readonly db: WorkerDb,
    private readonly journal: Journal,
    slots: SlotAllocator,
    openInfo: OpfsOpenInfo,
    private readonly options: OpfsStoreOptions,
  ) {
    this.slots = slots;
    this.checkpointWriter = new CheckpointWriter(db, opfsStoreDbName(name), journal, options.checkpointInHelper !== false, options.checkpointHelperMinBytes);
    // A commit here never awaits, so writers would never queue behind one another: let the requests
    // already queued arrive first, so that they share one journal record (one OPFS write).
    this.writers = new WriterBatcher<OpfsTx>((body, asked) => this.runWriters(body, asked), options.batchAcrossTasks === false ? undefined : afterQueuedTasks);
    this.chunkSize = slots.chunkSize;
    this.inlineLimit = Math.min(options.inlineLimit ?? Math.floor(slots.chunkSize / 2), slots.chunkSize);
    this.openInfo = openInfo;
    this.checkpoints = new CheckpointScheduler({
      name,
      db,
      journal,
      overlay: this.overlay,
      slots,
      checkpointNames: this.checkpointNames,
      checkpointWriter: this.checkpointWriter,
      openInfo,
      options,
      exclusive: (task) => this.writers.exclusive(task),
    });
  }

  /** Why the last checkpoint failed, if it did (diagnostics). */
  get lastCheckpointError(): string | undefined {
    return this.checkpoints.lastError;
  }

  /**
   * Open the store called `name` (creating it), in a dedicated worker.
   * Reads a few small records, the data file's size and the journal since the
   * last checkpoint (bounded by the checkpoint policy), whatever the tree's size.
   */
  static async open(name: string, options: OpfsStoreOptions = {}): Promise<OpfsStore> {
    const started = performance.now();
    let store: OpfsStore | undefined;
    const p = await openParts(name, options, () => {
      store?.stopScheduling();
    });
    try {
      const info = p.info;
      const slots = new SlotAllocator(name, p.handle, p.journal, p.format.chunkSize, p.hwm, options.debugHooks);
      store = new OpfsStore(name, p.db, p.journal, slots, info, options);
      for (const r of p.records) store.overlay.apply(r.seq, r.value as unknown as CommitRecord, r.at);
      slots.hwm = store.overlay.hwm ?? p.hwm;
      // Reclaim what transactions that never committed wrote past the high-water mark (invariant 3).
      const committedBytes = slots.hwm * p.format.chunkSize;
      const size = p.handle.getSize();
      if (size > committedBytes) {
        p.handle.truncate(committedBytes);
        info.reclaimedBytes = size - committedBytes;
      }
      // The free list may hold slots freed by relaxed commits of an earlier session (invariant 6).
      slots.durabilityBarrier();
      if (store.overlay.empty) info.trimmedSlots = await shrink(p.db, store.overlay, slots);
      else void store.checkpoints.schedule();
      info.ms = Math.round((performance.now() - started) * 10) / 10;
      return store;
    } catch (e) {
      p.release();
      throw e;
    }
  }

  /** Delete a store's metadata and data (it must not be open). */
  static async destroy(name: string): Promise<void> {
    await destroyStore(name);
  }

  checkpointTx(): IDBTransaction {
    return unwrap(this.db).transaction(STORES, "readonly");
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error("OPFS store is closed"));
    const p = mode === "readonly" ? readCommitted(this, (task) => this.writers.exclusive(task), body, options?.signal) : this.writers.run(body, options);
    this.track(p);
    return p;
  }

  /** WriterBatcher's transaction: run the batch's bodies on one OpfsTx, then commit it (or nothing). */
  private async runWriters(body: (x: OpfsTx) => Promise<void>, asked: TxOptions): Promise<void> {
    await this.checkpoints.boundOverlay();
    // Enough freed slots waiting for a durable point: make this commit durable, so they can be used again.
    const durable = asked.durable === true || this.slots.quarantine.size >= QUARANTINE_LIMIT;
    try {
      return await this.attempt(body, asked.signal, durable);
    } catch (e) {
      if (!(isFsError(e) && e.errno === Errno.ENOSPC) || (this.slots.quarantine.size === 0 && this.overlay.empty)) throw e;
      // Out of space: make freed slots usable (invariant 6), give a grown journal back, trim the file's tail; try once more.
      try {
        this.slots.durabilityBarrier();
        // IndexedDB refuses even a shrinking transaction with no headroom: give it the journal's preallocated room.
        this.journal.trimToEnd();
        await this.checkpoints.checkpoint(true);
      } catch (c) {
        // The checkpoint needs room too; without it the retry reports ENOSPC again.
        this.checkpoints.lastError = String(c);
      }
      return this.attempt(body, asked.signal, durable);
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
    const freed = await x.freedSlots();
    const pending = [...x.pending.values()].sort((a, b) => a.ino - b.ino || a.index - b.index);
    if (pending.length > 0) await this.slots.loadFree(this.overlay, () => x.checkpointFreeSlots());
    x.alive();

    // From here on, synchronous.
    const hwm = this.slots.hwm;
    const { taken, slots, hwm: next } = this.slots.allocate(pending.length);
    const record = x.record(pending, slots, taken, [...freed], next);
    if (record.inodes.length + record.entries.length + record.meta.length + record.cuts.length + record.chunks.length === 0) {
      // Nothing changed (Tfsync): a durable point is all that is asked.
      if (durable) this.slots.durabilityBarrier();
      return;
    }
    try {
      this.slots.writeRuns(pending, slots);
      this.options.debugHooks?.afterDataWrite?.();
      // A durable record never points at bytes that could still be lost, its own or earlier relaxed ones' (invariant 6).
      if (durable) this.slots.flushData();
      // A record that adds no bytes (deletes, metadata) may use the journal's reserve: deleting works when the quota is exhausted.
      const addsBytes = pending.length > 0 || record.chunks.some((c) => c[2]?.data !== undefined && c[2].data.length > 0);
      const seq = this.journal.append(record as unknown as JournalValue, durable, !addsBytes);
      this.apply({ seq, record, at: this.journal.lastAppend, durable, touched: new Set(x.ownFiles.keys()) });
    } catch (e) {
      // Not committed: the slots written are free or past hwm; give a grown tail back (invariant 5).
      if (pending.length > 0) this.slots.truncateTo(hwm);
      throw isQuotaError(e) ? enospc("OPFS quota exceeded") : e;
    }
  }

  /** A commit landed: bring everything kept in memory to it. */
  private apply(c: Committed): void {
    const r = c.record;
    this.overlay.apply(c.seq, r, c.at);
    this.slots.committed(r, c.seq);
    // Every earlier commit is durable now as well.
    if (c.durable) this.slots.becameDurable();
    const entries = new Map<string, EntryRecord | null>();
    for (const [dir, name, rec] of r.entries) entries.set(entryKey(dir, name as string), rec);
    // Extended attributes are meta values too, but large and rarely read: not kept in memory past the checkpoint.
    this.records.apply(new Map(r.inodes), new Map(r.meta.filter(([k]) => !isXattrKey(k))), entries);
    if (c.touched.size > 0) this.cache.apply(c.touched, r.chunks);
    this.commits++;
    this.checkpoints.committed(r.freed.includes(this.slots.hwm - 1));
  }

  async usage(): Promise<StoreUsage> {
    // OPFS and IndexedDB both count against the origin's quota.
    const est = await navigator.storage.estimate();
    return { used: est.usage ?? 0, quota: est.quota ?? 0 };
  }

  /** Waits for transactions in flight, checkpoints, makes everything durable and releases the files. */
  async close(): Promise<void> {
    this.stopScheduling();
    await Promise.allSettled([...this.inflight]);
    await this.checkpoints.settled();
    if (this.released) return;
    this.released = true;
    try {
      await this.writers.exclusive(() => this.checkpoints.checkpoint());
    } catch {
      // Closing anyway (the database may be going away: destroy()); the journal keeps what the checkpoint lacks.
    }
    // After the last checkpoint: its helper (if any) lets go of the database (invariant 15).
    await this.checkpointWriter.close();
    try {
      // Leave nothing relaxed behind (invariant 6): the next session starts from durable state.
      this.slots.durabilityBarrier();
    } catch {
      // A handle that cannot flush has nothing more to give.
    }
    this.slots.handle.close();
    this.journal.close();
    this.db.close();
  }

  /** A chunk's bytes, read from its slot now (or its inline copy); undefined for a hole. */
  chunkBytes(ref: ChunkRef | null): Uint8Array | undefined {
    if (!ref) return undefined;
    if (ref.slot < 0) return ref.data ?? new Uint8Array(0);
    const out = new Uint8Array(ref.len);
    this.slots.readSlot(ref, 0, out);
    return out;
  }

  /** StoreTx.readChunkInto for a committed record: straight from the data file into `dest`. */
  readChunkInto(ref: ChunkRef | null, within: number, dest: Uint8Array): number | undefined {
    if (!ref) return undefined;
    if (ref.slot < 0) return copyFrom(ref.data ?? new Uint8Array(0), within, dest);
    const n = Math.max(0, Math.min(dest.length, ref.len - within));
    if (n > 0) this.slots.readSlot(ref, within, n === dest.length ? dest : dest.subarray(0, n));
    return n;
  }

  /** No new transactions and no more checkpoints scheduled (closing, or the database is going away). */
  private stopScheduling(): void {
    this.closed = true;
    this.checkpoints.stop();
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
  }

  /** Start a checkpoint now that lets writers go on while IndexedDB commits (tests; the store schedules its own). */
  checkpointInBackground(): Promise<void> {
    return this.checkpoints.schedule(true);
  }

  /** Scan all slot bookkeeping and the data file: every slot below hwm referenced or free, exactly once. Reads everything: tests and fsck only. */
  async check(): Promise<OpfsCheckReport> {
    await Promise.allSettled([...this.inflight]);
    await this.checkpoints.settled();
    // Between writers: nothing commits during the scan. It changes nothing (no checkpoint), so observing is not acting.
    return this.writers.exclusive(() => this.scan());
  }

  private scan(): Promise<OpfsCheckReport> {
    return scanSlots(this.db, this.overlay, this.slots);
  }
}
