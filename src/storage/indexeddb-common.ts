/**
 * What the IndexedDB store and the OPFS store (whose metadata lives in
 * IndexedDB) share: the schema, record normalisation, the inode/entry/meta
 * half of StoreTx, and the transaction driver that maps IndexedDB's
 * commit/abort behaviour onto the Store contract.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction } from "idb";
import { Errno, FsError, abortError, isQuotaError } from "../protocol/errno.js";
import type { CommittedRecords } from "./committed-records.js";
import type { EntryKey, EntryRecord, InodeRecord, TxMode, TxOptions, XattrList } from "./store.js";

/** Where an OPFS store keeps a chunk: a slot of its data file, or (small chunks) inline. */
export interface ChunkRef {
  /** The record's own key again, so a range read (getAll) knows which chunk each record is. */
  ino: number;
  index: number;
  /** Slot number in the data file; -1 when the bytes are inline. */
  slot: number;
  len: number;
  /** Inline bytes, for chunks too small to deserve a slot. */
  data?: Uint8Array;
}

export interface FormatRecord {
  version: number;
  kind: string;
  chunkSize: number;
}

export interface WorkerStoreSchema extends DBSchema {
  inodes: { key: number; value: InodeRecord };
  /** Keyed [dir, name]; the byCookie index serves listEntries in cookie order. */
  entries: { key: [number, string]; value: EntryRecord; indexes: { byCookie: [number, number] } };
  /** Keyed [ino, index]: the bytes (IndexedDB store) or a ChunkRef (OPFS store). */
  chunks: { key: [number, number]; value: Uint8Array | ChunkRef };
  meta: { key: string; value: unknown };
  /** The store's own bookkeeping (format, OPFS slot high-water mark); not visible through getMeta. */
  internal: { key: string; value: unknown };
  /** OPFS store only: free slots of the data file, by slot number. */
  free: { key: number; value: 1 };
}

export type StoreName = "inodes" | "entries" | "chunks" | "meta" | "internal" | "free";
/**
 * Transactions run on the raw IndexedDB objects (the `idb` wrapper is used
 * to open, upgrade and delete databases, and off the hot path): its per
 * request proxies and promises measured ~0.1 ms per request in a worker on
 * this machine kind, a third of a whole small transaction.
 */
export type AnyTx = IDBTransaction;
export type WorkerDb = IDBPDatabase<WorkerStoreSchema>;

/** A request as a promise (onsuccess/onerror properties: cheaper than listeners). */
export function req<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/**
 * The store's format record, written with `chunkSize` when the store is new
 * (inside `tx`, which the caller commits). Rejects a store of another kind or
 * format version, naming `name`.
 */
export async function openFormat(
  tx: IDBPTransaction<WorkerStoreSchema, ["internal"], "readwrite">,
  name: string,
  kind: "indexeddb" | "opfs",
  chunkSize: number,
): Promise<FormatRecord> {
  const found = (await tx.store.get("format")) as FormatRecord | undefined;
  if (found) {
    if (found.version !== FORMAT_VERSION || found.kind !== kind) {
      throw new Error(`${kind === "opfs" ? "OPFS" : "IndexedDB"} store ${name} has format ${found.kind} v${found.version}, expected ${kind} v${FORMAT_VERSION}`);
    }
    return found;
  }
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new RangeError(`bad chunk size ${chunkSize}`);
  const format: FormatRecord = { version: FORMAT_VERSION, kind, chunkSize };
  await tx.store.put(format, "format");
  return format;
}

/** A transaction's outcome as a promise: resolves on complete, rejects with its error on abort. */
export function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
    // A failed request also aborts the transaction: the abort reports it.
    tx.onerror = () => {};
  });
}

export const FORMAT_VERSION = 1;
const DB_VERSION = 1;

/**
 * Open (creating if needed) the database behind a store. `withFree` adds the
 * OPFS free-slot store. Only the schema is touched: nothing is read, so
 * opening a store of any size costs the same.
 */
export async function openWorkerDb(name: string, withFree: boolean, onTerminated: () => void): Promise<WorkerDb> {
  const db = await openDB<WorkerStoreSchema>(name, DB_VERSION, {
    upgrade(db) {
      db.createObjectStore("inodes", { keyPath: "ino" });
      const entries = db.createObjectStore("entries", { keyPath: ["dir", "name"] });
      entries.createIndex("byCookie", ["dir", "cookie"]);
      db.createObjectStore("chunks");
      db.createObjectStore("meta");
      db.createObjectStore("internal");
      if (withFree) db.createObjectStore("free");
    },
    blocked() {
      // Another connection (a worker of the page before a reload, still being
      // torn down) holds an older version; the open proceeds once it closes.
    },
    blocking() {
      // Someone wants to delete or upgrade the database: let them. Later
      // transactions of this store fail with InvalidStateError.
      db.close();
      onTerminated();
    },
    terminated: onTerminated,
  });
  return db;
}

