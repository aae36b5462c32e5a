/**
 * The IndexedDB backend: every batch of writers is exactly one IndexedDB
 * transaction over all object stores, so IndexedDB itself provides atomicity,
 * isolation (readwrite transactions over the same scope run one at a time;
 * readonly ones see committed state) and rollback on abort. A reader is at
 * most one readonly transaction, and none when the committed records in
 * memory answer it (invariant 1, IndexedDBStore.read).
 *
 * Writers run one at a time (WriterBatcher) and read committed inode, entry
 * and meta records (CommittedRecords) and chunk bytes (CommittedChunks) from
 * bounded caches that only commits change, which saves a write its IndexedDB
 * round trips before the commit itself; everything else is read from
 * IndexedDB, so memory stays bounded whatever the tree's size, an aborted
 * transaction cannot leave a stale cache behind, and opening a store reads
 * one small record.
 */
import { deleteDB, unwrap } from "idb";
import { abortError } from "../protocol/errno.js";
import { CommittedRecords } from "./committed-records.js";
import { CommittedChunks, OwnChunks } from "./indexeddb-chunks.js";
import { WriterBatcher } from "./writer-batcher.js";
import type { Store, StoreTx, StoreUsage, TxMode, TxOptions } from "./store.js";
import { MetadataOps } from "./indexeddb-metadata.js";
import {
  chunkRange,
  estimateUsage,
  openFormat,
  req,
  openWorkerDb,
  ownBytes,
  runIdbTransaction,
  type AnyTx,
  type StoreName,
  type WorkerDb,
} from "./indexeddb-common.js";

/**
 * Default chunk size: 128 KiB, chosen by measurement (headless Chromium 156,
 * dedicated worker, relaxed durability, this 2-core VM shared with other
 * jobs, so ranges over runs).
 *
 * Raw IndexedDB, 512 KiB per transaction, split into values of
 *    32 KiB: write 104 MB/s, read 198      64 KiB: write 287, read 460
 *   128 KiB: write 388, read 602          256 KiB: write 441, read 766
 *   one 512 KiB value (the reference): write 355-453, read 522-726
 * Below 64 KiB Chromium keeps values inline in its backing store and they
 * collapse to a third of the speed.
 *
 * Through this store, one transaction per 512 KiB write/read the way the
 * file-system layer does it (e2e/browser/store-bench.ts):
 *
 *   chunk   seq write   overwrite   seq read   4 KiB random write   random read
 *    64K    188         252         314        1.2 ms               0.46 ms
 *   128K    258-370     306-396     307-336    1.5 ms               0.54-0.57 ms
 *   256K    178-293     272-326     321        1.6-1.9 ms           0.66-0.80 ms
 *   512K    242-334     253-289     330-337    3.6-3.7 ms           1.25-1.39 ms   (MB/s)
 *
 * 128 KiB is the smallest size that keeps large-value speed, and a small
 * random write (get, patch, put one chunk) still costs about what any small
 * transaction costs; at 512 KiB it costs twice as much for no sequential
 * gain. Tails are stored at their real length, so a small file costs its own
 * size.
 */
export const IDB_DEFAULT_CHUNK_SIZE = 128 * 1024;

export interface IndexedDBStoreOptions {
  /** Chunk size for a new store. An existing store keeps the size it was created with. */
  chunkSize?: number;
  /** Bytes of committed chunks kept in memory (CommittedChunks); 0 keeps none. Default IDB_CHUNK_CACHE_BYTES. */
  chunkCacheBytes?: number;
}

/** Default bound of the committed chunks kept in memory: a file read back soon after it was written costs no request. */
export const IDB_CHUNK_CACHE_BYTES = 16 * 1024 * 1024;

const STORES: StoreName[] = ["inodes", "entries", "chunks", "meta", "internal"];

/** The database name behind a store name (kept apart from the OPFS store's metadata). */
export function indexedDBStoreDbName(name: string): string {
  return `worker9p-idb:${name}`;
}

/** Most chunks fetched ahead in one request. */
const MAX_WINDOW = 8;
/** Files whose read pattern is remembered across transactions. */
const HINTS = 64;

