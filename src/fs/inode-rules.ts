/**
 * What POSIX (as Linux answers it) says about one inode, entry or request:
 * the small checks and edits the FileSystem's operations share.
 */
import { DirentType, Mode, OpenFlags, QidType } from "../protocol/constants.js";
import { Errno, FsError } from "../protocol/errno.js";
import type { DirEntry, Timespec } from "../protocol/messages.js";
import type { InodeRecord, StoreTx } from "../storage/store.js";
import { isDir } from "./attr.js";
import { ROOT_INO } from "./constants.js";
import type { InodeEdits } from "./inode-edits.js";

/** An inode that must exist: ENOENT if it does not. */
export async function needInode(tx: StoreTx, ino: number): Promise<InodeRecord> {
  const rec = await tx.getInode(ino);
  if (!rec) throw new FsError(Errno.ENOENT, `inode ${ino}`);
  return rec;
}

export async function isEmptyDir(tx: StoreTx, ino: number): Promise<boolean> {
  return (await tx.listEntries(ino, 0, 1)).length === 0;
}

export function touchDir(d: InodeRecord, t: Timespec): void {
  d.mtime = t;
  d.ctime = t;
  d.version++;
}

export function checkOpenFlags(rec: InodeRecord, flags: number): void {
  const writing = (flags & OpenFlags.ACCMODE) !== OpenFlags.RDONLY || (flags & OpenFlags.TRUNC) !== 0;
  if (isDir(rec.mode) && writing) throw new FsError(Errno.EISDIR);
  if (flags & OpenFlags.DIRECTORY && !isDir(rec.mode)) throw new FsError(Errno.ENOTDIR);
}

export function truncatesOnOpen(flags: number): boolean {
  return (flags & OpenFlags.TRUNC) !== 0 && (flags & OpenFlags.ACCMODE) !== OpenFlags.RDONLY;
}

export function dotEntry(name: string, ino: number, cookie: number): DirEntry {
  return { qid: { type: QidType.DIR, version: 0, path: ino }, offset: cookie, type: DirentType.DIR, name };
}

/** mknod(2): type 0 means a regular file; directories are mkdir's (EPERM). */
export function mknodMode(mode: number): number {
  const type = mode & Mode.IFMT;
  const perm = mode & Mode.PERM;
  switch (type) {
    case 0: return Mode.IFREG | perm;
    case Mode.IFREG: case Mode.IFCHR: case Mode.IFBLK: case Mode.IFIFO: case Mode.IFSOCK: return type | perm;
    case Mode.IFDIR: throw new FsError(Errno.EPERM);
    default: throw new FsError(Errno.EINVAL, "bad file type");
  }
}

/** Moving directory `moved` under `dir` must not put it inside itself (EINVAL): walk up from `dir`. */
export async function checkNotBelow(e: InodeEdits, moved: number, dir: number): Promise<void> {
  for (let cur = dir; ; ) {
    if (cur === moved) throw new FsError(Errno.EINVAL, "directory moved into itself");
    if (cur === ROOT_INO) return;
    const rec = await e.get(cur);
    if (!rec || rec.parent === cur) return;
    cur = rec.parent;
  }
}

/** A rename onto `target` replaces it: a directory only by a directory, and only an empty one (as rename(2)). */
export async function checkReplace(e: InodeEdits, movingDir: boolean, target: number): Promise<void> {
  const rec = await e.need(target);
  const targetDir = isDir(rec.mode);
  if (movingDir && !targetDir) throw new FsError(Errno.ENOTDIR);
  if (!movingDir && targetDir) throw new FsError(Errno.EISDIR);
  if (targetDir && !(await isEmptyDir(e.tx, target))) throw new FsError(Errno.ENOTEMPTY);
}
