/**
 * The base-image format, version 1 (FORMAT.md is the prose; this is the code).
 * Pure: encoding and decoding only, no I/O.
 */
import { deflateSync, inflateSync } from "fflate";
import { ByteReader, ByteWriter } from "./bytes-io.js";
import { Mode } from "../../protocol/constants.js";

export const IMAGE_FORMAT = "worker9p-image";
export const IMAGE_VERSION = 1;
/** The one file with a fixed name: everything else is named by its content. */
export const MANIFEST_FILE = "image.json";
const INDEX_MAGIC = [0x57, 0x39, 0x50, 0x49]; // "W9PI"

/** Piece flags. */
export const PIECE_DEFLATE = 1;
/** The piece belongs to a file of the boot profile (fetched in large runs). */
export const PIECE_PROFILE = 2;

/** File type bits (st_mode & S_IFMT). */
export const { IFMT: S_IFMT, IFDIR: S_IFDIR, IFREG: S_IFREG, IFLNK: S_IFLNK } = Mode;

export interface ImageTime {
  sec: number;
  nsec: number;
}

export interface ImageEntry {
  /** The name's bytes, exactly as on the source file system. */
  name: Uint8Array;
  ino: number;
}

export interface ImageInode {
  /** 1-based; 1 is the root. */
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  /** Linux dev_t of a device node, as st_rdev. */
  rdev: number;
  size: number;
  atime: ImageTime;
  mtime: ImageTime;
  ctime: ImageTime;
  /** Directories: the parent's ino (the root's is itself); 0 otherwise. */
  parent: number;
  /** Symlinks: the target's bytes. */
  target?: Uint8Array;
  xattrs?: [string, Uint8Array][];
  /** Regular files: piece ids, one per pieceSize bytes of content; -1 is a hole (all zeros). */
  pieces?: number[];
  /** Directories: entries sorted by name bytes. */
  entries?: ImageEntry[];
}

export interface ImagePiece {
  /** SHA-256 of the piece's raw (uncompressed) bytes: its identity and its integrity check. */
  sha256: Uint8Array;
  pack: number;
  /** Byte offset of the stored piece within its pack. */
  offset: number;
  /** Stored (maybe compressed) length. */
  stored: number;
  /** Raw length. */
  raw: number;
  flags: number;
}

export interface ImageIndex {
  /** Raw bytes per piece (every piece but a file's last is this long). */
  pieceSize: number;
  /** inodes[i].ino === i + 1. */
  inodes: ImageInode[];
  pieces: ImagePiece[];
}

export interface ImageManifest {
  format: typeof IMAGE_FORMAT;
  version: number;
  index: { file: string; sha256: string; bytes: number };
  packs: { file: string; bytes: number }[];
  pieceSize: number;
  /** Inodes in the tree. */
  inodes: number;
  /** Sum of the regular files' sizes (hard links once). */
  fileBytes: number;
  /** Sum of the stored pieces (what a full fetch would transfer). */
  storedBytes: number;
  /** Stored bytes of the boot profile's pieces, at the start of the first packs. */
  profileBytes: number;
}

export class ImageFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageFormatError";
  }
}

/** Check what `image.json` parsed to; a clear error for anything but this version. */
export function checkManifest(value: unknown, where: string): ImageManifest {
  const m = value as Partial<ImageManifest> | null;
  if (!m || typeof m !== "object" || m.format !== IMAGE_FORMAT) throw new ImageFormatError(`${where} is not a worker9p image manifest`);
  if (m.version !== IMAGE_VERSION) {
    throw new ImageFormatError(`${where} has image format version ${String(m.version)}; this worker9p reads version ${IMAGE_VERSION} only (rebuild the image with this version's writer)`);
  }
  if (!m.index || typeof m.index.file !== "string" || !/^[0-9a-f]{64}$/.test(m.index.sha256 ?? "") || !Array.isArray(m.packs)) {
    throw new ImageFormatError(`${where}: manifest lacks its index or packs`);
  }
  return m as ImageManifest;
}

function putTime(w: ByteWriter, t: ImageTime): void {
  w.int(t.sec);
  w.uint(t.nsec);
}

