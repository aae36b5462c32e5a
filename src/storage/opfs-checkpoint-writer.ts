/**
 * Where the OPFS store's checkpoints are written (invariants 11, 14, 15): in
 * a helper worker (opfs-checkpoint-worker.ts) when they are large and the
 * frozen layers' places in the journal are known, else in this thread. The helper rebuilds the layers
 * from their frames and writes them with the same writeOverlay, so either
 * way one strict IndexedDB transaction commits exactly the frozen layers.
 *
 * Order (invariant 15, opfs.ts): checkpoint transactions must commit in the
 * order the store started them — an older one committing after a newer one
 * would put back values the newer one changed, and its `journalSeq` — so a
 * write in this thread (and the store's own IndexedDB writes of checkpointed
 * state: the deletions written first when out of quota) waits until the
 * helper has none pending; the helper itself creates its transactions in
 * the order it is sent them, which IndexedDB keeps.
 *
 * Falling back (invariant 15 again): any failure of the helper other than
 * the quota — its script not loading, its database open failing, another
 * tab's versionchange closing its connection, the helper dying (its life
 * lock, worker-life.ts) — gives it up for good. Its pending checkpoints are
 * then written again here, oldest first, but only once its context is gone
 * (its life lock granted): a dead helper creates no transaction, so none of
 * its own can commit after one started here. The store never sees the
 * failure; the overlay does not grow towards its bound (invariant 13).
 */
import { delay, isQuotaError } from "../protocol/errno.js";
import type { WorkerDb } from "./indexeddb-common.js";
import type { OverlayLayer } from "./opfs-overlay.js";
import { writeOverlay } from "./opfs-checkpoint.js";
import type { Journal } from "./opfs-journal.js";
import { lifeEnded, lifeLockName } from "./worker-life.js";

export type CheckpointRequest =
  | { kind: "overlay"; id: number; db: string; layers: ArrayBuffer[] }
  | { kind: "close"; id: number }
  /** Hold this Web Lock for life (worker-life.ts), then answer. */
  | { kind: "hold"; id: number; lock: string }
  /** Test hook: close the database connection, as another tab's versionchange makes it do. */
  | { kind: "drop-db"; id: number };
export interface CheckpointReply {
  id: number;
  error?: { name: string; message: string };
}

/** Checkpoints of fewer journal bytes are written in the store's worker (OpfsStoreOptions.checkpointHelperMinBytes). */
const HELPER_MIN_BYTES = 256 * 1024;

/** How long close() waits for the helper to let go of the database before terminating it anyway. */
const CLOSE_WAIT_MS = 2000;

interface Waiting {
  resolve: () => void;
  reject: (e: unknown) => void;
  /** A checkpoint's layers, written here instead if the helper fails. */
  layers?: readonly OverlayLayer[];
}

export class CheckpointWriter {
  private helper: Worker | undefined;
  /** The helper could not be started, or failed: this thread writes from now on. */
  private helperBroken: boolean;
  /** The Web Lock the helper holds for its life (worker-life.ts); the helper touches IndexedDB only once it holds it. */
  private helperLock = "";
  /** Resolves once the helper's context is gone; watched from when it holds its life lock. */
  private helperGone: Promise<unknown> = new Promise(() => {});
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  /** Checkpoints written by the helper so far (tests, diagnostics). */
  helperWrites = 0;
  /** Why the helper was given up, if it was (tests, diagnostics). */
  helperLost: string | undefined;

  constructor(
    private readonly db: WorkerDb,
    private readonly dbName: string,
    private readonly journal: Journal,
    useHelper: boolean,
    /** Checkpoints of fewer journal bytes than this are written in this thread. */
    private readonly helperMinBytes = HELPER_MIN_BYTES,
  ) {
    this.helperBroken = !useHelper || typeof Worker === "undefined";
  }

  /** Write `layers` (frozen, oldest first) in one strict transaction; resolves when it has committed. */
  write(layers: readonly OverlayLayer[]): Promise<void> {
    let bytes = 0;
    // A layer without its place in the journal makes this NaN: written in this thread.
    for (const l of layers) bytes = l.journalRange ? bytes + l.journalRange.to - l.journalRange.from : NaN;
    // A small checkpoint costs little here; starting the helper (a worker and its modules) costs
    // more than it saves, and competes with the writes that follow (512 KiB writes ran slower).
    const helper = bytes >= this.helperMinBytes ? this.startedHelper() : undefined;
    if (!helper) return this.afterHelper(() => writeOverlay(this.db, layers));
    // Each layer's frames, read back now (a retry after a failure reads them again), and transferred.
    let buffers: ArrayBuffer[];
    try {
      buffers = layers.map((l) => this.journal.read(l.journalRange!).buffer as ArrayBuffer);
    } catch {
      // The journal would not give them back: the layers in memory are the same state.
      return this.afterHelper(() => writeOverlay(this.db, layers));
    }
    this.helperWrites++;
    return this.send({ kind: "overlay", id: this.nextId++, db: this.dbName, layers: buffers }, buffers, layers);
  }

