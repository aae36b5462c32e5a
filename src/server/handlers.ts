import { AT_REMOVEDIR, LockFlags, LockStatus, LockType, Mode, NOFID, OpenFlags, QidType } from "../protocol/constants.js";
import { Errno, FsError, isCancellation } from "../protocol/errno.js";
import type { RMessage, TMessage, TOf, Qid } from "../protocol/messages.js";
import { allocRread, encodeDirEntries, encodeRreadHead, finishRread, type FrameAlloc } from "../protocol/codec.js";
import type { FileSystemApi, LockOwner, OpContext } from "../fs/types.js";
import { XATTR_SIZE_MAX } from "../fs/constants.js";
import type { Fid, FidTable, OpenState } from "./fid-table.js";
import { finishedXattrValue, holdXattrValue, newXattrWrite, releaseXattrBuffers, writeXattr } from "./xattr-buffers.js";

/** What a handler may touch: one session's state and the shared tree. */
export interface HandlerScope {
  readonly fs: FileSystemApi;
  readonly fids: FidTable;
  readonly sessionId: number;
  readonly msize: number;
  /**
   * The transport writes a reply given as parts without joining them (a
   * stream's writev): Rread then carries views of the stored chunks. Else one
   * frame is filled in place, by the store itself where it can (OPFS).
   */
  readonly sendsParts: boolean;
  /** Where a reply frame filled in place is built (the transport's recycled buffers); default fresh. */
  readonly alloc: FrameAlloc | undefined;
  /** After a rename, every session's fids naming the old place now name the new one. */
  renamed(oldDir: number, oldName: string, newDir: number, newName: string): void;
  /** A failure nobody waits for (freeing an unlinked file in the background). */
  report(err: unknown): void;
}

/** A handler's result: a reply message, a frame it encoded itself, or a frame as parts (Rread without copying the data). */
export type HandlerResult = RMessage | Uint8Array | Uint8Array[];

/** `lent`: the request's frame is reused by the transport once the request completes (transport/frame-pool.ts, R1). */
type Handler<K extends TMessage["type"]> = (s: HandlerScope, m: TOf<K>, signal: AbortSignal, lent: boolean) => Promise<HandlerResult>;

const RREAD_HEADER = 11;
const RREADDIR_HEADER = 11;
/** Size of a dirent without its name: qid[13] offset[8] type[1] name-length[2]. */
const DIRENT_FIXED = 24;
const READDIR_MAX_ENTRIES = 4096;

function ctxOf(fid: Fid, signal: AbortSignal): OpContext {
  return { signal, name: fid.name };
}

function isDirQid(q: Qid): boolean {
  return (q.type & QidType.DIR) !== 0;
}

/** A fid that names a file-system node (not an xattr buffer). */
function nodeFid(s: HandlerScope, fid: number): Fid {
  const f = s.fids.get(fid);
  if (f.xattrRead || f.xattrWrite) throw new FsError(Errno.EBADF, `fid ${fid} is an xattr fid`);
  return f;
}

function dirFid(s: HandlerScope, fid: number): Fid {
  const f = nodeFid(s, fid);
  if (!f.isDir) throw new FsError(Errno.ENOTDIR);
  return f;
}

function openStateOf(flags: number): OpenState {
  const acc = flags & OpenFlags.ACCMODE;
  return {
    flags,
    append: (flags & OpenFlags.APPEND) !== 0,
    readable: acc === OpenFlags.RDONLY || acc === OpenFlags.RDWR,
    writable: acc === OpenFlags.WRONLY || acc === OpenFlags.RDWR,
  };
}

/** Largest payload a reply can carry in this session, and what a request may ask for. */
function clampCount(s: HandlerScope, count: number, header: number): number {
  // Asking for more than msize is malformed; asking for up to msize is a client
  // rounding the header differently, which read(5) lets the server shorten.
  if (count > s.msize) throw new FsError(Errno.EINVAL, `count ${count} exceeds msize ${s.msize}`);
  return Math.min(count, s.msize - header);
}

function newFidFrom(from: Fid, ino: number, parent: number, name: string, isDir: boolean): Fid {
  return { ino, parent, name, isDir, uid: from.uid };
}

/** After an await: is `fid` still the very record the handler started with (not clunked or replaced meanwhile)? */
function unchanged(s: HandlerScope, fid: number, rec: Fid): boolean {
  return s.fids.has(fid) && s.fids.get(fid) === rec;
}

