// Shared by the fs tests.
import { FsError } from "../protocol/errno.js";
import type { MemoryStore } from "../storage/memory.js";
import type { EntryRecord, InodeRecord, Store, StoreTx, StoreUsage, TxMode, TxOptions, XattrList } from "../storage/store.js";
import { WriterBatcher, type CountsWrites } from "../storage/writer-batcher.js";

/** The errno a promise fails with (a test failure if it succeeds or fails otherwise). */
export async function errnoOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof FsError) return e.errno;
    throw e;
  }
  throw new Error("expected a failure");
}

/** A StoreTx that counts its writes, as the IndexedDB and OPFS transactions do for WriterBatcher. */
class CountingTx implements StoreTx, CountsWrites {
  writes = 0;
  constructor(private readonly tx: StoreTx) {}
  getInode(ino: number) { return this.tx.getInode(ino); }
  putInode(rec: InodeRecord) { this.writes++; return this.tx.putInode(rec); }
  deleteInode(ino: number) { this.writes++; return this.tx.deleteInode(ino); }
  getEntry(dir: number, name: string) { return this.tx.getEntry(dir, name); }
  putEntry(entry: EntryRecord) { this.writes++; return this.tx.putEntry(entry); }
  deleteEntry(dir: number, name: string) { this.writes++; return this.tx.deleteEntry(dir, name); }
  listEntries(dir: number, after: number, limit: number) { return this.tx.listEntries(dir, after, limit); }
  getChunk(ino: number, index: number) { return this.tx.getChunk(ino, index); }
  putChunk(ino: number, index: number, data: Uint8Array, isNew?: boolean) { this.writes++; return this.tx.putChunk(ino, index, data, isNew); }
  deleteChunk(ino: number, index: number) { this.writes++; return this.tx.deleteChunk(ino, index); }
  deleteChunksFrom(ino: number, from: number) { this.writes++; return this.tx.deleteChunksFrom(ino, from); }
  countChunks(ino: number, from: number, to: number) { return this.tx.countChunks(ino, from, to); }
  getXattrs(ino: number) { return this.tx.getXattrs(ino); }
  putXattrs(ino: number, list: XattrList | undefined) { this.writes++; return this.tx.putXattrs(ino, list); }
  getMeta<T>(key: string) { return this.tx.getMeta<T>(key); }
  putMeta<T>(key: string, value: T) { this.writes++; return this.tx.putMeta(key, value); }
}

interface Gate {
  opened: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

/**
 * A MemoryStore whose writers go through the WriterBatcher the IndexedDB and
 * OPFS stores use, with a gate a test closes and opens: writers submitted
 * while it is closed commit together in one batch when it opens, so the
 * interleavings a browser store produces under load are reproduced on cue.
 */
export class HeldBatchStore implements Store {
  readonly kind = "memory-batched";
  readonly chunkSize: number;
  readonly keepsChunkBuffers: boolean;
  private gate: Gate | undefined;
  private readerGate: Gate | undefined;
  private writerParked: Gate | undefined;
  private readonly batcher = new WriterBatcher<CountingTx>(async (body, options) => {
    await this.gate?.opened;
    await this.inner.transaction(
      "readwrite",
      async (tx) => {
        await body(new CountingTx(tx));
        const readers = this.readerGate;
        if (!readers) return;
        // IndexedDB commits a readwrite transaction only after the readonly ones created before it
        // have completed, and a completion is a task of its own: so do we.
        this.writerParked?.open();
        await readers.opened;
        await new Promise((r) => setTimeout(r, 0));
      },
      options,
    );
  });

  constructor(readonly inner: MemoryStore) {
    this.chunkSize = inner.chunkSize;
    this.keepsChunkBuffers = inner.keepsChunkBuffers;
  }

  /** Writers submitted from now on wait, and then commit together (up to the batcher's batch size). */
  hold(): void {
    this.gate = gate();
    // The batch now running waits at the gate, so everything after it queues for the next one.
    void this.batcher.run(async () => undefined);
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  /**
   * Readonly transactions from now on complete only at `releaseReaders`, after
   * their bodies read: meanwhile a writer body runs (as an IndexedDB store's
   * writer does, from its committed records in memory) but does not commit.
   * Resolves once a writer body has run and waits to commit.
   */
  holdReaders(): Promise<void> {
    this.readerGate = gate();
    this.writerParked = gate();
    return this.writerParked.opened;
  }

  releaseReaders(): void {
    this.readerGate?.open();
    this.readerGate = undefined;
  }

  async transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (mode === "readwrite") return this.batcher.run((x) => body(x), options);
    const readers = this.readerGate;
    const value = await this.inner.transaction(mode, body, options);
    await readers?.opened;
    return value;
  }

  usage(): Promise<StoreUsage> {
    return this.inner.usage();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A store that counts every StoreTx call, by method, and the entries listEntries hands back. */
export function countingStore(inner: MemoryStore): Store & { calls: Map<string, number>; reset(): void } {
  const calls = new Map<string, number>();
  const count = (k: string, n = 1) => calls.set(k, (calls.get(k) ?? 0) + n);
  const wrap = (tx: StoreTx): StoreTx =>
    new Proxy(tx, {
      get(target, prop) {
        const v: unknown = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        const fn = v as (...a: unknown[]) => unknown;
        return (...args: unknown[]) => {
          count(String(prop));
          const r = fn.apply(target, args);
          if (prop === "listEntries") void (r as Promise<unknown[]>).then((list) => count("entries listed", list.length));
          return r;
        };
      },
    });
  return {
    kind: inner.kind,
    chunkSize: inner.chunkSize,
    keepsChunkBuffers: inner.keepsChunkBuffers,
    calls,
    reset: () => calls.clear(),
    usage: () => inner.usage(),
    close: () => inner.close(),
    transaction: ((mode, body, options) => {
      count(`${mode} transactions`);
      return inner.transaction(mode, (tx) => body(wrap(tx)), options);
    }) as Store["transaction"],
  };
}