/**
 * Where the last transaction that read a file stopped, and how many
 * consecutive chunks it read: a 9P client reading a file sequentially issues
 * one transaction per Tread, each reading the next few chunks.
 */
interface ReadHint {
  next: number;
  run: number;
}

/**
 * Remembers read patterns for a bounded number of files (a Map's insertion
 * order is the LRU order), so memory stays constant.
 */
export class ReadHints {
  private readonly hints = new Map<number, ReadHint>();
  get(ino: number): ReadHint | undefined {
    return this.hints.get(ino);
  }
  set(ino: number, hint: ReadHint): void {
    this.hints.delete(ino);
    this.hints.set(ino, hint);
    if (this.hints.size > HINTS) this.hints.delete(this.hints.keys().next().value!);
  }
}

class IdbStoreTx extends MetadataOps implements StoreTx {
  /** Chunk reads issued ahead of a sequential reader, by "ino:index". */
  private readonly prefetched = new Map<string, Promise<Uint8Array | undefined>>();
  /** Per file read in this transaction: next expected index and consecutive chunks read so far. */
  private readonly runs = new Map<number, ReadHint>();

  /** A writer's own chunk changes, for its own reads and, at its commit, the committed chunks. */
  readonly ownChunks = new OwnChunks();
  /** The committed records' version when this transaction began: a reader keeps what it read only if it is still that. */
  private readonly since: number;

  constructor(
    tx: AnyTx | (() => AnyTx),
    private readonly chunkSize: number,
    private readonly hints: ReadHints,
    private readonly cache?: CommittedChunks,
    committed?: { records: CommittedRecords; writer: boolean },
  ) {
    super(tx, committed);
    this.since = committed?.records.version ?? -1;
  }

  /**
   * The file-system layer reads a file's chunks one awaited call at a time,
   * which would cost one round trip to the browser process per chunk. When
   * the access is sequential — the previous transaction stopped right here,
   * or this one just read the chunk before — the next chunks are fetched in
   * one getAll (with getAllKeys to place holes), sized like the previous
   * transaction's run, so a sequential 512 KiB read costs about what one
   * 512 KiB get does. Random reads fetch only what they ask for.
   */
  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    const k = `${ino}:${index}`;
    const view = this.committedView;
    if (view?.writer) {
      const own = this.ownChunks.get(ino, index);
      if (own !== undefined) return own ?? undefined;
    }
    // Committed bytes at hand (a reader: under invariant 1, like the records).
    const known = view ? this.cache?.get(ino, index) : undefined;
    if (known) {
      if (!view!.writer) this.memoryReads++;
      this.prefetched.delete(k);
      this.advance(ino, index);
      return known;
    }
    let p = this.prefetched.get(k);
    if (p) this.prefetched.delete(k);
    const run = this.runs.get(ino);
    let window = 1;
    if (!p) {
      if (run && run.next === index) window = Math.min(MAX_WINDOW, Math.max(2, run.run));
      else if (!run) {
        const hint = this.hints.get(ino);
        if (hint && hint.next === index && hint.run > 1) window = Math.min(MAX_WINDOW, hint.run);
      }
      p = window > 1 ? this.fetchWindow(ino, index, window) : this.fetch(ino, index);
    }
    this.advance(ino, index);
    const data = await p;
    // A reader keeps what it read when no commit landed since it began (invariant 1): it is committed state.
    const records = this.committedView?.records;
    if (data && this.cache && records && !this.committedView!.writer && records.version === this.since) this.cache.remember(ino, index, data);
    return data;
  }

  /** The read pattern after reading chunk `index` of `ino`. */
  private advance(ino: number, index: number): void {
    const run = this.runs.get(ino);
    const next: ReadHint = run && run.next === index ? { next: index + 1, run: run.run + 1 } : { next: index + 1, run: 1 };
    this.runs.set(ino, next);
    this.hints.set(ino, next);
  }

  async countChunks(ino: number, from: number, to: number): Promise<number> {
    if (to <= from) return 0;
    // Writes issued by this transaction are already visible to its own requests.
    return req(this.store("chunks").count(IDBKeyRange.bound([ino, from], [ino, to], false, true)));
  }

  private fetch(ino: number, index: number): Promise<Uint8Array | undefined> {
    const p = req(this.store("chunks").get([ino, index])) as Promise<Uint8Array | undefined>;
    // A prefetch nobody asks for must not surface as an unhandled rejection.
    p.catch(() => {});
    return p;
  }

  /** Fetch chunks [index, index + n) in one round trip; the others wait in `prefetched`. */
  private fetchWindow(ino: number, index: number, n: number): Promise<Uint8Array | undefined> {
    const store = this.store("chunks");
    const range = IDBKeyRange.bound([ino, index], [ino, index + n - 1]);
    const both = Promise.all([req(store.getAll(range, n)), req(store.getAllKeys(range, n))]).then(([values, keys]) => {
      const m = new Map<number, Uint8Array>();
      keys.forEach((key, i) => m.set((key as [number, number])[1], values[i] as Uint8Array));
      return m;
    });
    both.catch(() => {});
    for (let i = index + 1; i < index + n; i++) {
      const pk = `${ino}:${i}`;
      if (this.prefetched.has(pk)) continue;
      const one = both.then((m) => m.get(i));
      one.catch(() => {});
      this.prefetched.set(pk, one);
    }
    return both.then((m) => m.get(index));
  }

  /** A write makes prefetched reads of that inode stale (they were issued before it). */
  private changed(ino: number): void {
    if (this.prefetched.size === 0) return;
    for (const k of [...this.prefetched.keys()]) if (k.startsWith(`${ino}:`)) this.prefetched.delete(k);
  }

  async putChunk(ino: number, index: number, data: Uint8Array): Promise<void> {
    if (data.length > this.chunkSize) throw new RangeError(`chunk of ${data.length} bytes exceeds chunkSize ${this.chunkSize}`);
    this.changed(ino);
    this.writes++;
    const stored = ownBytes(data);
    this.store("chunks").put(stored, [ino, index]);
    this.ownChunks.put(ino, index, stored);
  }
  async deleteChunk(ino: number, index: number): Promise<void> {
    this.changed(ino);
    this.writes++;
    this.store("chunks").delete([ino, index]);
    this.ownChunks.put(ino, index, null);
  }
  async deleteChunksFrom(ino: number, from: number): Promise<void> {
    this.changed(ino);
    this.writes++;
    this.store("chunks").delete(chunkRange(ino, from));
    this.ownChunks.cut(ino, from);
  }
}

