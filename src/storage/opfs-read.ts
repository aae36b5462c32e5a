/**
 * Readonly transactions of the OPFS store. A read whose inode the file
 * system has cached and whose chunk records the store has cached needs no
 * IndexedDB at all: one synchronous sync-handle read. Only a body that asks
 * for something the caches lack opens an IndexedDB transaction, at that
 * moment, and everything after that goes through it.
 *
 * Why this is consistent (OPFS invariants 7 and 8, opfs.ts, in detail). The
 * cache is the committed state, so cache hits alone are one commit point's
 * view. IndexedDB gives a readonly transaction
 * the state after every readwrite transaction created before it — so a
 * transaction opened after cache hits may see commits the hits did not. Hence:
 *  - the cache is not used at all while a writer is between its start and
 *    its outcome (its commit may land before our IndexedDB snapshot);
 *  - a body that hit the cache and then needs IndexedDB checks that no
 *    writer started since its first hit; if one did, the body runs again
 *    from the start on IndexedDB alone (readonly bodies only read, so
 *    running one again is harmless);
 *  - once an IndexedDB transaction is open, a hit is the state IndexedDB
 *    shows too: nothing commits while it is open, and a writer's commit
 *    drops its inodes from the cache before it can land (ChunkMapCache).
 */
import { abortError } from "../protocol/errno.js";
import { entryKey, type ChunkRef } from "./indexeddb-common.js";
import type { OpfsStore, OpfsTx } from "./opfs.js";
import type { EntryRecord, InodeRecord, StoreTx, XattrList } from "./store.js";

export function readOnlyError(): Error {
  const e = new Error("write in a readonly transaction");
  e.name = "ReadOnlyError";
  return e;
}

/** What the cached reader needs from the store. */
type ChunkSource = Pick<OpfsStore, "cache" | "records" | "chunkBytes" | "readChunkInto" | "writersActive" | "writersStarted">;

/** Thrown inside a body whose cache hits may be older than the IndexedDB snapshot it now needs: run it again. */
class StaleHits extends Error {}

export class OpfsReadTx implements StoreTx {
  private idb: OpfsTx | undefined;
  /** writersStarted at the first cache hit; undefined while nothing came from the cache. */
  private hitSince: number | undefined;

  constructor(
    private readonly source: ChunkSource,
    /** Called with the IndexedDB transaction when one is opened, so the driver can abort it. */
    private readonly opened: (tx: OpfsTx) => void,
    private readonly open: () => OpfsTx,
    private readonly useCache = true,
  ) {}

  private get inner(): OpfsTx {
    if (!this.idb) {
      const s = this.source;
      if (this.hitSince !== undefined && (s.writersActive > 0 || s.writersStarted !== this.hitSince)) throw new StaleHits();
      this.idb = this.open();
      this.opened(this.idb);
    }
    return this.idb;
  }

  /** The committed record from the cache; undefined when the cache does not know it or may not be used now. */
  private cached(ino: number, index: number): ChunkRef | null | undefined {
    return this.hit(() => this.source.cache.lookup(ino, index));
  }

  /** A lookup in one of the store's caches of committed state, under the rules above. */
  private hit<V>(lookup: () => V | undefined): V | undefined {
    if (!this.useCache || this.source.writersActive > 0) return undefined;
    const v = lookup();
    if (v !== undefined && this.hitSince === undefined && !this.idb) this.hitSince = this.source.writersStarted;
    return v;
  }

  /** Read through IndexedDB, and keep what was read when no writer was in flight and no commit landed meanwhile. */
  private async fetched<V>(read: () => Promise<V>, keep: (since: number, v: V) => void): Promise<V> {
    const quiet = this.useCache && this.source.writersActive === 0;
    const since = this.source.records.version;
    const v = await read();
    if (quiet) keep(since, v);
    return v;
  }

  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    const ref = this.cached(ino, index);
    if (ref === undefined) return this.inner.getChunk(ino, index);
    return this.source.chunkBytes(ref);
  }

  async readChunkInto(ino: number, index: number, within: number, dest: Uint8Array): Promise<number | undefined> {
    const ref = this.cached(ino, index);
    if (ref === undefined) return this.inner.readChunkInto(ino, index, within, dest);
    return this.source.readChunkInto(ref, within, dest);
  }

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const known = this.hit(() => this.source.records.inode(ino));
    if (known !== undefined) return known ?? undefined;
    const records = this.source.records;
    return this.fetched(() => this.inner.getInode(ino), (since, rec) => records.rememberInodeIf(since, ino, rec ?? null));
  }
  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    const k = entryKey(dir, name);
    const known = this.hit(() => this.source.records.entry(k));
    if (known !== undefined) return known ?? undefined;
    const records = this.source.records;
    return this.fetched(() => this.inner.getEntry(dir, name), (since, e) => records.rememberEntryIf(since, k, e ?? null));
  }
  listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    return this.inner.listEntries(dir, after, limit);
  }
  countChunks(ino: number, from: number, to: number): Promise<number> {
    return this.inner.countChunks(ino, from, to);
  }
  getMeta<T>(key: string): Promise<T | undefined> {
    return this.inner.getMeta<T>(key);
  }
  getXattrs(ino: number): Promise<XattrList | undefined> {
    return this.inner.getXattrs(ino);
  }

  async putInode(): Promise<void> {
    throw readOnlyError();
  }
  async deleteInode(): Promise<void> {
    throw readOnlyError();
  }
  async putEntry(): Promise<void> {
    throw readOnlyError();
  }
  async deleteEntry(): Promise<void> {
    throw readOnlyError();
  }
  async putChunk(): Promise<void> {
    throw readOnlyError();
  }
  async deleteChunk(): Promise<void> {
    throw readOnlyError();
  }
  async deleteChunksFrom(): Promise<void> {
    throw readOnlyError();
  }
  async putMeta(): Promise<void> {
    throw readOnlyError();
  }
  async putXattrs(): Promise<void> {
    throw readOnlyError();
  }
}

/**
 * Run a readonly body. Nothing to commit, so it resolves with the body's
 * value; an abort rejects at once (and aborts the IndexedDB transaction if
 * one was opened), leaving the body to run out unobserved.
 */
export function runCachedRead<T>(
  body: (tx: StoreTx) => Promise<T>,
  signal: AbortSignal | undefined,
  makeTx: (opened: (tx: OpfsTx) => void, useCache: boolean) => OpfsReadTx,
): Promise<T> {
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise<T>((resolve, reject) => {
    let inner: OpfsTx | undefined;
    const onAbort = (): void => {
      try {
        inner?.tx.abort();
      } catch {
        // Already finished.
      }
      reject(abortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = (): void => signal?.removeEventListener("abort", onAbort);
    const run = (useCache: boolean): void => {
      let p: Promise<T>;
      try {
        p = body(makeTx((tx) => (inner = tx), useCache));
      } catch (e) {
        p = Promise.reject(e);
      }
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e: unknown) => {
          if (e instanceof StaleHits && !signal?.aborted) return run(false);
          done();
          reject(signal?.aborted ? abortError() : e);
        },
      );
    };
    run(true);
  });
}
