import { AT_REMOVEDIR, LockType, Mode, OpenFlags, SetattrMask } from "../protocol/constants.js";
import { Errno, FsError, abortError } from "../protocol/errno.js";
import type { Attr, DirEntry, GetlockRequest, LockRequest, Qid, SetattrRequest, StatFs, Timespec } from "../protocol/messages.js";
import { FIRST_COOKIE, type InodeRecord, type Store, type StoreTx, type TxOptions } from "../storage/store.js";
import { attrOf, BLKSIZE, dtypeOf, isDir, isReg, isSymlink, makedev, newInode, nowTimespec, qidOf, qidOfDtype } from "./attr.js";
import { MAX_FILE_SIZE, ROOT_INO, XATTR_SIZE_MAX } from "./constants.js";
import { readData, truncateData, writeData, readDataParts } from "./data.js";
import { fsckStore } from "./fsck.js";
import { InodeCache } from "./inode-cache.js";
import type { InodeEdits } from "./inode-edits.js";
import { InodeLifetimes, freeIfUnlinked, type Effects } from "./lifetimes.js";
import { delay, latencyFor } from "./latency.js";
import { LockTable } from "./lock-table.js";
import { allocIno, META_NEXT_INO, META_ORPHANS, readOrphans } from "./meta.js";
import { checkLookupName, checkNewName, checkXattrName, isDotName, utf8Length } from "./names.js";
import type { CreateResult, FileSystemApi, FsckReport, LockOwner, OpContext, OpenResult, Place, WalkResult } from "./types.js";
import { walkNames } from "./walk.js";
import { checkNotBelow, checkOpenFlags, checkReplace, dotEntry, isEmptyDir, mknodMode, needInode, touchDir, truncatesOnOpen } from "./inode-rules.js";
import { checkXattrRoom, listedNames, nextXattrs, xattrsOf } from "./xattrs.js";

export interface FileSystemOptions {
  /** Delay before reads and writes of files reached by a name starting with "slow" (flush tests); 0, off, by default. */
  latencyMs?: number;
  /** Owner of the root directory when the store is new. */
  uid?: number;
  gid?: number;
}

/** Linux statfs f_type of a v9fs mount. */
const V9FS_MAGIC = 0x01021997;
const FSID = 0x77397066; // "w9pf"
/** PATH_MAX: a symlink target this long is ENAMETOOLONG. */
const PATH_MAX = 4096;
/** Symlinks are always rwxrwxrwx on Linux. */
const SYMLINK_MODE = Mode.IFLNK | 0o777;

/**
 * POSIX semantics on a Store, as the Linux v9fs client expects them.
 * Every mutation is one readwrite transaction, so an aborted request has no
 * effect; reference counts, orphans and locks live in memory and change only
 * after a commit.
 */
export class FileSystem implements FileSystemApi {
  readonly rootIno = ROOT_INO;
  readonly chunkSize: number;
  private readonly latencyMs: number;
  private readonly rootUid: number;
  private readonly rootGid: number;
  private readonly locks = new LockTable();
  private readonly cache = new InodeCache();
  /** References, orphans and the transaction every mutation runs in (R1-R4 in lifetimes.ts). */
  private readonly lifetimes: InodeLifetimes;

  constructor(readonly store: Store, options: FileSystemOptions = {}) {
    this.chunkSize = store.chunkSize;
    this.latencyMs = options.latencyMs ?? 0;
    this.rootUid = options.uid ?? 0;
    this.rootGid = options.gid ?? 0;
    this.lifetimes = new InodeLifetimes(store, this.cache, this.locks);
  }

  /** Mount: create the root on an empty store, else read only the root (lazy) and free what a crash left orphaned. */
  static async open(store: Store, options?: FileSystemOptions): Promise<FileSystem> {
    const fs = new FileSystem(store, options);
    await fs.init();
    return fs;
  }

  async init(signal?: AbortSignal): Promise<void> {
    await this.store.transaction(
      "readwrite",
      async (tx) => {
        if (!(await tx.getInode(ROOT_INO))) return this.format(tx);
        // No fid of this mount references anything yet, so every listed orphan is garbage.
        const orphans = await readOrphans(tx);
        for (const ino of orphans) await freeIfUnlinked(tx, ino);
        if (orphans.length > 0) await tx.putMeta(META_ORPHANS, []);
      },
      { signal },
    );
    this.cache.clear();
  }