export class IndexedDBStore implements Store {
  readonly kind = "indexeddb";
  /**
   * put() structured-clones the value at once. The chunk caches (OwnChunks, CommittedChunks) keep
   * what ownBytes made of it: a copy of any view, so a view of a lent frame (frame-pool.ts, R2) is
   * never kept; only a buffer handed over whole is, and putChunk's caller gives up such a buffer.
   */
  readonly keepsChunkBuffers = false;
  readonly chunkSize: number;
  private readonly db: WorkerDb;
  private readonly raw: IDBDatabase;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly hints = new ReadHints();
  private readonly records = new CommittedRecords();
  private readonly chunks: CommittedChunks | undefined;
  /** Writers' IndexedDB transactions open (0 or 1): while one is, a reader opening its own would see past the records (invariant 1). */
  private writeTxOpen = 0;
  /** Writers one at a time, committed in batches (WriterBatcher), reading committed inode and meta records from memory. */
  private readonly writers = new WriterBatcher<IdbStoreTx>((body, options) => {
    this.writeTxOpen++;
    return runIdbTransaction(this.raw, STORES, "readwrite", options, (tx) => {
      const x = new IdbStoreTx(tx, this.chunkSize, this.hints, this.chunks, { records: this.records, writer: true });
      x.prefetchEntries(options.prefetchEntries);
      return x;
    }, body, {
      beforeCommit: async (x) => {
        x.flushOwn();
        // Chromium syncs a strict transaction's writes, and one with none is not synced at all
        // (it costs what a relaxed one does): a Tfsync that changed nothing must still write for
        // the relaxed commits before it to reach the disk.
        if (options.durable && x.writes === 0) x.store("internal").put(Date.now(), "synced");
      },
      onCommit: (x) => {
        this.records.apply(x.ownInodes, x.ownMeta, x.ownEntries);
        this.chunks?.apply(x.ownChunks);
      },
      onDesync: () => {
        this.records.clear();
        this.chunks?.clear();
      },
    }).finally(() => {
      this.writeTxOpen--;
    });
  });

