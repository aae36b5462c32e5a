// Copy a host folder into a worker9p tree, keeping what a root file system needs: file types
// (directories, files, symlinks, device nodes, fifos, sockets), permission bits including
// setuid/setgid/sticky, owners, modification times, and hard links (one inode, several names).
// Extended attributes are not copied (Node has no xattr API).

import { promises as fsp, type BigIntStats } from "node:fs";
import path from "node:path";
import type { FileSystemApi, OpContext } from "../src/fs/types.js";

const O_WRONLY = 0o1;
/** setattr valid bits (9P2000.L): set atime and mtime to the given values. */
const SET_TIMES = 0x20 | 0x100 | 0x10 | 0x80; // MTIME | MTIME_SET | ATIME | ATIME_SET
const WRITE_STEP = 1 << 20;

export interface ImportStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** device nodes, fifos and sockets */
  special: number;
  /** names that were made hard links to an inode imported before */
  hardLinks: number;
  bytes: number;
}

/** Copy the contents of `hostDir` into the tree's directory `dir`. */
export async function importTree(fs: FileSystemApi, hostDir: string, dir: number, ctx: OpContext): Promise<ImportStats> {
  const stats: ImportStats = { files: 0, dirs: 0, symlinks: 0, special: 0, hardLinks: 0, bytes: 0 };
  /** host "dev:ino" → tree inode, for files with more than one name */
  const linked = new Map<string, number>();

  const copyDir = async (hostPath: string, into: number): Promise<void> => {
    // Sorted, so two imports of the same folder make the same tree in the same order.
    const names = (await fsp.readdir(hostPath)).sort();
    for (const name of names) {
      const p = path.join(hostPath, name);
      const st = await fsp.lstat(p, { bigint: true });
      const mode = Number(st.mode);
      const perm = mode & 0o7777;
      const uid = Number(st.uid);
      const gid = Number(st.gid);
      let ino: number;
      if (st.isDirectory()) {
        ino = (await fs.mkdir(into, name, perm, uid, gid, ctx)).path;
        stats.dirs++;
        await copyDir(p, ino);
      } else if (st.isSymbolicLink()) {
        ino = (await fs.symlink(into, name, await fsp.readlink(p), uid, gid, ctx)).path;
        stats.symlinks++;
      } else {
        const key = `${st.dev}:${st.ino}`;
        const earlier = st.nlink > 1n ? linked.get(key) : undefined;
        if (earlier !== undefined) {
          await fs.link(into, name, earlier, ctx);
          stats.hardLinks++;
          continue;
        }
        if (st.isFile()) {
          ino = (await fs.create(into, name, O_WRONLY, perm, uid, gid, ctx)).ino;
          // create hands us a reference; keeping it would keep the file alive past a later unlink.
          await fs.release(ino);
          await copyData(fs, ino, p, ctx);
          stats.files++;
          stats.bytes += Number(st.size);
        } else {
          // character/block devices, fifos, sockets: mknod keeps the type bits and rdev
          ino = (await fs.mknod(into, name, mode, majorOf(st), minorOf(st), uid, gid, ctx)).path;
          stats.special++;
        }
        if (st.nlink > 1n) linked.set(key, ino);
      }
      // Last, so adding a directory's entries does not change its times again.
      await setTimes(fs, ino, st, ctx);
    }
  };
  await copyDir(hostDir, dir);
  return stats;
}

async function copyData(fs: FileSystemApi, ino: number, hostPath: string, ctx: OpContext): Promise<void> {
  const data = await fsp.readFile(hostPath);
  for (let off = 0; off < data.length; off += WRITE_STEP) {
    await fs.write(ino, off, data.subarray(off, Math.min(off + WRITE_STEP, data.length)), false, ctx);
  }
}

async function setTimes(fs: FileSystemApi, ino: number, st: BigIntStats, ctx: OpContext): Promise<void> {
  const ts = (ns: bigint) => ({ sec: Number(ns / 1_000_000_000n), nsec: Number(ns % 1_000_000_000n) });
  await fs.setattr(ino, { valid: SET_TIMES, mode: 0, uid: 0, gid: 0, size: 0, atime: ts(st.atimeNs), mtime: ts(st.mtimeNs) }, ctx);
}

// Linux's dev_t encoding (glibc's gnu_dev_major/minor), as Node reports st.rdev.
function majorOf(st: BigIntStats): number {
  const d = st.rdev;
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}
function minorOf(st: BigIntStats): number {
  const d = st.rdev;
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
