// The IndexedDB transaction driver, against a stand-in transaction that aborts the way the spec says one does on quota.
import { describe, expect, it } from "vitest";
import { Errno } from "../protocol/errno.js";
import { runIdbTransaction } from "./indexeddb-common.js";

/**
 * "Abort a transaction" (IndexedDB 3.0 §5.7): state becomes finished and
 * `error` is set first, then every pending request fails with an AbortError,
 * then, in a later task, the transaction's abort event fires.
 */
class QuotaAbortingTx extends EventTarget {
  error: Error | null = null;
  private finished = false;
  abort(): void {
    if (this.finished) throw new Error("InvalidStateError: the transaction has finished");
    this.finished = true;
    setTimeout(() => this.dispatchEvent(new Event("abort")));
  }
  /** The browser ran out of quota while committing a request. */
  failOnQuota(requests: ((e: Error) => void)[]): void {
    this.finished = true;
    const quota = new Error("quota exceeded");
    quota.name = "QuotaExceededError";
    this.error = quota;
    const aborted = new Error("The transaction was aborted.");
    aborted.name = "AbortError";
    for (const r of requests) r(aborted);
    setTimeout(() => this.dispatchEvent(new Event("abort")));
  }
}

describe("runIdbTransaction", () => {
  it("a request failing with AbortError because the transaction hit the quota is ENOSPC, not an AbortError", async () => {
    const tx = new QuotaAbortingTx();
    const db = { transaction: () => tx } as unknown as IDBDatabase;
    let rollbacks = 0;
    const run = runIdbTransaction(
      db,
      ["inodes"],
      "readwrite",
      { signal: new AbortController().signal },
      () => tx,
      () =>
        new Promise<void>((_, reject) => {
          // The body awaits one request; the quota abort fails it.
          setTimeout(() => tx.failOnQuota([reject]));
        }),
      { onRollback: () => rollbacks++ },
    );
    await expect(run).rejects.toMatchObject({ errno: Errno.ENOSPC });
    expect(rollbacks).toBe(1);
  });
});
