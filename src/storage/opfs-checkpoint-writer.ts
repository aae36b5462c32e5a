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
 */
import { delay } from "../protocol/errno.js";
import type { WorkerDb } from "./indexeddb-common.js";
import type { OverlayLayer } from "./opfs-overlay.js";
import { writeOverlay } from "./opfs-checkpoint.js";
import type { Journal } from "./opfs-journal.js";

export type CheckpointRequest = { kind: "overlay"; id: number; db: string; layers: ArrayBuffer[] } | { kind: "close"; id: number };
export interface CheckpointReply {
  id: number;
  error?: { name: string; message: string };
}

/** Checkpoints of fewer journal bytes are written in the store's worker (OpfsStoreOptions.checkpointHelperMinBytes). */
const HELPER_MIN_BYTES = 256 * 1024;

/** How long close() waits for the helper to let go of the database before terminating it anyway. */
const CLOSE_WAIT_MS = 2000;

export class CheckpointWriter {
  private helper: Worker | undefined;
  /** The helper could not be started, or failed outside a request: this thread writes from now on. */
  private helperBroken: boolean;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>();
  /** Checkpoints written by the helper so far (tests, diagnostics). */
  helperWrites = 0;

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
    return this.send({ kind: "overlay", id: this.nextId++, db: this.dbName, layers: buffers }, buffers);
  }

  /** Run an IndexedDB write of checkpointed state once the helper has no checkpoint pending (invariant 15). */
  async afterHelper<T>(write: () => Promise<T>): Promise<T> {
    while (this.waiting.size > 0) await Promise.allSettled([...this.waiting.keys()].map((id) => this.settled(id)));
    return write();
  }

  /**
   * Stop the helper once it has closed its database connection (which would block deleting the
   * database) — or after CLOSE_WAIT_MS: a helper whose database open is stuck must not keep the
   * store from closing (terminating it drops its connection too, only later).
   */
  async close(): Promise<void> {
    const helper = this.helper;
    if (!helper) return;
    const waited = new AbortController();
    await Promise.race([this.send({ kind: "close", id: this.nextId++ }, []).catch(() => {}), delay(CLOSE_WAIT_MS, waited.signal).catch(() => {})]);
    waited.abort();
    helper.terminate();
    this.helper = undefined;
    this.helperBroken = true;
  }

  private readonly settledBy = new Map<number, Promise<void>>();

  private settled(id: number): Promise<void> {
    return this.settledBy.get(id) ?? Promise.resolve();
  }

  private send(m: CheckpointRequest, transfer: Transferable[]): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.waiting.set(m.id, { resolve, reject }));
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
        this.waiting.delete(r.id);
        if (r.error) waiter.reject(new DOMException(r.error.message, r.error.name));
        else waiter.resolve();
      };
      // The script failed to load or threw outside a request: its pending checkpoints fail (the
      // store writes them again), and this thread writes the next ones.
      w.onerror = (ev) => {
        ev.preventDefault();
        this.fail(new Error(`OPFS checkpoint helper failed: ${ev.message}`));
      };
      w.onmessageerror = () => this.fail(new Error("OPFS checkpoint helper: a message could not be read"));
      this.helper = w;
      return w;
    } catch {
      this.helperBroken = true;
      return undefined;
    }
  }

  private fail(e: unknown): void {
    this.helperBroken = true;
    this.helper?.terminate();
    this.helper = undefined;
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }
}