  private async format(tx: StoreTx): Promise<void> {
    const root = newInode(ROOT_INO, Mode.IFDIR | 0o755, this.rootUid, this.rootGid, nowTimespec());
    root.nlink = 2;
    root.parent = ROOT_INO;
    root.nextCookie = FIRST_COOKIE;
    await tx.putInode(root);
    await tx.putMeta(META_NEXT_INO, ROOT_INO + 1);
    await tx.putMeta(META_ORPHANS, []);
  }

  // ---- references and orphans ----

  retain(ino: number): void {
    this.lifetimes.retain(ino);
  }

  release(ino: number): Promise<void> {
    return this.lifetimes.release(ino);
  }

  /** References currently counted on `ino` (diagnostics and tests). */
  references(ino: number): number {
    return this.lifetimes.references(ino);
  }

  /**
   * What this FileSystem holds in memory, in records. The bound, whatever
   * the tree's size: cached inodes ≤ the InodeCache's limit (8,192 small
   * records; xattr values are never in them); referenced inodes and orphans ≤
   * the fids open across sessions; nothing per directory entry or per chunk.
   */
  memoryCounts(): { cachedInodes: number; referencedInodes: number; orphans: number } {
    return { cachedInodes: this.cache.size, ...this.lifetimes.counts };
  }

  // ---- transaction plumbing ----

  /** One readwrite transaction whose effects on references and orphans follow its commit (lifetimes.ts). */
  private change<T>(ctx: OpContext, body: (e: InodeEdits, fx: Effects) => Promise<T>, options: Pick<TxOptions, "durable" | "prefetchEntries"> = {}): Promise<T> {
    return this.lifetimes.change(ctx.signal, body, options);
  }

  private look<T>(ctx: OpContext, body: (tx: StoreTx) => Promise<T>): Promise<T> {
    return this.store.transaction("readonly", body, { signal: ctx.signal });
  }

  /** A read-only transaction over a regular file's data, its inode taken from the cache when there. */
  private async readWith<T>(ino: number, ctx: OpContext, body: (tx: StoreTx, rec: InodeRecord) => Promise<T>): Promise<T> {
    const cached = this.cache.get(ino);
    const epoch = this.cache.epoch;
    return this.look(ctx, async (tx) => {
      const rec = cached ?? (await needInode(tx, ino));
      if (!cached) this.cache.remember(rec, epoch);
      if (isDir(rec.mode)) throw new FsError(Errno.EISDIR);
      if (!isReg(rec.mode)) throw new FsError(Errno.EINVAL);
      return body(tx, rec);
    });
  }

  /** An inode's committed record, from the cache or one read-only transaction. */
  private async inode(ino: number, ctx: OpContext): Promise<InodeRecord> {
    const hit = this.cache.get(ino);
    if (hit) {
      if (ctx.signal.aborted) throw abortError();
      return hit;
    }
    const epoch = this.cache.epoch;
    const rec = await this.look(ctx, (tx) => needInode(tx, ino));
    this.cache.remember(rec, epoch);
    return rec;
  }

  /** One name of `ino` went away. */
  private async dropName(e: InodeEdits, ino: number, t: Timespec, fx: Effects): Promise<void> {
    const c = await e.edit(ino);
    c.nlink = isDir(c.mode) ? 0 : Math.max(0, c.nlink - 1);
    c.ctime = t;
    if (c.nlink === 0) await this.lifetimes.unlinked(e, c, fx);
  }

  /** A directory a name is about to be added to: a directory that has not been removed. */
  private async targetDir(e: InodeEdits, ino: number): Promise<InodeRecord> {
    const d = await e.need(ino);
    if (!isDir(d.mode)) throw new FsError(Errno.ENOTDIR);
    if (d.nlink === 0) throw new FsError(Errno.ENOENT, "directory was removed");
    return d;
  }

  /** Name `child` in `dir` with the directory's next cookie; touches the directory. */
  private async addEntry(e: InodeEdits, dir: number, name: string, child: InodeRecord, t: Timespec): Promise<void> {
    const d = await e.edit(dir);
    const cookie = Math.max(d.nextCookie, FIRST_COOKIE);
    d.nextCookie = cookie + 1;
    touchDir(d, t);
    await e.tx.putEntry({ dir, name, ino: child.ino, cookie, dtype: dtypeOf(child.mode) });
  }

