/**
 * The OPFS store's options and the reports it gives (opfs.ts). Types and
 * the default slot size only, so that every part of the store can name them.
 */
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
   * Every checkpoint holds writers until IndexedDB has committed it, as before invariant 14
   * (opfs.ts): for benchmarks that measure the two side by side.
   */
  checkpointHoldsWriters?: boolean;
  /**
   * Checkpoints are written by a helper worker (the default, where workers exist), from the
   * journal frames of the layers they hold, so that the store's worker spends no time on
   * IndexedDB's puts (invariant 15, opfs.ts); false: in the store's worker (benchmarks, tests).
   */
  checkpointInHelper?: boolean;
  /** Checkpoints of fewer journal bytes than this are written in the store's worker: default 256 KiB (tests: 0). */
  checkpointHelperMinBytes?: number;
  /**
   * Writers that arrive in separate tasks share a commit (the default): an idle store starts a
   * batch only after the tasks already queued have run. false: each starts at once (benchmarks).
   */
  batchAcrossTasks?: boolean;
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
    /** A background checkpoint has issued its IndexedDB writes and lets writers go on while they commit (invariant 14). */
    checkpointIssued?: () => void;
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

/** The steps tests may observe (OpfsStoreOptions.debugHooks). */
export type OpfsDebugHooks = NonNullable<OpfsStoreOptions["debugHooks"]>;
