import { DirentType, GetattrMask, Mode, QidType } from "../protocol/constants.js";
import type { Attr, Qid, Timespec } from "../protocol/messages.js";
import type { InodeRecord } from "../storage/store.js";

export const BLKSIZE = 4096;

export function nowTimespec(): Timespec {
  // performance.now() keeps sub-millisecond resolution where Date.now() would not.
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const nsec = Math.min(999_999_999, Math.floor((ms - sec * 1000) * 1e6));
  return { sec, nsec };
}

export const isDir = (mode: number): boolean => (mode & Mode.IFMT) === Mode.IFDIR;
export const isReg = (mode: number): boolean => (mode & Mode.IFMT) === Mode.IFREG;
export const isSymlink = (mode: number): boolean => (mode & Mode.IFMT) === Mode.IFLNK;

export function dtypeOf(mode: number): number {
  switch (mode & Mode.IFMT) {
    case Mode.IFDIR: return DirentType.DIR;
    case Mode.IFREG: return DirentType.REG;
    case Mode.IFLNK: return DirentType.LNK;
    case Mode.IFIFO: return DirentType.FIFO;
    case Mode.IFSOCK: return DirentType.SOCK;
    case Mode.IFCHR: return DirentType.CHR;
    case Mode.IFBLK: return DirentType.BLK;
    default: return DirentType.UNKNOWN;
  }
}

function qidTypeOfMode(mode: number): number {
  if (isDir(mode)) return QidType.DIR;
  if (isSymlink(mode)) return QidType.SYMLINK;
  return QidType.FILE;
}

/**
 * qid.version is a u32 on the wire while the stored counter is not bounded
 * (the root of a long-lived tree passes 2^32 changes): it wraps, as a change
 * counter may. data_version (u64) carries the full count.
 */
export function qidVersion(version: number): number {
  return version % 0x1_0000_0000;
}

export function qidOf(rec: InodeRecord): Qid {
  return { type: qidTypeOfMode(rec.mode), version: qidVersion(rec.version), path: rec.ino };
}

/** Readdir entries carry only the dtype, so their qid is built from it (version 0, as QEMU does). */
export function qidOfDtype(dtype: number, ino: number): Qid {
  const type = dtype === DirentType.DIR ? QidType.DIR : dtype === DirentType.LNK ? QidType.SYMLINK : QidType.FILE;
  return { type, version: 0, path: ino };
}

/** 512-byte blocks allocated: stored chunks, but never more than the file's size rounded up (tails are stored short). */
export function blocksOf(rec: InodeRecord, chunkSize: number): number {
  const bytes = Math.min(rec.chunks * chunkSize, rec.size);
  return Math.ceil(bytes / 512);
}

export function attrOf(rec: InodeRecord, chunkSize: number): Attr {
  return {
    valid: GetattrMask.ALL,
    qid: qidOf(rec),
    mode: rec.mode,
    uid: rec.uid,
    gid: rec.gid,
    nlink: rec.nlink,
    rdev: rec.rdev,
    size: rec.size,
    blksize: BLKSIZE,
    blocks: blocksOf(rec, chunkSize),
    atime: rec.atime,
    mtime: rec.mtime,
    ctime: rec.ctime,
    btime: rec.btime,
    gen: 0,
    dataVersion: rec.version,
  };
}

/**
 * Linux's new_encode_dev: 12 bits of major and 20 of minor, split so the old
 * 8:8 encoding stays valid. Written with arithmetic, not shifts: the high
 * parts pass 32 bits.
 */
export function makedev(major: number, minor: number): number {
  const minorLow = minor % 0x100;
  const majorLow = major % 0x1000;
  return minorLow + majorLow * 0x100 + (minor - minorLow) * 0x1000 + (major - majorLow) * 2 ** 32;
}

/** A fresh record: nlink 1, every time `t`, no data. */
export function newInode(ino: number, mode: number, uid: number, gid: number, t: Timespec): InodeRecord {
  return {
    ino, mode, uid, gid,
    nlink: 1, rdev: 0, size: 0,
    atime: t, mtime: t, ctime: t, btime: t,
    version: 0, chunks: 0, parent: 0, nextCookie: 0,
  };
}
