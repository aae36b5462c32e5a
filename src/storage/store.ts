import type { Timespec } from "../protocol/messages.js";

/**
 * The contract every backend (memory, IndexedDB, OPFS) implements.
 *
 * Design constraints it is shaped by:
 *  - IndexedDB commits a transaction by itself as soon as the body awaits
 *    anything that is not one of the transaction's own requests. So a
 *    transaction body may await *only* StoreTx methods: no timers, no fetches,
 *    no other transactions. Latency injection and anything else slow happens
 *    before `transaction()` is called.
 *  - OPFS sync access handles are synchronous and cannot be interrupted
 *    mid-call, so aborting is checked between storage steps.
 *  - Either the whole body's effect is committed, or none of it is.
 */

export type TxMode = "readonly" | "readwrite";

export interface TxOptions {
  /** Aborting it rolls the transaction back and rejects with an AbortError — unless the commit already happened. */
  signal?: AbortSignal;
  /** Resolve only once the commit is on disk (Tfsync). Memory ignores it. */
  durable?: boolean;
  /**
   * Directory entries ([dir, name]) the body will look up. A store whose
   * lookups are round trips may fetch them all at once before the body runs
   * (IndexedDB: the writers of a batch then wait for one round trip, not one
   * each). A hint only: the body still calls getEntry, and sees its own writes.
   */
  prefetchEntries?: readonly EntryKey[];
}

/** A directory entry's key: its directory and its name. */
export type EntryKey = readonly [dir: number, name: string];

/** Readdir cookies 1 and 2 are "." and ".."; stored entries take cookies from 3 on. */
export const FIRST_COOKIE = 3;

export interface InodeRecord {
  ino: number;
  /** File type bits and permissions, as st_mode. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  size: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  btime: Timespec;
  /** Bumped on every change of data or metadata: qid.version and data_version. */
  version: number;
  /** Number of data chunks stored for this inode (holes are not stored): st_blocks derives from it. */
  chunks: number;
  /** Directories: the parent's ino (the root's is itself). 0 for others. */
  parent: number;
  /** Directories: the next readdir cookie to hand out; cookies 1 and 2 are "." and "..". */
  nextCookie: number;
  /** Symlinks: the target. */
  target?: string;
  /**
   * Extended attributes kept in the record itself: only records written
   * before `xattrBytes` existed have them. Read as a fallback; the next
   * change moves them out (StoreTx.putXattrs).
   */
  xattrs?: XattrList;
  /**
   * Bytes of names and values of this inode's extended attributes, which are
   * stored apart from the record (StoreTx.getXattrs) so that the record every
   * write clones and every cache holds stays small. Absent or 0: none.
   */
  xattrBytes?: number;
}

/** Extended attributes as [name, value] pairs (pairs, not an object, so any name is safe). */
export type XattrList = [string, Uint8Array][];

export interface EntryRecord {
  dir: number;
  name: string;
  ino: number;
  /** Stable readdir cookie, unique within `dir`, increasing in creation order. */
  cookie: number;
  /** d_type of the child, so readdir need not read every child's inode. */
  dtype: number;
}

export interface StoreTx {
  /** The caller must not modify the returned record (a backend may share it): put a new one instead. Same for entries. */
  getInode(ino: number): Promise<InodeRecord | undefined>;
  /** The store may keep `rec` itself (MemoryStore freezes it): the caller must not modify it afterwards. */
  putInode(rec: InodeRecord): Promise<void>;
  deleteInode(ino: number): Promise<void>;