  /** Create a new inode built by `build` as `name` in `dir` (EEXIST when taken). */
  private async insertNew(e: InodeEdits, dir: number, name: string, build: (ino: number, t: Timespec) => InodeRecord, nameIsFree = false): Promise<InodeRecord> {
    await this.targetDir(e, dir);
    if (!nameIsFree && (await e.tx.getEntry(dir, name))) throw new FsError(Errno.EEXIST, name);
    const ino = await allocIno(e.tx);
    const t = nowTimespec();
    const child = build(ino, t);
    e.add(child);
    await this.addEntry(e, dir, name, child, t);
    if (isDir(child.mode)) (await e.edit(dir)).nlink++;
    return child;
  }

  private async makeNode(ctx: OpContext, dir: number, name: string, build: (ino: number, t: Timespec) => InodeRecord): Promise<Qid> {
    checkNewName(name);
    const rec = await this.change(ctx, (e) => this.insertNew(e, dir, name, build), { prefetchEntries: [[dir, name]] });
    return qidOf(rec);
  }

  private async maybeSlow(ctx: OpContext): Promise<void> {
    const ms = latencyFor(this.latencyMs, ctx);
    if (ms > 0) await delay(ms, ctx.signal);
  }

  // ---- lookups ----

  async qid(ino: number, ctx: OpContext): Promise<Qid> {
    return qidOf(await this.inode(ino, ctx));
  }

  walk(ino: number, names: string[], ctx: OpContext, from?: Place): Promise<WalkResult> {
    return this.look(ctx, async (tx) => walkNames(tx, await needInode(tx, ino), from, names));
  }

  async getattr(ino: number, ctx: OpContext): Promise<Attr> {
    return attrOf(await this.inode(ino, ctx), this.chunkSize);
  }

  readlink(ino: number, ctx: OpContext): Promise<string> {
    return this.look(ctx, async (tx) => {
      const rec = await needInode(tx, ino);
      if (!isSymlink(rec.mode)) throw new FsError(Errno.EINVAL, "not a symlink");
      return rec.target ?? "";
    });
  }

  readdir(ino: number, offset: number, limit: number, ctx: OpContext): Promise<DirEntry[]> {
    return this.look(ctx, async (tx) => {
      const d = await needInode(tx, ino);
      if (!isDir(d.mode)) throw new FsError(Errno.ENOTDIR);
      const out: DirEntry[] = [];
      if (offset < 1 && out.length < limit) out.push(dotEntry(".", d.ino, 1));
      if (offset < 2 && out.length < limit) out.push(dotEntry("..", d.parent, 2));
      const room = limit - out.length;
      if (room <= 0) return out;
      for (const e of await tx.listEntries(ino, Math.max(offset, 2), room)) {
        out.push({ qid: qidOfDtype(e.dtype, e.ino), offset: e.cookie, type: e.dtype, name: e.name });
      }
      return out;
    });
  }

  async statfs(ctx: OpContext): Promise<StatFs> {
    const next = (await this.look(ctx, (tx) => tx.getMeta<number>(META_NEXT_INO))) ?? ROOT_INO + 1;
    const { used, quota } = await this.store.usage();
    const blocks = Math.floor(quota / BLKSIZE);
    const bfree = Math.max(0, Math.floor((quota - used) / BLKSIZE));
    // No inode table: allow one inode per KiB of quota, and count every number ever handed out as used.
    const files = Math.max(Math.floor(quota / 1024), next);
    return { type: V9FS_MAGIC, bsize: BLKSIZE, blocks, bfree, bavail: bfree, files, ffree: files - (next - 1), fsid: FSID, namelen: 255 };
  }

  // ---- open, create, data ----

  open(ino: number, flags: number, ctx: OpContext): Promise<OpenResult> {
    if (!truncatesOnOpen(flags)) {
      return this.look(ctx, async (tx) => {
        const rec = await needInode(tx, ino);
        checkOpenFlags(rec, flags);
        return { qid: qidOf(rec), iounit: 0 };
      });
    }
    return this.change(ctx, async (e) => ({ qid: qidOf(await this.openIn(e, ino, flags)), iounit: 0 }));
  }

  /** Open an existing inode inside a readwrite transaction, applying O_TRUNC. */
  private async openIn(e: InodeEdits, ino: number, flags: number): Promise<InodeRecord> {
    const rec = await e.need(ino);
    checkOpenFlags(rec, flags);
    if (!truncatesOnOpen(flags) || !isReg(rec.mode)) return rec;
    const w = await e.edit(ino);
    await truncateData(e.tx, w, 0, this.chunkSize);
    const t = nowTimespec();
    w.mtime = t;
    w.ctime = t;
    w.version++;
    return w;
  }

