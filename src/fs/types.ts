import type { Attr, DirEntry, GetlockRequest, LockRequest, Qid, SetattrRequest, StatFs } from "../protocol/messages.js";

/**
 * What every file-system operation is handed by the server.
 * `signal` aborts the operation; an aborted operation rejects with an AbortError
 * and has had no effect at all (it never got to its commit).
 */
export interface OpContext {
  signal: AbortSignal;
  /** The last path component the fid was reached by ("" for the root); used for latency injection on `slow*` names. */
  name?: string;
  /**
   * The bytes handed to write() belong to this operation alone (a frame the
   * transport gave away): the fs may keep views of them instead of copying.
   */
  ownsData?: boolean;
  /**
   * With ownsData: the frame is only lent — its bytes are reused once this
   * operation settles (transport/frame-pool.ts, R2). Only a store that is done
   * with the bytes by its commit (keepsChunkBuffers false) may be given views.
   */
  dataLent?: boolean;
}

/** Who owns a POSIX byte-range lock: locks of one owner never conflict with each other. */
export interface LockOwner {
  session: number;
  clientId: string;
  procId: number;
}

export interface OpenResult {
  qid: Qid;
  iounit: number;
}

export interface CreateResult extends OpenResult {
  ino: number;
}

/** Where a file is: the directory holding it and its name there (the root: itself and ""). */
export interface Place {
  parent: number;
  name: string;
}

export interface WalkResult {
  /** One qid per name walked successfully. */
  qids: Qid[];
  /** The inode reached, when every name was walked (qids.length === names.length). */
  ino: number;
  /** The parent directory of `ino` and its name there, "." and ".." resolved (for Tremove, Trename and latency). */
  parent: number;
  name: string;
}

export interface FsckReport {
  ok: boolean;
  problems: string[];
}

/**
 * POSIX semantics on inodes, the way the Linux v9fs client expects them.
 * Inodes are named by number; the root is ROOT_INO.
 * Every method throws FsError(errno) for a POSIX failure.
 */
export interface FileSystemApi {
  readonly rootIno: number;

  /** Count a reference to `ino` (a fid now points at it). An inode with nlink 0 lives while references remain. */
  retain(ino: number): void;
  /** Drop a reference; the last one to an unlinked inode frees it (not abortable). */
  release(ino: number): Promise<void>;

  qid(ino: number, ctx: OpContext): Promise<Qid>;
  /**
   * Walk `names` from `ino`. `from` is the place of `ino` (a fid's parent and
   * name), so a walk that ends where it started ("." or "e/..") reports it.
   * Without it, a start other than the root is looked up in its parent.
   */
  walk(ino: number, names: string[], ctx: OpContext, from?: Place): Promise<WalkResult>;
  getattr(ino: number, ctx: OpContext): Promise<Attr>;
  setattr(ino: number, req: SetattrRequest, ctx: OpContext): Promise<void>;

  /** Tlopen: validates flags against the file type, applies O_TRUNC. */
  open(ino: number, flags: number, ctx: OpContext): Promise<OpenResult>;
  /**
   * Tlcreate: open(2) with O_CREAT semantics (O_EXCL → EEXIST when present, else opens it).
   * The caller owns one reference on the result's `ino` (taken before any other
   * request could unlink it) and must `release` it when done.
   */
  create(dir: number, name: string, flags: number, mode: number, uid: number, gid: number, ctx: OpContext): Promise<CreateResult>;

  /** Read up to dest.length bytes at offset into dest; returns the count (0 at or past EOF). Holes read as zeros. */
  readInto(ino: number, offset: number, dest: Uint8Array, ctx: OpContext): Promise<number>;
  /**
   * Read up to `count` bytes at offset as views of the stored chunks (no copy):
   * the parts, back to back, are the data. Callers must not modify them.
   */
  readParts(ino: number, offset: number, count: number, ctx: OpContext): Promise<Uint8Array[]>;
  /** Up to `count` bytes at `offset` into `alloc(n)`, n being what the file has there; returns n. */
  readFresh(ino: number, offset: number, count: number, alloc: (n: number) => Uint8Array, ctx: OpContext): Promise<number>;
  /** Write data at offset (or at end of file when `append`); returns the count written. */
  write(ino: number, offset: number, data: Uint8Array, append: boolean, ctx: OpContext): Promise<number>;

  mkdir(dir: number, name: string, mode: number, uid: number, gid: number, ctx: OpContext): Promise<Qid>;
  symlink(dir: number, name: string, target: string, uid: number, gid: number, ctx: OpContext): Promise<Qid>;
  mknod(dir: number, name: string, mode: number, major: number, minor: number, uid: number, gid: number, ctx: OpContext): Promise<Qid>;
  link(dir: number, name: string, target: number, ctx: OpContext): Promise<void>;
  readlink(ino: number, ctx: OpContext): Promise<string>;
  rename(oldDir: number, oldName: string, newDir: number, newName: string, ctx: OpContext): Promise<void>;
  /** unlinkat(2): flags may hold AT_REMOVEDIR. */
  unlink(dir: number, name: string, flags: number, ctx: OpContext): Promise<void>;

  /** Entries after cookie `offset` ("." and ".." first), at most `limit`. */
  readdir(ino: number, offset: number, limit: number, ctx: OpContext): Promise<DirEntry[]>;
  statfs(ctx: OpContext): Promise<StatFs>;
  fsync(ino: number, ctx: OpContext): Promise<void>;

  getxattr(ino: number, name: string, ctx: OpContext): Promise<Uint8Array>;
  /** Names NUL-terminated back to back, as listxattr(2) returns them. */
  listxattr(ino: number, ctx: OpContext): Promise<Uint8Array>;
  /** value null removes (ENODATA when absent). flags: XattrFlags CREATE/REPLACE. */
  setxattr(ino: number, name: string, value: Uint8Array | null, flags: number, ctx: OpContext): Promise<void>;

  /** Tlock: returns a LockStatus (never waits: BLOCKED when it conflicts). */
  lock(ino: number, owner: LockOwner, req: LockRequest): number;
  /** Resolves at the next change to `ino`'s locks; rejects with AbortError when `signal` aborts. */
  waitForLockChange(ino: number, signal: AbortSignal): Promise<void>;
  /** Tgetlock: the first conflicting lock, or the request with type UNLCK when none. */
  getlock(ino: number, owner: LockOwner, req: GetlockRequest): GetlockRequest;
  /** Drop every lock `owner` holds on `ino` (or on every inode when ino is undefined). */
  releaseLocks(owner: LockOwner, ino?: number): void;
  /** Drop every lock held by a session. */
  releaseSessionLocks(session: number): void;

  /** Check the tree's invariants (reachability, nlink counts, entry↔inode agreement, chunk counts). */
  fsck(signal?: AbortSignal): Promise<FsckReport>;
}