/**
 * Structured clone copies a view's whole underlying buffer, so a 4 KiB
 * subarray of a 1 MiB 9P frame would be stored as 1 MiB. Copy such views.
 */
export function ownBytes(data: Uint8Array): Uint8Array {
  const shared = typeof SharedArrayBuffer === "function" && data.buffer instanceof SharedArrayBuffer;
  if (!shared && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength) return data;
  return data.slice();
}

export function normalizeInode(rec: InodeRecord): InodeRecord {
  if (!rec.xattrs || rec.xattrs.every(([, v]) => ownBytes(v) === v)) return rec;
  return { ...rec, xattrs: rec.xattrs.map(([k, v]) => [k, ownBytes(v)] as [string, Uint8Array]) };
}

/** Strict key ranges need a finite upper bound; Infinity is a valid IndexedDB number key. */
export function chunkRange(ino: number, from: number): IDBKeyRange {
  return IDBKeyRange.bound([ino, from], [ino, Infinity]);
}

/**
 * The inode, entry and meta methods of StoreTx, identical for both
 * IndexedDB-backed stores.
 *
 * Write requests are issued and not waited for. IndexedDB runs a
 * transaction's requests in order, so later reads see the write; a failing
 * write aborts the transaction, and transaction() rejects with its error.
 * Not waiting saves one round trip to the browser process per write.
 */
export class MetadataOps {
  private readonly stores = new Map<StoreName, IDBObjectStore>();
  /** A writer's own inode and meta changes (null: deleted), read back before the committed records. */
  readonly ownInodes = new Map<number, InodeRecord | null>();
  readonly ownMeta = new Map<string, unknown>();
  /** Writes issued so far (WriterBatcher: a body that failed before writing has nothing to undo). */
  writes = 0;
  /** Entries this transaction has looked up or changed (null: none), by entryKey. */
  private readonly entries = new Map<string, EntryRecord | null>();
  /** The entries it changed, for the committed records. */
  readonly ownEntries = new Map<string, EntryRecord | null>();
  /** Lookups issued ahead (prefetchEntries), by entryKey, until a getEntry takes them. */
  private readonly entriesAhead = new Map<string, Promise<EntryRecord | undefined>>();

  /** Reads answered from memory, records or chunks (a reader that then needs IndexedDB checks it may mix the two). */
  memoryReads = 0;
  private opened: AnyTx | undefined;
  private readonly open: (() => AnyTx) | undefined;

  /**
   * `tx`: the IndexedDB transaction, or how to open it at the first request
   * (a reader answered from memory needs none).
   * `committed`: the store's committed records and how this transaction may
   * use them. A writer (writers run one at a time: WriterBatcher) reads them
   * as exact and adds what it reads from IndexedDB; the store applies
   * ownInodes/ownEntries/ownMeta when it commits. A reader uses them only
   * under IndexedDB invariant 1 (indexeddb.ts) and adds only what no commit
   * raced.
   */
  constructor(
    tx: AnyTx | (() => AnyTx),
    private committed?: { records: CommittedRecords; writer: boolean },
  ) {
    if (typeof tx === "function") this.open = tx;
    else this.opened = tx;
  }

  /** The committed records this transaction may read, and whether it is the writer (undefined: IndexedDB only). */
  protected get committedView(): { records: CommittedRecords; writer: boolean } | undefined {
    return this.committed;
  }

  get tx(): AnyTx {
    return (this.opened ??= this.open!());
  }

  /** From now on, read only IndexedDB (a reader whose transaction opened after a commit it cannot see in memory). */
  forgetCommitted(): void {
    this.committed = undefined;
  }

  private get records(): CommittedRecords | undefined {
    return this.committed?.writer ? this.committed.records : undefined;
  }