  async create(dir: number, name: string, flags: number, mode: number, uid: number, gid: number, ctx: OpContext): Promise<CreateResult> {
    const excl = (flags & OpenFlags.EXCL) !== 0;
    // Linux: O_CREAT on "." or ".." is EEXIST with O_EXCL, else EISDIR (they are directories).
    if (isDotName(name)) throw new FsError(excl ? Errno.EEXIST : Errno.EISDIR);
    checkNewName(name);
    const rec = await this.change(ctx, async (e, fx) => {
      const existing = await e.tx.getEntry(dir, name);
      let rec: InodeRecord;
      if (!existing) {
        rec = await this.insertNew(e, dir, name, (ino, t) => newInode(ino, Mode.IFREG | (mode & Mode.PERM), uid, gid, t), true);
      } else {
        if (excl) throw new FsError(Errno.EEXIST, name);
        if (isDir((await e.need(existing.ino)).mode)) throw new FsError(Errno.EISDIR);
        rec = await this.openIn(e, existing.ino, flags);
      }
      this.lifetimes.pin(fx, rec.ino);
      return rec;
    }, { prefetchEntries: [[dir, name]] });
    return { qid: qidOf(rec), iounit: 0, ino: rec.ino };
  }

  async readInto(ino: number, offset: number, dest: Uint8Array, ctx: OpContext): Promise<number> {
    await this.maybeSlow(ctx);
    return this.readWith(ino, ctx, (tx, rec) => readData(tx, rec, offset, dest, this.chunkSize));
  }

  /**
   * Read up to `count` bytes at `offset` into a buffer from `alloc(n)`, where
   * n is what the file has there — so a reply frame can be sized exactly and
   * filled by the store directly. Returns n.
   */
  async readFresh(ino: number, offset: number, count: number, alloc: (n: number) => Uint8Array, ctx: OpContext): Promise<number> {
    await this.maybeSlow(ctx);
    return this.readWith(ino, ctx, (tx, rec) => {
      const n = Math.max(0, Math.min(count, rec.size - offset));
      return readData(tx, rec, offset, alloc(n), this.chunkSize);
    });
  }

  async readParts(ino: number, offset: number, count: number, ctx: OpContext): Promise<Uint8Array[]> {
    await this.maybeSlow(ctx);
    return this.readWith(ino, ctx, (tx, rec) => readDataParts(tx, rec, offset, count, this.chunkSize));
  }

  async write(ino: number, offset: number, data: Uint8Array, append: boolean, ctx: OpContext): Promise<number> {
    await this.maybeSlow(ctx);
    return this.change(ctx, async (e) => {
      const rec = await e.need(ino);
      if (isDir(rec.mode)) throw new FsError(Errno.EISDIR);
      if (!isReg(rec.mode)) throw new FsError(Errno.EINVAL);
      const at = append ? rec.size : offset;
      if (at > MAX_FILE_SIZE || at + data.length > MAX_FILE_SIZE) throw new FsError(Errno.EFBIG);
      if (data.length === 0) return 0;
      const w = await e.edit(ino);
      await writeData(e.tx, w, at, data, this.chunkSize, ctx.ownsData === true, this.store.keepsChunkBuffers, ctx.dataLent === true);
      const t = nowTimespec();
      w.mtime = t;
      w.ctime = t;
      w.version++;
      return data.length;
    });
  }

  async setattr(ino: number, req: SetattrRequest, ctx: OpContext): Promise<void> {
    const v = req.valid;
    if (v === 0) return;
    await this.change(ctx, async (e) => {
      const rec = await e.edit(ino);
      const t = nowTimespec();
      if (v & SetattrMask.SIZE) await this.resize(e.tx, rec, req.size, t);
      if (v & SetattrMask.MODE) rec.mode = (rec.mode & Mode.IFMT) | (req.mode & Mode.PERM);
      if (v & SetattrMask.UID) rec.uid = req.uid;
      if (v & SetattrMask.GID) rec.gid = req.gid;
      if (v & SetattrMask.ATIME) rec.atime = v & SetattrMask.ATIME_SET ? { sec: req.atime.sec, nsec: req.atime.nsec } : t;
      if (v & SetattrMask.MTIME) rec.mtime = v & SetattrMask.MTIME_SET ? { sec: req.mtime.sec, nsec: req.mtime.nsec } : t;
      // Every attribute change is a status change, and CTIME alone asks for exactly that.
      rec.ctime = t;
      // qid.version follows the data only (as QEMU's mtime^size does): Linux compares it
      // when it looks an inode up again, and a chmod must not make it a different file.
      if (v & SetattrMask.SIZE) rec.version++;
    });
  }

