/**
 * When and how the OPFS store checkpoints (invariants 9, 11, 13, 14, 15 in
 * opfs.ts): after enough journal or a second idle, in the background while
 * writers go on; holding writers when the journal must be emptied, when the
 * overlay reached its bound, on close and out of space. The writes themselves
 * are opfs-checkpoint.ts's (in a helper worker when it can:
 * opfs-checkpoint-writer.ts); the store's commit step tells this what landed.
 */
import { FsError, Errno, isQuotaError } from "../protocol/errno.js";
import type { WorkerDb } from "./indexeddb-common.js";
import type { Journal } from "./opfs-journal.js";
import type { Overlay, OverlayLayer } from "./opfs-overlay.js";
import type { CheckpointNames } from "./opfs-names.js";
import type { SlotAllocator } from "./opfs-slots.js";
import type { CheckpointWriter } from "./opfs-checkpoint-writer.js";
import type { OpfsOpenInfo, OpfsStoreOptions } from "./opfs-options.js";
import { shrink, writeDeletions } from "./opfs-checkpoint.js";

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
/**
 * Past this much journal, the next checkpoint holds writers until it commits, which empties it
 * (invariant 14). Under steady writing a background checkpoint never empties the journal, so
 * each time it reaches this size writers stop for one IndexedDB commit (0.6-1.3 s measured at
 * load 16, creates batching ~10 writers per record). At 2 × CHECKPOINT_BYTES that was every
 * second checkpoint; at 8 ×, about one in seven. The cost: a journal file this large, read whole
 * by an open after a crash (a clean close empties it); MAX_OVERLAY_BYTES stays above it.
 */
const JOURNAL_RESET_BYTES = 8 * CHECKPOINT_BYTES;
/** With commits in the overlay and none for this long, checkpoint anyway (the next open replays nothing). */
const CHECKPOINT_IDLE_MS = 1000;

/** A checkpoint whose IndexedDB writes are issued: the layers it writes, the last commit they hold, its commit. */
interface StartedCheckpoint {
  layers: OverlayLayer[];
  seq: number;
  committed: Promise<void>;
}

/** The parts of an open store a checkpoint reads and empties, and its one-at-a-time queue (invariant 4). */
export interface CheckpointedParts {
  name: string;
  db: WorkerDb;
  journal: Journal;
  overlay: Overlay;
  slots: SlotAllocator;
  checkpointNames: CheckpointNames;
  checkpointWriter: CheckpointWriter;
  openInfo: OpfsOpenInfo;
  options: OpfsStoreOptions;
  /** Run `task` between writers (WriterBatcher.exclusive). */
  exclusive<T>(task: () => Promise<T>): Promise<T>;
}

export class CheckpointScheduler {
  private stopped = false;
  private checkpointing: Promise<void> | undefined;
  /** After a checkpoint failed (out of quota), the next waits for this much more journal: no retry on every commit. */
  private backoff = { records: 0, bytes: 0 };
  /** Why the last checkpoint failed, if it did (diagnostics). */
  lastError: string | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** The journal's length when the last checkpoint froze the overlay (invariant 14). */
  private journalAtFreeze = 0;

  constructor(private readonly store: CheckpointedParts) {}

  /** No more scheduling (the store is closing, or its database is going away). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.idleTimer);
  }

  /** Settles once the checkpoint running now, if any, has ended. */
  settled(): Promise<void> {
    return this.checkpointing ?? Promise.resolve();
  }

  /** A commit landed: checkpoint soon if the journal grew enough or the file's last slot was freed, else when idle. */
  committed(freedLastSlot: boolean): void {
    const { overlay } = this.store;
    // Counted since the last checkpoint started: a background one leaves later records in the journal (invariant 14).
    const due = overlay.liveRecords >= CHECKPOINT_RECORDS + this.backoff.records || this.liveJournalBytes >= CHECKPOINT_BYTES + this.backoff.bytes;
    if (due || freedLastSlot) {
      this.schedule();
    } else {
      this.scheduleIdle();
    }
  }

  /** Invariant 13: past the limit, checkpoint before this batch; if that fails (not for quota), the batch fails. */
  async boundOverlay(): Promise<void> {
    const { overlay, journal, options } = this.store;
    const maxRecords = options.maxOverlayRecords ?? MAX_OVERLAY_RECORDS;
    const within = (): boolean => overlay.records < maxRecords && journal.bytes < MAX_OVERLAY_BYTES;
    if (within()) return;
    try {
      await this.checkpoint();
    } catch (e) {
      this.lastError = String(e);
      // Out of quota, or only the shrink after a checkpoint that went through failed: go on.
      if (isQuotaError(e) || within()) return;
      throw new FsError(Errno.EIO, `OPFS store ${this.store.name}: ${overlay.records} commits wait for a checkpoint, which fails (${String(e)})`);
    }
  }