  getEntry(dir: number, name: string): Promise<EntryRecord | undefined>;
  putEntry(entry: EntryRecord): Promise<void>;
  deleteEntry(dir: number, name: string): Promise<void>;
  /** Entries of `dir` whose cookie is greater than `after`, in cookie order, at most `limit`. */
  listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]>;

  /**
   * Chunk `index` of inode `ino` (bytes [index*chunkSize, (index+1)*chunkSize)).
   * May be shorter than chunkSize (the tail); undefined is a hole.
   * The caller must not modify the returned bytes.
   */
  getChunk(ino: number, index: number): Promise<Uint8Array | undefined>;
  /**
   * Optional: copy the bytes of chunk `index` from `within` on into `dest`
   * (at most dest.length) and say how many the chunk had there — fewer means
   * the rest reads as zeros, and the caller fills them; undefined is a hole.
   * Stores that can read straight into a reply frame (OPFS) offer it to save
   * a copy of every byte read.
   */
  readChunkInto?(ino: number, index: number, within: number, dest: Uint8Array): Promise<number | undefined>;
  /**
   * Optional: the length of chunk `index` without its bytes (undefined: a
   * hole). fsck checks lengths with it: a store whose bytes are far away (a
   * lazily fetched base image) answers without fetching.
   */
  chunkLength?(ino: number, index: number): Promise<number | undefined>;
  /**
   * The store takes ownership of `data` (the caller must not reuse it). Length ≤ chunkSize.
   * `isNew`: the caller knows no chunk is stored at this index (in this
   * transaction's view), so a store that would look up what it replaces
   * (OPFS: the slot to free) may skip that. Wrong, it would leak space.
   */
  putChunk(ino: number, index: number, data: Uint8Array, isNew?: boolean): Promise<void>;
  deleteChunk(ino: number, index: number): Promise<void>;
  /** Delete every chunk of `ino` with index ≥ `from`. */
  deleteChunksFrom(ino: number, from: number): Promise<void>;
  /**
   * How many chunks of `ino` are stored with index in [from, to). Must cost
   * what is stored, not the range: shrinking a huge sparse file asks for it.
   */
  countChunks(ino: number, from: number, to: number): Promise<number>;

  /**
   * An inode's extended attributes, stored apart from its record: only
   * xattr operations read them. undefined: none stored. The caller must not
   * modify the returned list or its values.
   */
  getXattrs(ino: number): Promise<XattrList | undefined>;
  /** Replace an inode's extended attributes; undefined deletes them. The store may keep `list` (the caller must not modify it). */
  putXattrs(ino: number, list: XattrList | undefined): Promise<void>;

  /** Small named values: counters such as the next inode number. */
  getMeta<T>(key: string): Promise<T | undefined>;
  putMeta<T>(key: string, value: T): Promise<void>;
}

export interface StoreUsage {
  /** Bytes in use by this store (data chunks, roughly, plus metadata). */
  used: number;
  /** Bytes this store may grow to (the origin quota in browsers, a configured limit in memory). */
  quota: number;
}

export interface Store {
  /** Which backend: "memory", "indexeddb", "opfs". */
  readonly kind: string;
  /** Fixed size of data chunks in bytes. */
  readonly chunkSize: number;
  /**
   * True when putChunk keeps the very buffer it is given for as long as the
   * chunk lives (memory). False when it copies or writes it out by the end of
   * the transaction (IndexedDB clones at put, OPFS writes at commit): then a
   * view of a request's own frame can be handed over without a copy.
   */
  readonly keepsChunkBuffers: boolean;
  /**
   * Run `body` atomically. A readwrite body may be run more than once (a store
   * that commits several writers together redoes the others when one of them
   * fails or is aborted): only the run that commits counts, so a body must not
   * leave effects outside the transaction that an earlier run would duplicate.
   * A readonly body may be run more than once too: the OPFS and IndexedDB
   * stores run a reader again when what it already read from memory may not
   * be the state its store transaction sees (OPFS invariant 7, IndexedDB
   * invariant 1); only the last run's value is returned.
   * Resolves with its value once committed; rejects with
   * the body's error (rolled back), with an AbortError if `options.signal`
   * aborted before the commit (rolled back), or with FsError(ENOSPC) when the
   * backend ran out of space (rolled back).
   */
  transaction<T>(mode: TxMode, body: (tx: StoreTx) => Promise<T>, options?: TxOptions): Promise<T>;
  usage(): Promise<StoreUsage>;
  close(): Promise<void>;
}