  store(name: StoreName): IDBObjectStore {
    let s = this.stores.get(name);
    if (!s) {
      s = this.tx.objectStore(name);
      this.stores.set(name, s);
    }
    return s;
  }

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const own = this.ownInodes.get(ino);
    if (own !== undefined) return own ?? undefined;
    const c = this.committed;
    const known = c?.records.inode(ino);
    if (known !== undefined) {
      this.memoryReads++;
      return known ?? undefined;
    }
    const since = c?.records.version ?? 0;
    const rec = (await req(this.store("inodes").get(ino))) as InodeRecord | undefined;
    // Unless this writer changed it meanwhile, that is the committed record.
    if (c?.writer && !this.ownInodes.has(ino)) c.records.rememberInode(ino, rec ?? null);
    else if (c && !c.writer) c.records.rememberInodeIf(since, ino, rec ?? null);
    return rec;
  }
  // A writer's inode and meta changes are kept in ownInodes/ownMeta (where its reads look first)
  // and issued once per record by flushOwn before the commit: a batch of creates in one directory
  // changes the directory's inode and the inode counter once per create, and IndexedDB's cost
  // is per request.
  async putInode(rec: InodeRecord): Promise<void> {
    const stored = normalizeInode(rec);
    this.writes++;
    if (this.records) this.ownInodes.set(rec.ino, stored);
    else this.store("inodes").put(stored);
  }
  async deleteInode(ino: number): Promise<void> {
    this.writes++;
    if (this.records) this.ownInodes.set(ino, null);
    else this.store("inodes").delete(ino);
  }
  /** Issue the inode and meta changes putInode/deleteInode/putMeta kept back (DriverHooks.beforeCommit). */
  flushOwn(): void {
    if (!this.records) return;
    for (const [ino, rec] of this.ownInodes) {
      if (rec) this.store("inodes").put(rec);
      else this.store("inodes").delete(ino);
    }
    for (const [key, value] of this.ownMeta) this.store("meta").put(value, key);
  }
  /**
   * Issue lookups of entries the bodies will ask for, all at once, before any
   * body runs (TxOptions.prefetchEntries). They read the state this
   * transaction started from; a getEntry after this transaction wrote the
   * name answers from its own write instead (`entries` is asked first).
   *
   * A directory not known whole is read whole when it is small (one getAll
   * of at most DIR_LOAD entries): a create's "is the name free?" is then
   * answered from memory for every later name in it (CommittedRecords.rememberDir).
   */
  prefetchEntries(keys: readonly EntryKey[] | undefined): void {
    const records = this.records;
    const loads = new Map<number, Promise<EntryRecord[] | undefined>>();
    for (const [dir, name] of keys ?? []) {
      const k = entryKey(dir, name);
      if (this.entriesAhead.has(k) || this.entries.has(k) || this.committed?.records.entry(k, dir) !== undefined) continue;
      let p: Promise<EntryRecord | undefined>;
      if (records && !records.isLarge(dir)) {
        let load = loads.get(dir);
        if (!load) {
          load = this.loadDir(records, dir);
          loads.set(dir, load);
        }
        p = load.then((all) => (all ? all.find((e) => e.name === name) : (req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>)));
      } else {
        p = req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>;
      }
      // A lookup nobody takes (its writer left the batch) must not surface as an unhandled rejection.
      p.catch(() => {});
      this.entriesAhead.set(k, p);
    }
  }
  /** All of `dir`'s committed entries, remembered whole; undefined when there are more than DIR_LOAD. */
  private async loadDir(records: CommittedRecords, dir: number): Promise<EntryRecord[] | undefined> {
    // Issued before any body wrote: what IndexedDB answers is the committed state. Names are strings, and every string key sorts below an array key.
    const all = (await req(this.store("entries").getAll(IDBKeyRange.bound([dir, ""], [dir, []]), DIR_LOAD + 1))) as EntryRecord[];
    if (all.length > DIR_LOAD) {
      records.markLarge(dir);
      return undefined;
    }
    records.rememberDir(dir, all.map((e) => [entryKey(e.dir, e.name), e]));
    return all;
  }
  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    // The same name is often looked up twice in one operation (Tlcreate: does it exist, then
    // insert it): the second answer costs no round trip.
    const k = entryKey(dir, name);
    const seen = this.entries.get(k);
    if (seen !== undefined) return seen ?? undefined;
    const c = this.committed;
    const known = c?.records.entry(k, dir);
    if (known !== undefined) {
      this.memoryReads++;
      return known ?? undefined;
    }
    const since = c?.records.version ?? 0;
    const issued = this.entriesAhead.get(k);
    this.entriesAhead.delete(k);
    const e = await (issued ?? (req(this.store("entries").get([dir, name])) as Promise<EntryRecord | undefined>));
    // A put or delete of this name issued meanwhile already set what this transaction sees.
    if (!this.entries.has(k)) {
      this.entries.set(k, e ?? null);
      if (c?.writer) c.records.rememberEntry(k, e ?? null);
      else c?.records.rememberEntryIf(since, k, e ?? null);
    }
    return e;
  }
  async putEntry(entry: EntryRecord): Promise<void> {
    // Copy to a plain record: callers may pass objects with extra fields.
    const { dir, name, ino, cookie, dtype } = entry;
    const rec = { dir, name, ino, cookie, dtype };
    this.writes++;
    this.store("entries").put(rec);
    this.entries.set(entryKey(dir, name), rec);
    if (this.records) this.ownEntries.set(entryKey(dir, name), rec);
  }
  async deleteEntry(dir: number, name: string): Promise<void> {
    this.writes++;
    this.store("entries").delete([dir, name]);
    this.entries.set(entryKey(dir, name), null);
    if (this.records) this.ownEntries.set(entryKey(dir, name), null);
  }
  async listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    // getAll's count 0 means "no limit" in IndexedDB, the opposite of what the caller asked.
    if (!(limit > 0)) return [];
    const range = IDBKeyRange.bound([dir, after], [dir, Infinity], true, false);
    return req(this.store("entries").index("byCookie").getAll(range, Math.min(limit, 2 ** 32 - 1))) as Promise<EntryRecord[]>;
  }
  // Extended attributes live in the meta object store under a key getMeta's callers never use,
  // and bypass the committed records: they can be large, and only xattr operations read them.
  async getXattrs(ino: number): Promise<XattrList | undefined> {
    return (await req(this.store("meta").get(xattrKey(ino)))) as XattrList | undefined;
  }
  async putXattrs(ino: number, list: XattrList | undefined): Promise<void> {
    this.writes++;
    if (list && list.length > 0) this.store("meta").put(list.map(([k, v]) => [k, ownBytes(v)]), xattrKey(ino));
    else this.store("meta").delete(xattrKey(ino));
  }
  async getMeta<T>(key: string): Promise<T | undefined> {
    if (this.ownMeta.has(key)) return this.ownMeta.get(key) as T | undefined;
    const known = this.records?.metaValue(key);
    if (known?.has) return known.value as T | undefined;
    const v = (await req(this.store("meta").get(key))) as T | undefined;
    if (this.records && !this.ownMeta.has(key)) this.records.rememberMeta(key, v);
    return v;
  }
  async putMeta<T>(key: string, value: T): Promise<void> {
    this.writes++;
    if (this.records) this.ownMeta.set(key, value);
    else this.store("meta").put(value, key);
  }
}