  private scheduleIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.stopped || this.store.options.autoCheckpoint === false) return;
    this.idleTimer = setTimeout(() => this.schedule(), CHECKPOINT_IDLE_MS);
  }

  /**
   * Checkpoint off the writers' path (invariant 14): freeze the overlay and issue its IndexedDB
   * writes between writers, let writers go on while IndexedDB commits, then drop what it holds.
   * A journal grown past JOURNAL_RESET_BYTES (it is emptied only when a checkpoint leaves the
   * overlay empty, so steady writing keeps it growing) gets a checkpoint that holds writers
   * until it commits, which empties it. `force`: even with automatic checkpoints off (tests).
   */
  schedule(force = false): Promise<void> {
    clearTimeout(this.idleTimer);
    const { overlay, journal, options } = this.store;
    if (this.checkpointing || this.stopped || (options.autoCheckpoint === false && !force)) return this.settled();
    const hold = options.checkpointHoldsWriters === true || journal.bytes >= JOURNAL_RESET_BYTES;
    const run = hold ? this.store.exclusive(() => this.checkpoint()) : this.background();
    const p = run
      .then(
        () => {
          this.backoff = { records: 0, bytes: 0 };
          // Commits that landed while it ran are not in it, and the idle timer they armed may have
          // fired (and been dropped) meanwhile: the store may be idle now, so arm it again.
          if (!overlay.empty) this.scheduleIdle();
        },
        (e: unknown) => {
          this.lastError = String(e);
          this.backoff = { records: overlay.liveRecords, bytes: this.liveJournalBytes };
        },
      )
      .then(() => {
        this.checkpointing = undefined;
      });
    this.checkpointing = p;
    return p;
  }

  private async background(): Promise<void> {
    const started = await this.store.exclusive(async () => this.start());
    if (!started) return;
    this.store.options.debugHooks?.checkpointIssued?.();
    await started.committed;
    this.finish(started);
    // Giving the file's free tail back needs the overlay empty and writers held (invariant 9).
    if (this.store.overlay.empty) this.countTrimmed(await this.store.exclusive(() => this.shrink()));
  }

  /**
   * Between writers: flush the data file, freeze the overlay and issue its IndexedDB writes
   * (invariants 11, 14). Undefined when there is nothing to write.
   */
  private start(): StartedCheckpoint | undefined {
    const { overlay, journal, slots } = this.store;
    if (overlay.empty) return undefined;
    this.store.options.debugHooks?.beforeCheckpoint?.();
    // The strict commit makes the frozen chunk refs durable, relaxed commits' too: their bytes
    // must be on disk first, or a power loss could leave a durable ref to a slot that still
    // holds an older, deleted file's bytes (invariants 6, 11).
    slots.flushData();
    // The journal keeps the records this checkpoint holds until a later one leaves the overlay
    // empty (14), and open skips them by number: flushed now, a power loss cannot lose one of
    // them yet keep a later relaxed record, which would fail the open as damage (12).
    journal.flush();
    const layers = overlay.freeze();
    this.journalAtFreeze = journal.bytes;
    return { layers, seq: overlay.lastSeq, committed: this.store.checkpointWriter.write(layers) };
  }

  /**
   * IndexedDB holds the frozen layers now: drop them, release the slots whose freeing the strict
   * commit made durable (freed by the commits it holds, invariant 6), and empty the journal
   * if nothing committed since (invariant 14).
   */
  private finish(c: StartedCheckpoint): void {
    const { overlay, journal, slots, checkpointNames } = this.store;
    this.store.options.debugHooks?.afterCheckpointCommit?.();
    // The committed state is unchanged; only where it is kept moved (invariant 11).
    for (const l of c.layers) for (const d of l.dirs.values()) for (const [k, e] of d) checkpointNames.checkpointed(e.dir, k, e.rec !== null);
    overlay.dropFrozen(c.layers);
    slots.releaseThrough(c.seq);
    if (overlay.empty) {
      journal.reset();
      this.journalAtFreeze = 0;
    }
  }

  /** Journal bytes appended since the last checkpoint started. */
  private get liveJournalBytes(): number {
    return Math.max(0, this.store.journal.bytes - this.journalAtFreeze);
  }

  /**
   * A checkpoint that holds writers until IndexedDB has committed (close, the overlay's bound,
   * out of space): afterwards the overlay and the journal are empty, and free slots at the file's
   * end are given back. Run between writers (exclusive, or by a writer batch itself).
   * `deletesFirst`: out of space, write the overlay's deletions alone first.
   */
  async checkpoint(deletesFirst = false): Promise<void> {
    const { db, overlay, journal, slots, checkpointNames, checkpointWriter } = this.store;
    // A background checkpoint's commit may be pending; its layers are frozen, not gone, so this
    // one writes them again (idempotent), after it (IndexedDB runs the two in order).
    if (!overlay.empty) {
      if (deletesFirst) {
        slots.flushData();
        // The early deletions below must never outlive the records that made them.
        journal.flush();
        // Chromium's IndexedDB refuses a transaction that puts anything when the origin is out of
        // quota, but takes one that only deletes. Applying the overlay's deletions to the checkpoint
        // early changes nothing it shows (the overlay names every key it deleted, and its cuts cover
        // their ranges), so a crash between the two transactions replays to the same state.
        const layers = overlay.layers;
        await checkpointWriter.afterHelper(() => writeDeletions(db, layers, checkpointNames));
      }
      // Undefined when the deletions waited for a background checkpoint (15) whose commit left
      // the overlay empty: then only the shrink is left to do.
      const started = this.start();
      if (started) {
        await started.committed;
        this.finish(started);
      }
    }
    this.countTrimmed(await this.shrink());
  }

  /** Not `trimmedSlots += await …`, which reads the count before the await and loses a shrink that ran meanwhile. */
  private countTrimmed(slots: number): void {
    this.store.openInfo.trimmedSlots += slots;
  }

  /** Give the file's free tail back (invariant 9), after any checkpoint the helper has pending (invariant 15). */
  private shrink(): Promise<number> {
    const { db, overlay, slots, checkpointWriter } = this.store;
    return checkpointWriter.afterHelper(() => shrink(db, overlay, slots));
  }
}