  private async resize(tx: StoreTx, rec: InodeRecord, size: number, t: Timespec): Promise<void> {
    if (isDir(rec.mode)) throw new FsError(Errno.EISDIR);
    if (!isReg(rec.mode)) throw new FsError(Errno.EINVAL);
    if (size > MAX_FILE_SIZE) throw new FsError(Errno.EFBIG);
    if (size === rec.size) return;
    await truncateData(tx, rec, size, this.chunkSize);
    rec.mtime = t;
  }

  fsync(ino: number, ctx: OpContext): Promise<void> {
    return this.change(ctx, async (e) => void (await e.need(ino)), { durable: true });
  }

  // ---- namespace changes ----

  mkdir(dir: number, name: string, mode: number, uid: number, gid: number, ctx: OpContext): Promise<Qid> {
    return this.makeNode(ctx, dir, name, (ino, t) => {
      const rec = newInode(ino, Mode.IFDIR | (mode & Mode.PERM), uid, gid, t);
      rec.nlink = 2;
      rec.parent = dir;
      rec.nextCookie = FIRST_COOKIE;
      return rec;
    });
  }

  async symlink(dir: number, name: string, target: string, uid: number, gid: number, ctx: OpContext): Promise<Qid> {
    if (target.length === 0) throw new FsError(Errno.ENOENT, "empty symlink target");
    const size = utf8Length(target);
    if (size >= PATH_MAX) throw new FsError(Errno.ENAMETOOLONG);
    return this.makeNode(ctx, dir, name, (ino, t) => ({ ...newInode(ino, SYMLINK_MODE, uid, gid, t), target, size }));
  }

  async mknod(dir: number, name: string, mode: number, major: number, minor: number, uid: number, gid: number, ctx: OpContext): Promise<Qid> {
    const full = mknodMode(mode);
    const type = full & Mode.IFMT;
    const rdev = type === Mode.IFCHR || type === Mode.IFBLK ? makedev(major, minor) : 0;
    return this.makeNode(ctx, dir, name, (ino, t) => ({ ...newInode(ino, full, uid, gid, t), rdev }));
  }

  async link(dir: number, name: string, target: number, ctx: OpContext): Promise<void> {
    checkNewName(name);
    await this.change(ctx, async (e) => {
      await this.targetDir(e, dir);
      if (await e.tx.getEntry(dir, name)) throw new FsError(Errno.EEXIST, name);
      const rec = await e.need(target);
      if (isDir(rec.mode)) throw new FsError(Errno.EPERM, "hard link to a directory");
      if (rec.nlink === 0) throw new FsError(Errno.ENOENT, "file was removed");
      const t = nowTimespec();
      const w = await e.edit(target);
      w.nlink++;
      w.ctime = t;
      await this.addEntry(e, dir, name, w, t);
    }, { prefetchEntries: [[dir, name]] });
  }

  async unlink(dir: number, name: string, flags: number, ctx: OpContext): Promise<void> {
    const rmdir = (flags & AT_REMOVEDIR) !== 0;
    // What Linux's VFS answers for these before any file system sees them.
    if (name === ".") throw new FsError(rmdir ? Errno.EINVAL : Errno.EISDIR);
    if (name === "..") throw new FsError(rmdir ? Errno.ENOTEMPTY : Errno.EISDIR);
    checkLookupName(name);
    await this.change(ctx, async (e, fx) => {
      if (!isDir((await e.need(dir)).mode)) throw new FsError(Errno.ENOTDIR);
      const entry = await e.tx.getEntry(dir, name);
      if (!entry) throw new FsError(Errno.ENOENT, name);
      const childIsDir = isDir((await e.need(entry.ino)).mode);
      if (rmdir && !childIsDir) throw new FsError(Errno.ENOTDIR);
      if (!rmdir && childIsDir) throw new FsError(Errno.EISDIR);
      if (childIsDir && !(await isEmptyDir(e.tx, entry.ino))) throw new FsError(Errno.ENOTEMPTY);
      await e.tx.deleteEntry(dir, name);
      const t = nowTimespec();
      const d = await e.edit(dir);
      touchDir(d, t);
      if (childIsDir) d.nlink--;
      await this.dropName(e, entry.ino, t, fx);
    }, { prefetchEntries: [[dir, name]] });
  }