  /** Run an IndexedDB write of checkpointed state once the helper has no checkpoint pending (invariant 15). */
  async afterHelper<T>(write: () => Promise<T>): Promise<T> {
    while (this.waiting.size > 0) await Promise.allSettled([...this.waiting.keys()].map((id) => this.settled(id)));
    return write();
  }

  /**
   * Stop the helper once it has closed its database connection (which would block deleting the
   * database) — or once it is gone, or after CLOSE_WAIT_MS: a helper whose database open is stuck
   * must not keep the store from closing (terminating it drops its connection too, only later).
   * Whatever it still had pending is settled: rejected, the journal keeps what it lacks.
   */
  async close(): Promise<void> {
    const helper = this.helper;
    if (!helper) return;
    const waited = new AbortController();
    await Promise.race([this.send({ kind: "close", id: this.nextId++ }, []).catch(() => {}), this.helperGone, delay(CLOSE_WAIT_MS, waited.signal).catch(() => {})]);
    waited.abort();
    this.stopHelper();
    const closing = new Error("OPFS checkpoint helper: the store closed before the helper answered");
    for (const w of this.waiting.values()) w.reject(closing);
    this.waiting.clear();
  }

  /** Test hook: the helper dies without a word, as a crashed worker does (the writer must notice by itself). */
  crashHelperForTests(): void {
    this.helper?.terminate();
  }

  /** Test hook: the helper's database connection closes under it, as another tab's versionchange makes it. */
  dropHelperDbForTests(): Promise<void> {
    return this.helper ? this.send({ kind: "drop-db", id: this.nextId++ }, []) : Promise.resolve();
  }

  private readonly settledBy = new Map<number, Promise<void>>();

  private settled(id: number): Promise<void> {
    return this.settledBy.get(id) ?? Promise.resolve();
  }

  private send(m: CheckpointRequest, transfer: Transferable[], layers?: readonly OverlayLayer[]): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.waiting.set(m.id, { resolve, reject, ...(layers ? { layers } : {}) }));
    const done = p.then(
      () => {},
      () => {},
    );
    this.settledBy.set(m.id, done);
    void done.then(() => this.settledBy.delete(m.id));
    try {
      this.helper!.postMessage(m, transfer);
    } catch (e) {
      this.fail(e);
    }
    return p;
  }

  private startedHelper(): Worker | undefined {
    if (this.helperBroken) return undefined;
    if (this.helper) return this.helper;
    try {
      const w = new Worker(new URL("./opfs-checkpoint-worker.ts", import.meta.url), { type: "module", name: `${this.dbName} checkpoints` });
      w.onmessage = (ev: MessageEvent<CheckpointReply>) => {
        const r = ev.data;
        const waiter = this.waiting.get(r.id);
        if (!waiter) return;
        if (!r.error) {
          this.waiting.delete(r.id);
          waiter.resolve();
          return;
        }
        const e = new DOMException(r.error.message, r.error.name);
        if (!isQuotaError(e)) return this.fail(e);
        // Out of quota this thread would fail the same: the store handles it (invariant 13).
        this.waiting.delete(r.id);
        waiter.reject(e);
      };
      // The script failed to load or threw outside a request.
      w.onerror = (ev) => {
        ev.preventDefault();
        this.fail(new Error(`OPFS checkpoint helper failed: ${ev.message}`));
      };
      w.onmessageerror = () => this.fail(new Error("OPFS checkpoint helper: a message could not be read"));
      this.helper = w;
      this.helperLock = lifeLockName(this.dbName);
      // First in the helper's queue: it holds the lock before any IndexedDB work, and is watched once it does.
      void this.send({ kind: "hold", id: this.nextId++, lock: this.helperLock }, []).then(
        () => {
          this.helperGone = lifeEnded(this.helperLock);
          this.helperGone.then(
            () => this.fail(new Error("OPFS checkpoint helper ended (terminated, crashed or out of memory)")),
            () => {},
          );
        },
        () => {},
      );
      return w;
    } catch {
      this.helperBroken = true;
      return undefined;
    }
  }

  /** Give the helper up (`why`: it failed): terminate it; this thread writes from now on. */
  private stopHelper(why?: string): void {
    this.helperBroken = true;
    this.helperLost ??= why;
    this.helper?.terminate();
    this.helper = undefined;
  }

  /**
   * The helper failed: give it up, and once its context is gone write its pending checkpoints
   * here, oldest first (see the top of this file); anything else it had pending is rejected.
   */
  private fail(e: unknown): void {
    if (this.helperBroken && !this.helper) return;
    // Granted once the helper's context is gone — or at once if it never held the lock, and then it
    // never touched IndexedDB (terminated, it never will).
    const had = this.helper !== undefined;
    this.stopHelper(String(e));
    const gone = had ? lifeEnded(this.helperLock).catch(() => {}) : Promise.resolve();
    const pending = [...this.waiting].sort(([a], [b]) => a - b);
    void (async () => {
      await gone;
      for (const [id, w] of pending) {
        try {
          if (!w.layers) throw e;
          await writeOverlay(this.db, w.layers);
          w.resolve();
        } catch (err) {
          w.reject(err);
        } finally {
          this.waiting.delete(id);
        }
      }
    })();
  }
}