function getTime(r: ByteReader): ImageTime {
  return { sec: r.int(), nsec: r.uint() };
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/** The index file: magic, version (uncompressed, so a wrong version is named before anything else is read), then the deflated body. */
export function encodeIndex(index: ImageIndex): Uint8Array {
  const w = new ByteWriter();
  w.uint(index.pieceSize);
  w.uint(index.pieces.length);
  for (const p of index.pieces) {
    if (p.sha256.length !== 32) throw new RangeError("sha256 must be 32 bytes");
    w.raw(p.sha256);
    w.uint(p.pack);
    w.uint(p.offset);
    w.uint(p.stored);
    w.uint(p.raw);
    w.uint(p.flags);
  }
  w.uint(index.inodes.length);
  index.inodes.forEach((n, i) => {
    if (n.ino !== i + 1) throw new RangeError(`inode ${n.ino} at position ${i}`);
    w.uint(n.mode);
    w.uint(n.uid);
    w.uint(n.gid);
    w.uint(n.nlink);
    w.uint(n.rdev);
    w.uint(n.size);
    putTime(w, n.atime);
    putTime(w, n.mtime);
    putTime(w, n.ctime);
    w.uint(n.parent);
    const type = n.mode & S_IFMT;
    if (type === S_IFLNK) w.bytes(n.target ?? new Uint8Array());
    const xattrs = n.xattrs ?? [];
    w.uint(xattrs.length);
    for (const [name, value] of xattrs) {
      w.bytes(utf8.encode(name));
      w.bytes(value);
    }
    if (type === S_IFREG) {
      const pieces = n.pieces ?? [];
      w.uint(pieces.length);
      for (const id of pieces) w.uint(id + 1); // -1 (hole) → 0
    }
    if (type === S_IFDIR) {
      const entries = n.entries ?? [];
      w.uint(entries.length);
      for (const e of entries) {
        w.bytes(e.name);
        w.uint(e.ino);
      }
    }
  });
  const body = deflateSync(w.finish(), { level: 9 });
  const head = new ByteWriter();
  head.raw(Uint8Array.from(INDEX_MAGIC));
  head.uint(IMAGE_VERSION);
  head.raw(body);
  return head.finish();
}

export function decodeIndex(file: Uint8Array): ImageIndex {
  const head = new ByteReader(file);
  const magic = head.raw(4);
  if (INDEX_MAGIC.some((b, i) => magic[i] !== b)) throw new ImageFormatError("not a worker9p image index");
  const version = head.uint();
  if (version !== IMAGE_VERSION) throw new ImageFormatError(`image index format version ${version}; this worker9p reads version ${IMAGE_VERSION} only`);
  let body: Uint8Array;
  try {
    body = inflateSync(file.subarray(head.pos));
  } catch (e) {
    throw new ImageFormatError(`image index does not inflate: ${(e as Error).message}`);
  }
  const r = new ByteReader(body);
  try {
    const pieceSize = r.uint();
    const pieces: ImagePiece[] = [];
    for (let i = r.uint(); i > 0; i--) {
      pieces.push({ sha256: r.raw(32), pack: r.uint(), offset: r.uint(), stored: r.uint(), raw: r.uint(), flags: r.uint() });
    }
    const inodes: ImageInode[] = [];
    const count = r.uint();
    for (let ino = 1; ino <= count; ino++) {
      const n: ImageInode = {
        ino, mode: r.uint(), uid: r.uint(), gid: r.uint(), nlink: r.uint(), rdev: r.uint(), size: r.uint(),
        atime: getTime(r), mtime: getTime(r), ctime: getTime(r), parent: r.uint(),
      };
      const type = n.mode & S_IFMT;
      if (type === S_IFLNK) n.target = r.bytes();
      const nx = r.uint();
      if (nx > 0) {
        n.xattrs = [];
        for (let k = 0; k < nx; k++) n.xattrs.push([utf8d.decode(r.bytes()), r.bytes()]);
      }
      if (type === S_IFREG) {
        n.pieces = [];
        for (let k = r.uint(); k > 0; k--) n.pieces.push(r.uint() - 1);
      }
      if (type === S_IFDIR) {
        n.entries = [];
        for (let k = r.uint(); k > 0; k--) n.entries.push({ name: r.bytes(), ino: r.uint() });
      }
      inodes.push(n);
    }
    if (!r.done) throw new ImageFormatError("image index has trailing bytes");
    checkIndex({ pieceSize, inodes, pieces });
    return { pieceSize, inodes, pieces };
  } catch (e) {
    if (e instanceof ImageFormatError) throw e;
    throw new ImageFormatError(`image index is malformed: ${(e as Error).message}`);
  }
}

/** References stay inside the index: a malformed index is an error at open, not a crash later. */
function checkIndex(index: ImageIndex): void {
  const n = index.inodes.length;
  if (n === 0 || (index.inodes[0]!.mode & S_IFMT) !== S_IFDIR) throw new ImageFormatError("image index: inode 1 is not a directory");
  if (!(index.pieceSize > 0)) throw new ImageFormatError("image index: bad piece size");
  for (const node of index.inodes) {
    for (const e of node.entries ?? []) {
      if (e.ino < 1 || e.ino > n) throw new ImageFormatError(`image index: entry names inode ${e.ino} of ${n}`);
    }
    for (const id of node.pieces ?? []) {
      if (id < -1 || id >= index.pieces.length) throw new ImageFormatError(`image index: piece ${id} of ${index.pieces.length}`);
    }
    if ((node.pieces?.length ?? 0) !== Math.ceil(node.size / index.pieceSize) && (node.mode & S_IFMT) === S_IFREG) {
      throw new ImageFormatError(`image index: inode ${node.ino} has ${node.pieces?.length} pieces for ${node.size} bytes`);
    }
  }
}

export function hex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