/** Entries of a directory read whole at its first lookup by a writer (MetadataOps.prefetchEntries); larger ones are looked up name by name. */
const DIR_LOAD = 256;

/** The meta key of an inode's extended attributes (a NUL keeps it apart from every getMeta key). */
export function xattrKey(ino: number): string {
  return `\0xattrs/${ino}`;
}

export function isXattrKey(key: string): boolean {
  return key.startsWith("\0xattrs/");
}

export function entryKey(dir: number, name: string): string {
  return `${dir}/${name}`;
}

export interface DriverHooks<X> {
  /**
   * After the body resolved, inside the same IndexedDB transaction: issue the
   * final requests (OPFS: write slots, record them). May await only requests
   * of `tx`. Throwing rolls back and rejects with that error.
   */
  beforeCommit?(x: X): Promise<void>;
  /** The IndexedDB transaction aborted (any reason): undo side effects outside it. */
  onRollback?(x: X): void;
  /** The IndexedDB transaction committed. */
  onCommit?(x: X): void;
  /**
   * The transaction may have committed part of a body whose outcome is
   * reported as a failure (a body that awaited something foreign): state the
   * store keeps in memory can no longer be trusted.
   */
  onDesync?(x: X): void;
}

/** Thrown by a store's own code inside a transaction when it must roll back with a specific error (e.g. ENOSPC from OPFS). */
export class RollbackError extends Error {
  constructor(readonly reason: unknown) {
    super("rollback");
  }
}

export function enospc(detail: string): FsError {
  return new FsError(Errno.ENOSPC, detail);
}

/**
 * Run a Store transaction as exactly one IndexedDB transaction.
 *
 * The outcome is decided by the IndexedDB transaction's own complete/abort
 * events, never by the body's promise alone: after a QuotaExceededError
 * abort, pending request callbacks may never fire and the body would hang.
 * Whatever caused an abort is remembered so the rejection names it: the
 * body's error, an AbortError for the signal, ENOSPC for quota.
 */
