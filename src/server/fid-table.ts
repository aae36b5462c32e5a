import { Errno, FsError } from "../protocol/errno.js";
import { NOFID } from "../protocol/constants.js";

/** What a fid stands for once it was opened with Tlopen/Tlcreate. */
export interface OpenState {
  flags: number;
  /** O_APPEND: every write goes to the end of the file, whatever its offset. */
  append: boolean;
  readable: boolean;
  writable: boolean;
}

/** Pending value of a fid turned into an xattr writer by Txattrcreate; applied at Tclunk (server/xattr-buffers.ts). */
export interface XattrWrite {
  name: string;
  flags: number;
  /** The value's size, as declared by Txattrcreate. */
  size: number;
  /** What has arrived so far: allocated as data arrives, never past `size`. */
  value: Uint8Array;
  /** Highest byte written so far: the value must be complete at clunk. */
  written: number;
}

export interface Fid {
  ino: number;
  /** Directory this fid was reached from and the name there (the root: itself and ""). */
  parent: number;
  name: string;
  isDir: boolean;
  /** uid of the attach this fid descends from: the owner of files it creates. */
  uid: number;
  open?: OpenState;
  /** Txattrwalk result, read back with Tread. */
  xattrRead?: Uint8Array;
  xattrWrite?: XattrWrite;
  /** Lock owners (clientId/procId) that took locks through this fid, released at clunk. */
  lockOwners?: Map<string, { clientId: string; procId: number }>;
}

/**
 * The fids of one session. Bounded so a client cannot grow the server's
 * memory without limit: past `limit` new fids fail with EMFILE.
 */
export class FidTable {
  private readonly fids = new Map<number, Fid>();
  constructor(readonly limit: number) {}

  get size(): number {
    return this.fids.size;
  }

  get(fid: number): Fid {
    const f = this.fids.get(fid);
    if (!f) throw new FsError(Errno.EBADF, `unknown fid ${fid}`);
    return f;
  }

  has(fid: number): boolean {
    return this.fids.has(fid);
  }

  /** Throws unless `fid` is free to be created. */
  checkFree(fid: number): void {
    if (fid === NOFID) throw new FsError(Errno.EBADF, "NOFID cannot name a fid");
    if (this.fids.has(fid)) throw new FsError(Errno.EBADF, `fid ${fid} already in use`);
    if (this.fids.size >= this.limit) throw new FsError(Errno.EMFILE, `more than ${this.limit} fids`);
  }

  /** Set a fid, replacing any previous one (callers check freedom first). */
  set(fid: number, state: Fid): void {
    this.fids.set(fid, state);
  }

  delete(fid: number): Fid | undefined {
    const f = this.fids.get(fid);
    this.fids.delete(fid);
    return f;
  }

  /** Remove and return every fid (Tversion, disconnect). */
  drain(): Fid[] {
    const all = [...this.fids.values()];
    this.fids.clear();
    return all;
  }

  values(): IterableIterator<Fid> {
    return this.fids.values();
  }
}
