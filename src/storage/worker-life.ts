/**
 * Seeing a worker die. A dedicated worker that is terminated, crashes or runs out of memory tells
 * nobody: a MessagePort has no close event, so whatever waits on it waits forever. A Web Lock is
 * released when the context holding it ends, however it ends, so the worker holds one for its
 * whole life (holdLifeLock) and its owner asks for the same lock (watchLifeLock): the owner is
 * granted it exactly when the worker is gone. Used by the page API (src/index.ts) for the tree's
 * worker and by the OPFS store for its checkpoint helper (opfs-checkpoint-writer.ts).
 */

/** A lock name no other worker uses. */
export function lifeLockName(what: string): string {
  const id = typeof crypto !== "undefined" && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
  return `worker9p:life:${what}:${id}`;
}

function lockManager(): LockManager | undefined {
  return typeof navigator !== "undefined" ? (navigator as Navigator & { locks?: LockManager }).locks : undefined;
}

/** In the worker: hold `name` until this context ends. Resolves true once held; false where there are no Web Locks. */
export function holdLifeLock(name: string): Promise<boolean> {
  const locks = lockManager();
  if (!locks) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    locks
      .request(name, () => {
        resolve(true);
        return new Promise<never>(() => {});
      })
      .catch(reject);
  });
}

/**
 * In the owner, once holdLifeLock(name) resolved true in the worker (asked earlier, the owner would
 * get the lock at once): resolves true when the worker's context is gone, false at once where there
 * are no Web Locks; rejects if `signal` aborts first (the owner ends the worker itself).
 */
export function lifeEnded(name: string, signal?: AbortSignal): Promise<boolean> {
  const locks = lockManager();
  if (!locks) return Promise.resolve(false);
  return locks.request(name, signal ? { signal } : {}, () => true);
}

/** lifeEnded, calling `onEnd` unless `signal` aborted first. False where there are no Web Locks. */
export function watchLifeLock(name: string, onEnd: () => void, signal: AbortSignal): boolean {
  if (!lockManager()) return false;
  lifeEnded(name, signal).then(
    () => {
      if (!signal.aborted) onEnd();
    },
    () => {}, // aborted: nobody is watching any more
  );
  return true;
}

/**
 * An owner's view of a worker that may die without a word: once it is lost, every call made
 * through `call`, pending or later, rejects with `lost` instead of waiting forever.
 */
export class WorkerLife {
  lost: Error | undefined;
  private readonly watching = new AbortController();
  private rejectLost!: (e: Error) => void;
  private readonly lostPromise = new Promise<never>((_, reject) => (this.rejectLost = reject));

  constructor() {
    this.lostPromise.catch(() => {});
  }

  /** Aborted by stop(): for watchLifeLock. */
  get signal(): AbortSignal {
    return this.watching.signal;
  }

  /** `f()` (a call to the worker), or `lost` if the worker is gone already or dies before answering. */
  call<T>(f: () => Promise<T>): Promise<T> {
    if (this.lost) return Promise.reject(this.lost);
    return Promise.race([f(), this.lostPromise]);
  }

  /** The worker is gone: `error` is what its callers get. False when it was lost already, or no longer watched. */
  end(error: Error): boolean {
    if (this.lost || this.watching.signal.aborted) return false;
    this.lost = error;
    this.rejectLost(error);
    return true;
  }

  /** The owner ends the worker itself: no death to report from now on. */
  stop(): void {
    this.watching.abort();
  }
}
