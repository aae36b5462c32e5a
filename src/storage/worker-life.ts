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