export function runIdbTransaction<T, X>(
  db: IDBDatabase,
  stores: StoreName[],
  mode: TxMode,
  options: TxOptions | undefined,
  makeTx: (tx: AnyTx) => X,
  body: (x: X) => Promise<T>,
  hooks: DriverHooks<X> = {},
): Promise<T> {
  const signal = options?.signal;
  if (signal?.aborted) return Promise.reject(abortError());
  let raw: IDBTransaction;
  try {
    raw =
      mode === "readwrite"
        ? db.transaction(stores, "readwrite", { durability: options?.durable ? "strict" : "relaxed" })
        : db.transaction(stores, "readonly");
  } catch (e) {
    // The connection is closing (e.g. another context deletes the database).
    return Promise.reject(e);
  }
  const x = makeTx(raw);

  return new Promise<T>((resolve, reject) => {
    type Cause = { kind: "signal" } | { kind: "error"; error: unknown };
    let cause: Cause | undefined;
    let bodyDone = false;
    let settled = false;
    let value: T;

    const cleanup = (): void => {
      settled = true;
      signal?.removeEventListener("abort", onSignal);
    };
    const abortWith = (c: Cause): void => {
      if (settled || cause) return;
      try {
        raw.abort();
        cause = c;
      } catch {
        // Already finishing: the complete or abort event decides.
      }
    };
    const onSignal = (): void => abortWith({ kind: "signal" });
    signal?.addEventListener("abort", onSignal, { once: true });

    raw.addEventListener("complete", () => {
      if (settled) return;
      cleanup();
      if (!bodyDone) {
        hooks.onDesync?.(x);
        reject(new Error("transaction committed before its body finished: a Store transaction body may await only its StoreTx's methods"));
        return;
      }
      try {
        hooks.onCommit?.(x);
      } catch {
        // Bookkeeping after the fact must not turn a commit into a failure.
      }
      resolve(value);
    });
    raw.addEventListener("abort", () => {
      if (settled) return;
      cleanup();
      try {
        hooks.onRollback?.(x);
      } catch {
        // Rollback of side effects is best effort; the transaction's outcome stands.
      }
      if (cause?.kind === "signal") reject(abortError());
      else if (cause?.kind === "error") {
        const e = cause.error instanceof RollbackError ? cause.error.reason : cause.error;
        reject(isQuotaError(e) ? enospc("storage quota exceeded") : e);
      } else if (isQuotaError(raw.error)) reject(enospc("storage quota exceeded"));
      else reject(raw.error ?? new Error("IndexedDB transaction aborted"));
    });
    // Request errors surface as the abort above; the error event itself needs no handling.
    raw.addEventListener("error", () => {});

    const onBodyError = (e: unknown): void => {
      if (settled || cause) return;
      // Even when a failed request is already aborting the transaction, the
      // body's error is the one to report.
      abortWith({ kind: "error", error: e });
      // abort() refused because the transaction is already aborting (its
      // error is set before its requests fail with AbortError, e.g. on
      // quota): the abort event, still to come, names the real cause.
      if (!cause && !settled && raw.error) return;
      if (!cause && !settled) {
        // abort() refused: the transaction finished without us (the body
        // awaited something foreign). Report the body's error.
        cleanup();
        hooks.onDesync?.(x);
        reject(e);
      }
    };

    let p: Promise<T>;
    try {
      p = body(x);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(async (v) => {
      if (settled || cause) return;
      value = v;
      if (hooks.beforeCommit) await hooks.beforeCommit(x);
      if (settled || cause) return;
      // IndexedDB commits by itself once the last request is done. An
      // explicit commit() measured no faster (slower for readonly
      // transactions), and without it a Tflush arriving now still wins.
      bodyDone = true;
    }).catch(onBodyError);
  });
}

/** Bytes used by this origin's IndexedDB or OPFS, and what is left for it. */
export async function estimateUsage(part: "indexedDB" | "fileSystem"): Promise<{ used: number; quota: number }> {
  const est = (await navigator.storage.estimate()) as StorageEstimate & { usageDetails?: Record<string, number> };
  const total = est.usage ?? 0;
  const quota = est.quota ?? 0;
  const used = est.usageDetails?.[part] ?? total;
  // The quota is the origin's, shared with everything else it stores: what
  // this store can still grow into is the origin's headroom.
  return { used, quota: used + Math.max(0, quota - total) };
}
