/**
 * How long an inode lives: the references fids hold on it, the orphans that
 * lost their last name, freeing them, and the readwrite transaction every
 * mutation of the FileSystem runs in (`change`), whose effects on these
 * follow its commit.
 *
 * References and unlinks (the invariants the code refers to):
 *
 * (R1) An inode that loses its last name is always listed as an orphan by the
 *      unlinking transaction (in the store, so after a crash the next mount
 *      frees it), and freed by a transaction of its own once nothing
 *      references it: right after the unlink commits when nothing does, else
 *      at the last release.
 * (R2) Whether anything references it is decided after the unlinking commit,
 *      never inside its body. A writer body can run while a reader that is
 *      resolving the name has not yet counted its reference (a browser store's
 *      writer reads committed records from memory while an older readonly
 *      IndexedDB transaction is still open); but that reader's transaction
 *      completes before the writer's commits (IndexedDB runs a readwrite
 *      transaction after the readonly ones created before it; memory: RwLock),
 *      and the reader counts its reference right in that completion's
 *      continuation, ahead of the commit's.
 * (R3) A reference to a new inode is taken by the body that creates it
 *      (`pin`): a batching store (WriterBatcher) may commit another session's
 *      unlink of the new name in the same transaction, and that unlink's
 *      settling must already see the creator's reference.
 * (R4) Pins of a run that does not commit (a failed, flushed or redone batch)
 *      are dropped when the transaction settles; a run still finishing on a
 *      dead transaction after that pins nothing (`closed`). The committed
 *      run's pins become the caller's references.
 */
import { isAbortError, isFsError } from "../protocol/errno.js";
import type { InodeRecord, Store, StoreTx, TxOptions } from "../storage/store.js";
import type { InodeCache } from "./inode-cache.js";
import { InodeEdits } from "./inode-edits.js";
import type { LockTable } from "./lock-table.js";
import { addOrphan, removeOrphan } from "./meta.js";

/** What one run of a transaction body did that matters once it commits. */
export interface Effects {
  /** Lost their last name: freed once unreferenced (R1). */
  orphaned: number[];
  /** References this run took for its caller (R3). */
  pinned: number[];
  /** The transaction settled: a late run pins nothing (R4). */
  closed: boolean;
}

export class InodeLifetimes {
  private readonly refs = new Map<number, number>();
  /** Unlinked inodes kept alive by references (mirrors the "orphans" meta list for this mount). */
  private readonly orphans = new Set<number>();
  private readonly reclaiming = new Map<number, Promise<void>>();

  /** `cache` learns what each change committed; `locks` forgets an inode once it is freed. */
  constructor(
    private readonly store: Store,
    private readonly cache: InodeCache,
    private readonly locks: LockTable,
  ) {}

  retain(ino: number): void {
    this.refs.set(ino, (this.refs.get(ino) ?? 0) + 1);
  }

  async release(ino: number): Promise<void> {
    const n = (this.refs.get(ino) ?? 0) - 1;
    if (n > 0) {
      this.refs.set(ino, n);
      return;
    }
    this.refs.delete(ino);
    if (this.orphans.has(ino)) await this.reclaim(ino);
  }

  /** References currently counted on `ino`. */
  references(ino: number): number {
    return this.refs.get(ino) ?? 0;
  }

  /** Inodes referenced, and orphans kept alive by references: both bounded by the fids open across sessions. */
  get counts(): { referencedInodes: number; orphans: number } {
    return { referencedInodes: this.refs.size, orphans: this.orphans.size };
  }

  /** One readwrite transaction; edited inodes are stored when `body` returns and in-memory effects follow the commit. */
  async change<T>(signal: AbortSignal, body: (e: InodeEdits, fx: Effects) => Promise<T>, options: Pick<TxOptions, "durable" | "prefetchEntries"> = {}): Promise<T> {
    let run: { value: T; edits: InodeEdits; fx: Effects };
    const runs: Effects[] = [];
    try {
      run = await this.store.transaction(
        "readwrite",
        async (tx) => {
          // A store may run a body more than once (a batch of writers redone), and an abandoned
          // run may still be finishing: each run keeps its effects to itself, the committed one wins.
          const fx: Effects = { orphaned: [], pinned: [], closed: false };
          runs.push(fx);
          const edits = new InodeEdits(tx);
          const value = await body(edits, fx);
          await edits.flush();
          return { value, edits, fx };
        },
        { ...options, signal },
      );
    } catch (err) {
      // A store may report failure after an uncertain commit (a lost connection): trust nothing cached.
      if (!isAbortError(err) && !isFsError(err)) this.cache.clear();
      this.dropPins(runs, undefined);
      throw err;
    }
    this.cache.committed(run.edits.changes());
    const reclaimed = this.settle(run.fx);
    this.dropPins(runs, run.fx);
    // An unlink answers once the space is back (df right after rm), or once the file is kept.
    await reclaimed;
    return run.value;
  }

  /** Take a reference on `ino` for the caller of this run (R3). */
  pin(fx: Effects, ino: number): void {
    if (fx.closed) return;
    fx.pinned.push(ino);
    this.retain(ino);
  }

  /** `rec` (an edited copy) just lost its last name: list it as an orphan, freed once unreferenced (R1). */
  async unlinked(e: InodeEdits, rec: InodeRecord, fx: Effects): Promise<void> {
    await addOrphan(e.tx, rec.ino);
    fx.orphaned.push(rec.ino);
  }

  /** The transaction settled: every run but the committed one gives its pins back (R4). */
  private dropPins(runs: Effects[], committed: Effects | undefined): void {
    for (const fx of runs) {
      fx.closed = true;
      if (fx === committed) continue;
      for (const ino of fx.pinned) this.release(ino).catch(() => undefined);
    }
  }

  /** After the commit (R2): orphans nothing references are freed now; the promise settles when they are. */
  private settle(fx: Effects): Promise<unknown> {
    const freeing: Promise<void>[] = [];
    for (const ino of fx.orphaned) {
      this.orphans.add(ino);
      // Failing to free leaves the orphan listed: the next mount frees it.
      if (!this.refs.has(ino)) freeing.push(this.reclaim(ino).catch(() => undefined));
    }
    return Promise.all(freeing);
  }

  private reclaim(ino: number): Promise<void> {
    const running = this.reclaiming.get(ino);
    if (running) return running;
    const p = this.reclaimWhileUnreferenced(ino).finally(() => this.reclaiming.delete(ino));
    this.reclaiming.set(ino, p);
    return p;
  }

  /** Not abortable: once the last reference is gone the space must come back. Loops in case a reference came and went meanwhile. */
  private async reclaimWhileUnreferenced(ino: number): Promise<void> {
    while (this.orphans.has(ino) && !this.refs.has(ino)) {
      const done = await this.store.transaction("readwrite", async (tx) => {
        if (this.refs.has(ino)) return false;
        await freeIfUnlinked(tx, ino);
        await removeOrphan(tx, ino);
        return true;
      });
      if (done) {
        this.cache.committed([[ino, undefined]]);
        this.orphans.delete(ino);
        this.locks.dropInode(ino);
      }
    }
  }
}

/** Delete `ino`, its data and its xattrs if it has no names left (a listed orphan that was re-linked is left alone). */
export async function freeIfUnlinked(tx: StoreTx, ino: number): Promise<void> {
  const rec = await tx.getInode(ino);
  if (!rec || rec.nlink !== 0) return;
  await tx.deleteChunksFrom(ino, 0);
  if (rec.xattrBytes) await tx.putXattrs(ino, undefined);
  await tx.deleteInode(ino);
}