function releaseInBackground(s: HandlerScope, ino: number): void {
  s.fs.release(ino).catch((e: unknown) => s.report(e));
}

export const handlers: { [K in TMessage["type"]]?: Handler<K> } = {
  async Tauth() {
    // No auth. ENOENT is what diod answers here, and what diod's client library
    // (libnpclient) takes as "attach without an afid"; Linux never sends Tauth.
    throw new FsError(Errno.ENOENT, "no authentication required");
  },

  async Tattach(s, m, signal) {
    if (m.afid !== NOFID) throw new FsError(Errno.EBADF, "no auth fids exist");
    if (m.aname !== "" && m.aname !== "/") throw new FsError(Errno.ENOENT, `no tree named ${JSON.stringify(m.aname)}`);
    s.fids.checkFree(m.fid);
    const root = s.fs.rootIno;
    const qid = await s.fs.qid(root, { signal, name: "" });
    s.fids.checkFree(m.fid);
    const uid = m.nuname === NOFID ? 0 : m.nuname;
    s.fids.set(m.fid, { ino: root, parent: root, name: "", isDir: true, uid });
    s.fs.retain(root);
    return { type: "Rattach", tag: m.tag, qid };
  },

  async Twalk(s, m, signal) {
    const from = nodeFid(s, m.fid);
    if (m.newfid !== m.fid) s.fids.checkFree(m.newfid);
    // walk(5): an open fid cannot be walked onto itself; QEMU answers EINVAL too.
    if (m.newfid === m.fid && from.open) throw new FsError(Errno.EINVAL, `fid ${m.fid} is open`);
    if (m.names.length === 0) {
      if (m.newfid !== m.fid) {
        s.fids.set(m.newfid, newFidFrom(from, from.ino, from.parent, from.name, from.isDir));
        s.fs.retain(from.ino);
      }
      return { type: "Rwalk", tag: m.tag, qids: [] };
    }
    // Given the fid's own place, the walk reports where a "."/".." walk ends up (the fid names what it reached).
    const r = await s.fs.walk(from.ino, m.names, ctxOf(from, signal), { parent: from.parent, name: from.name });
    if (r.qids.length === m.names.length) {
      const last = r.qids[r.qids.length - 1]!;
      const next = newFidFrom(from, r.ino, r.parent, r.name, isDirQid(last));
      if (m.newfid === m.fid) {
        // A Tclunk of this fid may have run meanwhile: then there is nothing left to move.
        if (!unchanged(s, m.fid, from)) throw new FsError(Errno.EBADF, `fid ${m.fid} was clunked during the walk`);
        if (from.open) throw new FsError(Errno.EINVAL, `fid ${m.fid} was opened during the walk`);
        s.fids.set(m.fid, next);
        s.fs.retain(r.ino);
        if (r.ino === from.ino) {
          // Still the same file ("."): the locks taken through the fid still belong to it.
          if (from.lockOwners) next.lockOwners = from.lockOwners;
          releaseInBackground(s, from.ino);
        } else {
          // The old fid is gone as if clunked: so are the locks taken through it (they were on the old file).
          releaseFid(s.fs, s.sessionId, from).catch((e: unknown) => s.report(e));
        }
      } else {
        s.fids.checkFree(m.newfid);
        s.fids.set(m.newfid, next);
        s.fs.retain(r.ino);
      }
    }
    return { type: "Rwalk", tag: m.tag, qids: r.qids };
  },

  async Tlopen(s, m, signal) {
    const f = nodeFid(s, m.fid);
    if (f.open) throw new FsError(Errno.EBADF, `fid ${m.fid} is already open`);
    const r = await s.fs.open(f.ino, m.flags, ctxOf(f, signal));
    f.open = openStateOf(m.flags);
    return { type: "Rlopen", tag: m.tag, qid: r.qid, iounit: r.iounit };
  },

  async Tlcreate(s, m, signal) {
    const dir = dirFid(s, m.fid);
    if (dir.open) throw new FsError(Errno.EBADF, `fid ${m.fid} is already open`);
    const r = await s.fs.create(dir.ino, m.name, m.flags | OpenFlags.CREAT, m.mode, dir.uid, m.gid, ctxOf(dir, signal));
    // The fid now stands for the new file, opened, with the reference create took for it;
    // the directory loses this fid's reference. (If the fid was clunked meanwhile, the file
    // exists all the same and nothing refers to it.)
    if (unchanged(s, m.fid, dir)) {
      const oldIno = dir.ino;
      Object.assign(dir, { ino: r.ino, parent: oldIno, name: m.name, isDir: false, open: openStateOf(m.flags) });
      releaseInBackground(s, oldIno);
    } else {
      releaseInBackground(s, r.ino);
    }
    return { type: "Rlcreate", tag: m.tag, qid: r.qid, iounit: r.iounit };
  },

  async Tread(s, m, signal) {
    const f = s.fids.get(m.fid);
    const count = clampCount(s, m.count, RREAD_HEADER);
    if (f.xattrRead) {
      const v = f.xattrRead;
      const start = Math.min(m.offset, v.length);
      const data = v.subarray(start, Math.min(v.length, start + count));
      return { type: "Rread", tag: m.tag, data };
    }
    if (!f.open || !f.open.readable) throw new FsError(Errno.EBADF, `fid ${m.fid} is not open for reading`);
    if (f.isDir) throw new FsError(Errno.EISDIR);
    if (!s.sendsParts) {
      let frame: Uint8Array = new Uint8Array(0);
      const n = await s.fs.readFresh(f.ino, m.offset, count, (size) => {
        const r = allocRread(m.tag, size, s.alloc);
        frame = r.frame;
        return r.data;
      }, ctxOf(f, signal));
      return finishRread(frame, n);
    }
    const parts = await s.fs.readParts(f.ino, m.offset, count, ctxOf(f, signal));
    let n = 0;
    for (const p of parts) n += p.length;
    return [encodeRreadHead(m.tag, n), ...parts];
  },

  async Twrite(s, m, signal, lent) {
    const f = s.fids.get(m.fid);
    if (f.xattrWrite) {
      writeXattr(s.fids, f.xattrWrite, m.offset, m.data);
      return { type: "Rwrite", tag: m.tag, count: m.data.length };
    }
    if (!f.open || !f.open.writable) throw new FsError(Errno.EBADF, `fid ${m.fid} is not open for writing`);
    // The data is a view of the request's frame (R2): a lent frame's bytes change once the request completes.
    const count = await s.fs.write(f.ino, m.offset, m.data, f.open.append, { signal, name: f.name, ownsData: true, ...(lent ? { dataLent: true } : {}) });
    return { type: "Rwrite", tag: m.tag, count };
  },

  async Tclunk(s, m, signal) {
    const f = s.fids.get(m.fid);
    await unlessFlushed(
      signal,
      async () => {
        if (!f.xattrWrite) return;
        const x = f.xattrWrite;
        const value = finishedXattrValue(x);
        await s.fs.setxattr(f.ino, x.name, value.length === 0 ? null : value, x.flags, ctxOf(f, signal));
      },
      () => clunk(s, m.fid),
    );
    return { type: "Rclunk", tag: m.tag };
  },

  async Tremove(s, m, signal) {
    const f = s.fids.get(m.fid);
    // remove(5): the fid is clunked whether or not the remove succeeded.
    await unlessFlushed(
      signal,
      async () => {
        if (f.xattrRead || f.xattrWrite) throw new FsError(Errno.EBADF, `fid ${m.fid} is an xattr fid`);
        if (f.ino === s.fs.rootIno) throw new FsError(Errno.EBUSY, "cannot remove the root");
        // The fid's remembered name may be stale if another session renamed over it.
        const here = await s.fs.walk(f.parent, [f.name], ctxOf(f, signal));
        if (here.ino !== f.ino) throw new FsError(Errno.ENOENT, "file is no longer at its name");
        await s.fs.unlink(f.parent, f.name, f.isDir ? AT_REMOVEDIR : 0, ctxOf(f, signal));
      },
      () => clunk(s, m.fid),
    );
    return { type: "Rremove", tag: m.tag };
  },

  async Tstatfs(s, m, signal) {
    const f = s.fids.get(m.fid);
    const stat = await s.fs.statfs(ctxOf(f, signal));
    return { type: "Rstatfs", tag: m.tag, stat };
  },

  async Tsymlink(s, m, signal) {
    const dir = dirFid(s, m.fid);
    const qid = await s.fs.symlink(dir.ino, m.name, m.target, dir.uid, m.gid, ctxOf(dir, signal));
    return { type: "Rsymlink", tag: m.tag, qid };
  },

  async Tmknod(s, m, signal) {
    const dir = dirFid(s, m.dfid);
    const qid = await s.fs.mknod(dir.ino, m.name, m.mode, m.major, m.minor, dir.uid, m.gid, ctxOf(dir, signal));
    return { type: "Rmknod", tag: m.tag, qid };
  },

  async Tmkdir(s, m, signal) {
    const dir = dirFid(s, m.dfid);
    const qid = await s.fs.mkdir(dir.ino, m.name, m.mode & ~Mode.IFMT, dir.uid, m.gid, ctxOf(dir, signal));
    return { type: "Rmkdir", tag: m.tag, qid };
  },

  async Trename(s, m, signal) {
    const f = nodeFid(s, m.fid);
    const to = dirFid(s, m.dfid);
    if (f.ino === s.fs.rootIno) throw new FsError(Errno.EBUSY, "cannot rename the root");
    const oldDir = f.parent;
    const oldName = f.name;
    // The fid's remembered name may be stale if another session renamed over it.
    const here = await s.fs.walk(oldDir, [oldName], ctxOf(f, signal));
    if (here.ino !== f.ino) throw new FsError(Errno.ENOENT, "file is no longer at its name");
    await s.fs.rename(oldDir, oldName, to.ino, m.name, ctxOf(f, signal));
    s.renamed(oldDir, oldName, to.ino, m.name);
    return { type: "Rrename", tag: m.tag };
  },

  async Trenameat(s, m, signal) {
    const from = dirFid(s, m.olddirfid);
    const to = dirFid(s, m.newdirfid);
    await s.fs.rename(from.ino, m.oldname, to.ino, m.newname, { signal, name: m.oldname });
    s.renamed(from.ino, m.oldname, to.ino, m.newname);
    return { type: "Rrenameat", tag: m.tag };
  },

  async Tunlinkat(s, m, signal) {
    const dir = dirFid(s, m.dirfid);
    if ((m.flags & ~AT_REMOVEDIR) !== 0) throw new FsError(Errno.EINVAL, `unknown unlinkat flags ${m.flags}`);
    await s.fs.unlink(dir.ino, m.name, m.flags, { signal, name: m.name });
    return { type: "Runlinkat", tag: m.tag };
  },

  async Tlink(s, m, signal) {
    const dir = dirFid(s, m.dfid);
    const target = nodeFid(s, m.fid);
    await s.fs.link(dir.ino, m.name, target.ino, ctxOf(dir, signal));
    return { type: "Rlink", tag: m.tag };
  },

  async Treadlink(s, m, signal) {
    const f = nodeFid(s, m.fid);
    const target = await s.fs.readlink(f.ino, ctxOf(f, signal));
    return { type: "Rreadlink", tag: m.tag, target };
  },

  async Tgetattr(s, m, signal) {
    const f = nodeFid(s, m.fid);
    const attr = await s.fs.getattr(f.ino, ctxOf(f, signal));
    return { type: "Rgetattr", tag: m.tag, attr };
  },

  async Tsetattr(s, m, signal) {
    const f = nodeFid(s, m.fid);
    await s.fs.setattr(f.ino, m.attr, ctxOf(f, signal));
    return { type: "Rsetattr", tag: m.tag };
  },

  async Txattrwalk(s, m, signal) {
    const f = nodeFid(s, m.fid);
    if (m.newfid !== m.fid) s.fids.checkFree(m.newfid);
    const value = m.name === ""
      ? await s.fs.listxattr(f.ino, ctxOf(f, signal))
      : await s.fs.getxattr(f.ino, m.name, ctxOf(f, signal));
    const x: Fid = { ...newFidFrom(f, f.ino, f.parent, f.name, f.isDir), xattrRead: value };
    if (m.newfid === m.fid && !unchanged(s, m.fid, f)) throw new FsError(Errno.EBADF, `fid ${m.fid} was clunked meanwhile`);
    if (m.newfid !== m.fid) s.fids.checkFree(m.newfid);
    // Charged once nothing else can fail: the fid that holds it gives it back when dropped.
    holdXattrValue(s.fids, value);
    if (m.newfid === m.fid) {
      if (f.lockOwners) x.lockOwners = f.lockOwners;
      s.fids.set(m.fid, x);
    } else {
      s.fids.set(m.newfid, x);
      s.fs.retain(f.ino);
    }
    return { type: "Rxattrwalk", tag: m.tag, size: value.length };
  },

  async Txattrcreate(s, m) {
    const f = nodeFid(s, m.fid);
    if (m.size > XATTR_SIZE_MAX) throw new FsError(Errno.E2BIG, `xattr value of ${m.size} bytes`);
    if (m.name === "") throw new FsError(Errno.EINVAL, "empty xattr name");
    f.xattrWrite = newXattrWrite(m.name, m.flags, m.size);
    return { type: "Rxattrcreate", tag: m.tag };
  },

  async Treaddir(s, m, signal) {
    const f = dirFid(s, m.fid);
    if (!f.open) throw new FsError(Errno.EBADF, `fid ${m.fid} is not open`);
    const count = clampCount(s, m.count, RREADDIR_HEADER);
    const limit = Math.max(1, Math.min(READDIR_MAX_ENTRIES, Math.floor(count / DIRENT_FIXED)));
    const entries = await s.fs.readdir(f.ino, m.offset, limit, ctxOf(f, signal));
    const { data, count: fitted } = encodeDirEntries(entries, count);
    // An empty reply means "end of directory": a count too small for the next entry must not say that.
    if (fitted === 0 && entries.length > 0) throw new FsError(Errno.EINVAL, `count ${m.count} cannot hold the next entry`);
    return { type: "Rreaddir", tag: m.tag, data };
  },

  async Tfsync(s, m, signal) {
    const f = nodeFid(s, m.fid);
    await s.fs.fsync(f.ino, ctxOf(f, signal));
    return { type: "Rfsync", tag: m.tag };
  },

  async Tlock(s, m, signal) {
    const f = nodeFid(s, m.fid);
    const owner: LockOwner = { session: s.sessionId, clientId: m.lock.clientId, procId: m.lock.procId };
    let status = s.fs.lock(f.ino, owner, m.lock);
    // F_SETLKW: hold the request until the lock is granted instead of answering
    // BLOCKED — Linux would sleep up to 30 s before retrying. A Tflush (the
    // process got a signal) aborts the wait and the request leaves no trace.
    while (status === LockStatus.BLOCKED && (m.lock.flags & LockFlags.BLOCK) !== 0) {
      await s.fs.waitForLockChange(f.ino, signal);
      if (!unchanged(s, m.fid, f)) throw new FsError(Errno.EBADF, `fid ${m.fid} was clunked while waiting for a lock`);
      status = s.fs.lock(f.ino, owner, m.lock);
    }
    if (m.lock.type !== LockType.UNLCK) {
      f.lockOwners ??= new Map();
      f.lockOwners.set(`${m.lock.procId}\0${m.lock.clientId}`, { clientId: m.lock.clientId, procId: m.lock.procId });
    }
    return { type: "Rlock", tag: m.tag, status };
  },

  async Tgetlock(s, m) {
    const f = nodeFid(s, m.fid);
    const owner: LockOwner = { session: s.sessionId, clientId: m.lock.clientId, procId: m.lock.procId };
    const lock = s.fs.getlock(f.ino, owner, m.lock);
    return { type: "Rgetlock", tag: m.tag, lock };
  },
};

/**
 * Run `body`, then `after` whether body succeeded or failed — unless body was
 * cancelled before its commit, in which case the request must leave no trace.
 */
async function unlessFlushed(signal: AbortSignal, body: () => Promise<void>, after: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (!isCancellation(e, signal)) await after();
    throw e;
  }
  await after();
}

/** Forget a fid: its locks go, its reference to the inode goes (freeing an unlinked file). */
export async function clunk(s: HandlerScope, fid: number): Promise<void> {
  const f = s.fids.delete(fid);
  if (!f) return;
  await releaseFid(s.fs, s.sessionId, f);
}

export async function releaseFid(fs: FileSystemApi, sessionId: number, f: Fid): Promise<void> {
  releaseXattrBuffers(f);
  if (f.lockOwners) {
    for (const o of f.lockOwners.values()) fs.releaseLocks({ session: sessionId, clientId: o.clientId, procId: o.procId }, f.ino);
  }
  await fs.release(f.ino);
}
