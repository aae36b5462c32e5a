/**
 * What the IndexedDB store and the OPFS store (whose metadata lives in
 * IndexedDB) share: the schema, record normalisation, and the transaction
 * driver that maps IndexedDB's commit/abort behaviour onto the Store
 * contract. The IndexedDB store's inode/entry/meta half of StoreTx is in
 * indexeddb-metadata.ts.
 */
import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction } from "idb";
import { Errno, FsError, abortError, isQuotaError } from "../protocol/errno.js";
import type { EntryRecord, InodeRecord, TxMode, TxOptions } from "./store.js";

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