  private constructor(db: WorkerDb, chunkSize: number, chunkCacheBytes: number) {
    this.db = db;
    this.raw = unwrap(db);
    this.chunkSize = chunkSize;
    this.chunks = chunkCacheBytes > 0 ? new CommittedChunks(chunkCacheBytes) : undefined;
  }

  /** Open the store called `name`, creating it if it does not exist. Reads one record, however big the tree. */
  static async open(name: string, options: IndexedDBStoreOptions = {}): Promise<IndexedDBStore> {
    let store: IndexedDBStore | undefined;
    const db = await openWorkerDb(indexedDBStoreDbName(name), false, () => {
      if (store) store.closed = true;
    });
    try {
      const tx = db.transaction("internal", "readwrite");
      const format = await openFormat(tx, name, "indexeddb", options.chunkSize ?? IDB_DEFAULT_CHUNK_SIZE);
      await tx.done;
      store = new IndexedDBStore(db, format.chunkSize, options.chunkCacheBytes ?? IDB_CHUNK_CACHE_BYTES);
      return store;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Delete a store's database (it must not be open). */
  static async destroy(name: string): Promise<void> {
    await deleteDB(indexedDBStoreDbName(name));
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error("IndexedDB store is closed"));
    const p = mode === "readonly" ? this.read(body, options) : this.writers.run(body, options);
    this.inflight.add(p);
    const forget = (): void => {
      this.inflight.delete(p);
    };
    p.then(forget, forget);
    return p;
  }

  /**
   * A reader, answered from the committed records as far as they go, opening
   * an IndexedDB transaction only at its first miss (invariant 1).
   *
   * Invariant 1: a reader sees one committed state. The committed records
   * are one: they change only when a writer's IndexedDB transaction
   * completes. An IndexedDB readonly transaction opened while no readwrite
   * one is open sees the same state until it ends (IndexedDB holds later
   * writers back), so a reader that opened it then may go on mixing the
   * two. One that must open it while a writer's transaction is open would
   * see that writer's commit, the records not: if it has read nothing from
   * memory yet it reads only IndexedDB from then on; else it is run again
   * on IndexedDB alone (Store: a body may run more than once).
   */
  private async read<T>(body: (tx: StoreTx) => Promise<T>, options: TxOptions | undefined): Promise<T> {
    const signal = options?.signal;
    if (signal?.aborted) throw abortError();
    const since = this.records.version;
    let opened: IDBTransaction | undefined;
    let mixed = false;
    const x: IdbStoreTx = new IdbStoreTx(
      () => {
        if (this.writeTxOpen > 0 || this.records.version !== since) {
          if (x.memoryReads > 0) {
            mixed = true;
            throw new Error("reader must run again on IndexedDB alone");
          }
          x.forgetCommitted();
        }
        opened = this.raw.transaction(STORES, "readonly");
        return opened;
      },
      this.chunkSize,
      this.hints,
      this.chunks,
      { records: this.records, writer: false },
    );
    const onAbort = (): void => {
      try {
        opened?.abort();
      } catch {
        // Finished already: its answers are in.
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await body(x) };
    } catch (error) {
      outcome = { error };
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    // Whatever the body made of the refusal (it may have caught it), this run does not count.
    if (mixed) {
      return runIdbTransaction(this.raw, STORES, "readonly", options, (tx) => new IdbStoreTx(tx, this.chunkSize, this.hints), body);
    }
    if (signal?.aborted) throw abortError();
    if ("error" in outcome) throw outcome.error;
    // A readonly transaction has nothing to commit: its answers are all in, so its complete event is not awaited.
    return outcome.value;
  }

  async usage(): Promise<StoreUsage> {
    return estimateUsage("indexedDB");
  }

  /** Waits for transactions in flight, then closes the database connection. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.inflight]);
    this.db.close();
  }
}
