import { abortError } from "../protocol/errno.js";

/**
 * Runs a store's writers one at a time, in order. IndexedDB runs readwrite
 * transactions over the same object stores one after another anyway; doing
 * it in the worker too means a writer's body starts from a settled committed
 * state, which it may then read from memory (CommittedRecords, the OPFS
 * chunk map and allocator) instead of through IndexedDB round trips. A
 * writer aborted while it waits leaves the queue at once.
 */
export class WriterQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(signal: AbortSignal | undefined, writer: () => Promise<T>): Promise<T> {
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    const turn = new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError());
      const onAbort = (): void => reject(abortError());
      signal?.addEventListener("abort", onAbort, { once: true });
      void before.then(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    return turn.then(
      () => {
        const p = writer();
        p.then(release, release);
        return p;
      },
      (e: unknown) => {
        // Out of the queue, but the next writer still waits for the one before this.
        void before.then(release);
        throw e;
      },
    );
  }
}
