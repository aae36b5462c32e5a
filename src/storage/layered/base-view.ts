/**
 * The base image's index seen as Store records: what a LayeredTx answers for
 * base inodes the user's layer has not touched. Pure, no I/O.
 */
import { S_IFDIR, S_IFMT, S_IFREG, type ImageIndex, type ImageInode } from "../image/format.js";
import { nameFromBytes, utf8Length } from "../../protocol/name-bytes.js";
import { FIRST_COOKIE, type EntryRecord, type InodeRecord, type XattrList } from "../store.js";

/**
 * Where the user's cookies start in a base directory (L3): past any base's
 * entries, so a newer base with more entries never hands out a cookie the
 * user's layer already uses; below 2^31 for 32-bit readdir offsets.
 */
export const BASE_NEXT_COOKIE = 2 ** 24;
/** Whiteouts take cookies from here on, one per whiteout made in a directory (L3). */
export const WHITEOUT_COOKIE = 2 ** 30;

/** Where a store chunk's bytes lie in the base image's pieces. */
export interface PieceSpan {
  piece: number;
  /** Offset within the piece. */
  from: number;
  /** Bytes taken. */
  length: number;
}

export class BaseView {
  private readonly dirs = new Map<number, { list: EntryRecord[]; byName: Map<string, EntryRecord> }>();

  constructor(readonly index: ImageIndex, readonly chunkSize: number) {}

  get inodeCount(): number {
    return this.index.inodes.length;
  }

  /** A base inode (not a placeholder for a number an earlier image used: mode 0). */
  has(ino: number): boolean {
    return Number.isInteger(ino) && ino >= 1 && ino <= this.index.inodes.length && this.index.inodes[ino - 1]!.mode !== 0;
  }

  private node(ino: number): ImageInode | undefined {
    return this.has(ino) ? this.index.inodes[ino - 1] : undefined;
  }

  isDir(ino: number): boolean {
    const n = this.node(ino);
    return !!n && (n.mode & S_IFMT) === S_IFDIR;
  }

  /** Store chunks the base holds for `ino` (every one is stored: the base has no holes at chunk level). */
  chunkCount(ino: number): number {
    const n = this.node(ino);
    return n && (n.mode & S_IFMT) === S_IFREG ? Math.ceil(n.size / this.chunkSize) : 0;
  }

  inode(ino: number): InodeRecord | undefined {
    const n = this.node(ino);
    if (!n) return undefined;
    const isDir = (n.mode & S_IFMT) === S_IFDIR;
    const rec: InodeRecord = {
      ino, mode: n.mode, uid: n.uid, gid: n.gid, nlink: n.nlink, rdev: n.rdev,
      size: isDir ? 0 : n.size,
      atime: n.atime, mtime: n.mtime, ctime: n.ctime, btime: n.ctime,
      version: 0,
      chunks: this.chunkCount(ino),
      parent: isDir ? n.parent : 0,
      nextCookie: isDir ? BASE_NEXT_COOKIE : 0,
    };
    if (n.target) rec.target = nameFromBytes(n.target);
    if (n.xattrs) rec.xattrBytes = n.xattrs.reduce((sum, [k, v]) => sum + utf8Length(k) + v.length, 0);
    return rec;
  }

  private dir(ino: number): { list: EntryRecord[]; byName: Map<string, EntryRecord> } {
    let d = this.dirs.get(ino);
    if (!d) {
      const list = (this.node(ino)?.entries ?? []).map((e, i): EntryRecord => {
        const child = this.index.inodes[e.ino - 1]!;
        // base entries take FIRST_COOKIE, FIRST_COOKIE + 1, … in name order (L3)
        return { dir: ino, name: nameFromBytes(e.name), ino: e.ino, cookie: FIRST_COOKIE + i, dtype: (child.mode & S_IFMT) >> 12 };
      });
      d = { list, byName: new Map(list.map((e) => [e.name, e])) };
      this.dirs.set(ino, d);
    }
    return d;
  }

  xattrs(ino: number): XattrList | undefined {
    return this.node(ino)?.xattrs;
  }

  entry(dir: number, name: string): EntryRecord | undefined {
    return this.isDir(dir) ? this.dir(dir).byName.get(name) : undefined;
  }

  /** Base entries of `dir` with cookie > after, in cookie order. */
  entriesAfter(dir: number, after: number): EntryRecord[] {
    if (!this.isDir(dir)) return [];
    const list = this.dir(dir).list;
    return list.slice(Math.max(0, after + 1 - FIRST_COOKIE));
  }

  /** The pieces holding store chunk `index` of `ino`, in order. */
  spans(ino: number, index: number): PieceSpan[] {
    const n = this.node(ino);
    if (!n?.pieces) return [];
    const ps = this.index.pieceSize;
    const start = index * this.chunkSize;
    const end = Math.min(n.size, start + this.chunkSize);
    const out: PieceSpan[] = [];
    for (let at = start; at < end; ) {
      const k = Math.floor(at / ps);
      const from = at - k * ps;
      const length = Math.min(ps - from, end - at);
      out.push({ piece: n.pieces[k]!, from, length });
      at += length;
    }
    return out;
  }

  /** Bytes of store chunk `index` of `ino` in the base. */
  chunkLength(ino: number, index: number): number {
    const n = this.node(ino);
    if (!n) return 0;
    return Math.max(0, Math.min(n.size, (index + 1) * this.chunkSize) - index * this.chunkSize);
  }
}
