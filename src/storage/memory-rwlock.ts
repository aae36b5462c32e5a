import { abortReason } from "../protocol/errno.js";
import type { TxMode } from "./store.js";

interface Waiter {
  mode: TxMode;
  grant(): void;
}

/**
 * Readers/writer lock for transactions: readers share, a writer is exclusive,
 * and waiters are served in arrival order — a reader arriving behind a waiting
 * writer queues too, so a stream of readers cannot starve writers.
 */
export class RwLock {
  private readers = 0;
  private writing = false;
  private readonly waiters: Waiter[] = [];

  /** Take the lock without waiting if nobody holds it against `mode` and nobody queues; true when taken. */
  tryAcquire(mode: TxMode): boolean {
    if (this.writing || this.waiters.length > 0) return false;
    if (mode === "readonly") {
      this.readers++;
      return true;
    }
    if (this.readers > 0) return false;
    this.writing = true;
    return true;
  }

  /** Wait for the lock; aborting the signal leaves the queue and rejects with an AbortError. */
  acquire(mode: TxMode, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i < 0) return;
        this.waiters.splice(i, 1);
        reject(abortReason(signal!));
        // The leaver may have been a writer holding readers back.
        this.pump();
      };
      const waiter: Waiter = {
        mode,
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
      this.pump();
    });
  }

  release(mode: TxMode): void {
    if (mode === "readwrite") this.writing = false;
    else this.readers--;
    this.pump();
  }

  /** For tests and diagnostics. */
  get state(): { readers: number; writing: boolean; waiting: number } {
    return { readers: this.readers, writing: this.writing, waiting: this.waiters.length };
  }

  private pump(): void {
    while (this.waiters.length > 0 && !this.writing) {
      const head = this.waiters[0]!;
      if (head.mode === "readwrite") {
        if (this.readers > 0) return;
        this.writing = true;
        this.waiters.shift();
        head.grant();
        return;
      }
      this.readers++;
      this.waiters.shift();
      head.grant();
    }
  }
}
