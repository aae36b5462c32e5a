// Shared by the fs tests.
import { FsError } from "../protocol/errno.js";
import type { MemoryStore } from "../storage/memory.js";
import type { EntryRecord, InodeRecord, Store, StoreTx, StoreUsage, TxMode, TxOptions } from "../storage/store.js";
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
  getMeta<T>(key: string) { return this.tx.getMeta<T>(key); }
  putMeta<T>(key: string, value: T) { this.writes++; return this.tx.putMeta(key, value); }
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
  private gate: { opened: Promise<void>; open(): void } | undefined;
  private readonly batcher = new WriterBatcher<CountingTx>(async (body, options) => {
    await this.gate?.opened;
    await this.inner.transaction("readwrite", (tx) => body(new CountingTx(tx)), options);
  });

  constructor(readonly inner: MemoryStore) {
    this.chunkSize = inner.chunkSize;
    this.keepsChunkBuffers = inner.keepsChunkBuffers;
  }

  /** Writers submitted from now on wait, and then commit together (up to the batcher's batch size). */
  hold(): void {
    let open!: () => void;
    const opened = new Promise<void>((r) => (open = r));
    this.gate = { opened, open };
    // The batch now running waits at the gate, so everything after it queues for the next one.
    void this.batcher.run(async () => undefined);
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T> {
    if (mode === "readonly") return this.inner.transaction(mode, body, options);
    return this.batcher.run((x) => body(x), options);
  }

  usage(): Promise<StoreUsage> {
    return this.inner.usage();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