  async rename(oldDir: number, oldName: string, newDir: number, newName: string, ctx: OpContext): Promise<void> {
    if (isDotName(oldName) || isDotName(newName)) throw new FsError(Errno.EBUSY);
    checkLookupName(oldName);
    checkNewName(newName);
    await this.change(ctx, async (e, fx) => {
      if (!isDir((await e.need(oldDir)).mode)) throw new FsError(Errno.ENOTDIR);
      await this.targetDir(e, newDir);
      const from = await e.tx.getEntry(oldDir, oldName);
      if (!from) throw new FsError(Errno.ENOENT, oldName);
      const to = await e.tx.getEntry(newDir, newName);
      // Two names of one inode: POSIX says succeed and do nothing.
      if (to && to.ino === from.ino) return;
      const moving = await e.need(from.ino);
      const movingDir = isDir(moving.mode);
      const crossDir = oldDir !== newDir;
      if (movingDir && crossDir) await checkNotBelow(e, from.ino, newDir);
      if (to) await checkReplace(e, movingDir, to.ino);
      const t = nowTimespec();
      await e.tx.deleteEntry(oldDir, oldName);
      if (to) {
        await this.dropName(e, to.ino, t, fx);
        if (movingDir) (await e.edit(newDir)).nlink--;
      }
      // putEntry replaces the old target's entry in the same step.
      await this.addEntry(e, newDir, newName, moving, t);
      const m = await e.edit(from.ino);
      m.ctime = t;
      if (movingDir && crossDir) {
        m.parent = newDir;
        (await e.edit(oldDir)).nlink--;
        (await e.edit(newDir)).nlink++;
      }
      if (crossDir) touchDir(await e.edit(oldDir), t);
    }, { prefetchEntries: [[oldDir, oldName], [newDir, newName]] });
  }

  // ---- extended attributes ----

  getxattr(ino: number, name: string, ctx: OpContext): Promise<Uint8Array> {
    return this.look(ctx, async (tx) => {
      const found = (await xattrsOf(tx, await needInode(tx, ino))).find(([n]) => n === name);
      if (!found) throw new FsError(Errno.ENODATA, name);
      return found[1].slice();
    });
  }

  listxattr(ino: number, ctx: OpContext): Promise<Uint8Array> {
    return this.look(ctx, async (tx) => listedNames(await xattrsOf(tx, await needInode(tx, ino))));
  }

  async setxattr(ino: number, name: string, value: Uint8Array | null, flags: number, ctx: OpContext): Promise<void> {
    checkXattrName(name);
    if (value && value.length > XATTR_SIZE_MAX) throw new FsError(Errno.E2BIG);
    // Copy now: the value may be a view into a network frame.
    const stored = value?.slice() ?? null;
    await this.change(ctx, async (e) => {
      const rec = await e.edit(ino);
      const list = nextXattrs(await xattrsOf(e.tx, rec), name, stored, flags);
      const bytes = checkXattrRoom(list);
      // Out of the record (InodeRecord.xattrBytes): a record kept inline by an older version moves out now.
      await e.tx.putXattrs(ino, bytes > 0 ? list : undefined);
      delete rec.xattrs;
      if (bytes > 0) rec.xattrBytes = bytes;
      else delete rec.xattrBytes;
      rec.ctime = nowTimespec();
    });
  }

  // ---- locks ----

  lock(ino: number, owner: LockOwner, req: LockRequest): number {
    return this.locks.lock(ino, owner, req.type, req.start, req.length);
  }

  getlock(ino: number, owner: LockOwner, req: GetlockRequest): GetlockRequest {
    const c = this.locks.conflict(ino, owner, req.type, req.start, req.length);
    if (!c) return { ...req, type: LockType.UNLCK };
    return {
      type: c.type,
      start: c.start,
      length: c.end === Infinity ? 0 : c.end - c.start,
      procId: c.owner.procId,
      clientId: c.owner.clientId,
    };
  }

  waitForLockChange(ino: number, signal: AbortSignal): Promise<void> {
    return this.locks.whenChanged(ino, signal);
  }

  releaseLocks(owner: LockOwner, ino?: number): void {
    this.locks.releaseOwner(owner, ino);
  }

  releaseSessionLocks(session: number): void {
    this.locks.releaseSession(session);
  }

  fsck(signal?: AbortSignal): Promise<FsckReport> {
    return fsckStore(this.store, signal);
  }
}
