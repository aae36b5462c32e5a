import { Errno, FsError, abortReason } from "../protocol/errno.js";
import { RwLock } from "./memory-rwlock.js";
import { emptyState, entryCost, inodeCost, MemoryTx, xattrsCost, type MemoryState } from "./memory-tx.js";
import type { Store, StoreTx, StoreUsage, TxMode, TxOptions } from "./store.js";

export interface MemoryStoreOptions {
  /** Bytes per data chunk; default 64 KiB. */
  chunkSize?: number;
  /** Commits that would grow the store past this fail with ENOSPC; default 2 GiB. */
  quotaBytes?: number;
}

export interface MemoryStoreStats {
  inodes: number;
  entries: number;
  chunks: number;
  chunkBytes: number;
  /** Inodes with extended attributes stored (apart from their records). */
  xattrOwners: number;
  used: number;
}

const DEFAULT_CHUNK_SIZE = 65536;
const DEFAULT_QUOTA = 2 * 1024 ** 3;

/**
 * A Store in plain Maps, with the same transaction guarantees the persistent
 * backends give: all-or-nothing commits, rollback on error, abort and ENOSPC,
 * readers/writer isolation.
 */
export class MemoryStore implements Store {
  readonly keepsChunkBuffers = true;
  readonly kind = "memory";
  readonly chunkSize: number;
  readonly quotaBytes: number;
  private readonly state: MemoryState = emptyState();
  private readonly lock = new RwLock();
  private closed = false;

  constructor(options: MemoryStoreOptions = {}) {
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.quotaBytes = options.quotaBytes ?? DEFAULT_QUOTA;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize <= 0) throw new RangeError("chunkSize must be a positive integer");
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error("store is closed"));
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // Uncontended: run the body right now, no promise spent on the lock.
    if (this.lock.tryAcquire(mode)) return this.run(mode, body, signal);
    return this.lock.acquire(mode, signal).then(() => this.run(mode, body, signal));
  }

  async usage(): Promise<StoreUsage> {
    return { used: this.state.used, quota: this.quotaBytes };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Counts for tests and fsck-style leak checks; walks every map, so not for hot paths. */
  debugStats(): MemoryStoreStats {
    let entries = 0;
    for (const d of this.state.dirs.values()) entries += d.size;
    let chunks = 0;
    let chunkBytes = 0;
    for (const m of this.state.chunks.values()) {
      chunks += m.size;
      for (const c of m.values()) chunkBytes += c.length;
    }
    return { inodes: this.state.inodes.size, entries, chunks, chunkBytes, xattrOwners: this.state.xattrs.size, used: this.state.used };
  }

  /** Every stored inode number (for leak checks in tests). */
  debugInodeNumbers(): number[] {
    return [...this.state.inodes.keys()];
  }

  /** Every stored chunk index of `ino`. */
  debugChunkIndices(ino: number): number[] {
    return [...(this.state.chunks.get(ino)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Inodes that have chunks stored (fsck finds leaked data with it). */
  debugChunkOwners(): number[] {
    return [...this.state.chunks.keys()];
  }

  /** Recompute `used` from scratch (tests compare it with the incremental count). */
  debugRecount(): number {
    let n = 0;
    for (const rec of this.state.inodes.values()) n += inodeCost(rec);
    for (const d of this.state.dirs.values()) for (const e of d.byName.values()) n += entryCost(e);
    for (const m of this.state.chunks.values()) for (const c of m.values()) n += c.length;
    for (const list of this.state.xattrs.values()) n += xattrsCost(list);
    return n;
  }

  /**
   * Run `body` holding the lock in `mode`; the lock is released when the body
   * settles, even if the caller already got an AbortError, because the body may
   * still be touching the transaction.
   */
  private run<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const tx = new MemoryTx(this.state, this.chunkSize, mode === "readwrite");
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        const reason = abortReason(signal!);
        tx.kill(reason);
        reject(reason);
      };
      const finish = (): void => {
        signal?.removeEventListener("abort", onAbort);
        this.lock.release(mode);
      };
      if (signal?.aborted) {
        // Aborted between being granted the lock and getting here.
        this.lock.release(mode);
        reject(abortReason(signal));
        return;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      let result: Promise<T>;
      try {
        result = body(tx);
      } catch (e) {
        result = Promise.reject(e);
      }
      result.then(
        (value) => {
          try {
            if (settled) return;
            settled = true;
            if (signal?.aborted) throw abortReason(signal);
            if (tx.writable) this.commit(tx);
            resolve(value);
          } catch (e) {
            reject(e);
          } finally {
            finish();
          }
        },
        (err: unknown) => {
          finish();
          if (settled) return;
          settled = true;
          reject(err);
        },
      );
    });
  }

  private commit(tx: MemoryTx): void {
    const delta = tx.sizeDelta();
    if (delta > 0 && this.state.used + delta > this.quotaBytes) {
      throw new FsError(Errno.ENOSPC, `commit needs ${delta} bytes, ${this.quotaBytes - this.state.used} free`);
    }
    tx.apply(delta);
  }
}
