/**
 * writeImage(): a folder → a base image (FORMAT.md). Node only (it walks the
 * folder with lstat/readdir/readlink, names kept as bytes).
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";
import {
  checkManifest, decodeIndex, encodeIndex, IMAGE_FORMAT, IMAGE_VERSION, MANIFEST_FILE, PIECE_DEFLATE, PIECE_PROFILE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
  type ImageIndex, type ImageInode, type ImageManifest, type ImagePiece, type ImageTime,
} from "./format.js";
import { nameFromBytes } from "../../protocol/name-bytes.js";
import { entryPieces, type ProfileEntry } from "./profile.js";

export const DEFAULT_PIECE_SIZE = 128 * 1024;
const DEFAULT_PACK_BYTES = 8 * 1024 * 1024;

export interface XattrRecord {
  /** Path inside the image ("/usr/bin/ping" or "usr/bin/ping"); bytes for names that are not UTF-8. */
  path: string | Uint8Array;
  name: string;
  value: Uint8Array;
}

export interface WriteImageOptions {
  /**
   * The boot profile (profile.ts): paths (whole files) or the byte ranges used, in first-use
   * order. Those pieces, and only those, go first, together, flagged PIECE_PROFILE.
   */
  profile?: (string | ProfileEntry)[];
  /** Extended attributes Node cannot read itself (file capabilities), e.g. from parseGetfattrDump(). */
  xattrs?: XattrRecord[];
  /** Raw bytes per piece; default 128 KiB. */
  pieceSize?: number;
  /** A pack is closed once it holds this many bytes; default 8 MiB. */
  packBytes?: number;
  /** zlib level 0–9; default 6. */
  level?: number;
  /**
   * An earlier image (a folder) whose inode numbers to keep: a path there
   * with the same file type keeps its number, so a user's layer made over the
   * earlier image still means the same files. Default: the image already in
   * outDir, if any. null: number afresh.
   */
  previous?: string | null;
}

export interface WriteImageResult {
  manifest: ImageManifest;
  /** Profile paths not found in the tree (the builder may want to know). */
  missingProfilePaths: string[];
}

interface SpooledPiece {
  piece: ImagePiece;
  spoolOffset: number;
  order: number;
}

function time(ns: bigint): ImageTime {
  const sec = ns / 1_000_000_000n;
  let nsec = ns % 1_000_000_000n;
  let s = sec;
  if (nsec < 0n) (nsec += 1_000_000_000n), (s -= 1n);
  return { sec: Number(s), nsec: Number(nsec) };
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** "/a/b", "a/b", "./a/b" → "a/b" (as the walk keys paths). */
function normalPath(p: string | Uint8Array): string {
  const s = typeof p === "string" ? p : nameFromBytes(p);
  return s.split("/").filter((c) => c !== "" && c !== ".").join("/");
}

export async function writeImage(rootfsDir: string, outDir: string, options: WriteImageOptions = {}): Promise<WriteImageResult> {
  const pieceSize = options.pieceSize ?? DEFAULT_PIECE_SIZE;
  const packBytes = options.packBytes ?? DEFAULT_PACK_BYTES;
  const level = options.level ?? 6;
  await fsp.mkdir(outDir, { recursive: true });
  const spoolPath = path.join(outDir, `.spool-${process.pid}.tmp`);
  const spool = openSync(spoolPath, "w+");
  let spoolEnd = 0;

  let inodes: ImageInode[] = [];
  /** The path each inode was first reached by (hard links: the first in walk order). */
  const firstPath: string[] = [];
  const previous = await previousNumbers(options.previous === undefined ? outDir : options.previous);
  const byHostIno = new Map<string, number>();
  const byPath = new Map<string, number>();
  const pieceByHash = new Map<string, SpooledPiece>();
  const spooled: SpooledPiece[] = [];
  let fileBytes = 0;

  const xattrsByPath = new Map<string, [string, Uint8Array][]>();
  for (const x of options.xattrs ?? []) {
    const key = normalPath(x.path);
    const list = xattrsByPath.get(key) ?? [];
    list.push([x.name, x.value]);
    xattrsByPath.set(key, list);
  }

  function storePieces(file: Buffer, size: number): number[] {
    const ids: number[] = [];
    if (size === 0) return ids;
    const fd = openSync(file, "r");
    try {
      const buf = Buffer.alloc(pieceSize);
      for (let at = 0; at < size; at += pieceSize) {
        const want = Math.min(pieceSize, size - at);
        let got = 0;
        while (got < want) {
          const n = readSync(fd, buf, got, want - got, at + got);
          if (n === 0) throw new Error(`${file.toString()} shrank while it was read`);
          got += n;
        }
        const raw = buf.subarray(0, want);
        const digest = createHash("sha256").update(raw).digest();
        const key = digest.toString("hex");
        let sp = pieceByHash.get(key);
        if (!sp) {
          const z = deflateRawSync(raw, { level });
          const useZ = z.length < raw.length;
          const stored = useZ ? z : raw;
          writeSync(spool, stored, 0, stored.length, spoolEnd);
          sp = {
            piece: { sha256: new Uint8Array(digest), pack: 0, offset: 0, stored: stored.length, raw: want, flags: useZ ? PIECE_DEFLATE : 0 },
            spoolOffset: spoolEnd,
            order: spooled.length,
          };
          spoolEnd += stored.length;
          pieceByHash.set(key, sp);
          spooled.push(sp);
        }
        ids.push(sp.order);
      }
    } finally {
      closeSync(fd);
    }
    return ids;
  }

  async function visit(hostPath: Buffer, rel: string, parent: number): Promise<number> {
    const st = await fsp.lstat(hostPath, { bigint: true });
    const mode = Number(st.mode);
    const type = mode & S_IFMT;
    const hostKey = `${st.dev}:${st.ino}`;
    if (type !== S_IFDIR && st.nlink > 1n) {
      const seen = byHostIno.get(hostKey);
      if (seen !== undefined) {
        byPath.set(rel, seen);
        return seen;
      }
    }
    const ino = inodes.length + 1; // provisional: renumbered once the walk is done
    firstPath.push(rel);
    const node: ImageInode = {
      ino, mode, uid: Number(st.uid), gid: Number(st.gid), nlink: 1, rdev: Number(st.rdev), size: 0,
      atime: time(st.atimeNs), mtime: time(st.mtimeNs), ctime: time(st.ctimeNs), parent: 0,
    };
    inodes.push(node);
    byPath.set(rel, ino);
    if (type !== S_IFDIR && st.nlink > 1n) byHostIno.set(hostKey, ino);
    const xattrs = xattrsByPath.get(rel);
    if (xattrs) node.xattrs = xattrs;
    if (type === S_IFREG) {
      node.size = Number(st.size);
      fileBytes += node.size;
      node.pieces = storePieces(hostPath, node.size);
    } else if ((mode & S_IFMT) === S_IFLNK) {
      const target = await fsp.readlink(hostPath, { encoding: "buffer" });
      node.target = new Uint8Array(target);
      node.size = target.length;
    } else if (type === S_IFDIR) {
      node.parent = parent === 0 ? ino : parent;
      const names = (await fsp.readdir(hostPath, { encoding: "buffer" })).sort(compareBytes);
      node.entries = [];
      for (const name of names) {
        const childRel = rel === "" ? nameFromBytes(name) : `${rel}/${nameFromBytes(name)}`;
        const child = await visit(Buffer.concat([hostPath, Buffer.from("/"), name]), childRel, ino);
        node.entries.push({ name: new Uint8Array(name), ino: child });
      }
    }
    return ino;
  }

  try {
    const rootStat = await fsp.lstat(rootfsDir);
    if (!rootStat.isDirectory()) throw new Error(`${rootfsDir} is not a directory`);
    await visit(Buffer.from(path.resolve(rootfsDir)), "", 0);
    const final = renumber(inodes, firstPath, previous);
    for (const [rel, tmp] of byPath) byPath.set(rel, final.map[tmp - 1]!);
    inodes = final.inodes;
    // Link counts: one per entry; a directory also has "." and each subdirectory's "..".
    for (const n of inodes) if (n.mode !== 0) n.nlink = (n.mode & S_IFMT) === S_IFDIR ? 2 : 0;
    for (const n of inodes) {
      for (const e of n.entries ?? []) {
        const child = inodes[e.ino - 1]!;
        if ((child.mode & S_IFMT) === S_IFDIR) n.nlink++;
        else child.nlink++;
      }
    }

    // Pack order: the profile's pieces first, in first-use order, then the rest in tree order.
    const missingProfilePaths: string[] = [];
    const ordered: SpooledPiece[] = [];
    const placed = new Set<number>();
    for (const p of options.profile ?? []) {
      const entry = typeof p === "string" ? { path: p } : p;
      const ino = byPath.get(normalPath(entry.path));
      if (ino === undefined) {
        if (!missingProfilePaths.includes(entry.path)) missingProfilePaths.push(entry.path);
        continue;
      }
      const node = inodes[ino - 1]!;
      for (const at of entryPieces(entry, node.size, pieceSize)) {
        const id = node.pieces?.[at] ?? -1;
        if (id < 0 || placed.has(id)) continue;
        placed.add(id);
        spooled[id]!.piece.flags |= PIECE_PROFILE;
        ordered.push(spooled[id]!);
      }
    }
    let profileBytes = 0;
    for (const sp of ordered) profileBytes += sp.piece.stored;
    for (const sp of spooled) if (!placed.has(sp.order)) ordered.push(sp);

    const packs: { file: string; bytes: number }[] = [];
    let current: Buffer[] = [];
    let currentBytes = 0;
    const flush = async (): Promise<void> => {
      if (currentBytes === 0) return;
      const data = Buffer.concat(current);
      const file = `pack-${createHash("sha256").update(data).digest("hex").slice(0, 24)}.bin`;
      await fsp.writeFile(path.join(outDir, file), data);
      packs.push({ file, bytes: data.length });
      current = [];
      currentBytes = 0;
    };
    for (const sp of ordered) {
      if (currentBytes > 0 && currentBytes + sp.piece.stored > packBytes) await flush();
      const data = Buffer.alloc(sp.piece.stored);
      readSync(spool, data, 0, data.length, sp.spoolOffset);
      sp.piece.pack = packs.length;
      sp.piece.offset = currentBytes;
      current.push(data);
      currentBytes += data.length;
    }
    await flush();

    const index = encodeIndex({ pieceSize, inodes, pieces: spooled.map((s) => s.piece) });
    const indexHash = createHash("sha256").update(index).digest("hex");
    const indexFile = `index-${indexHash.slice(0, 24)}.bin`;
    await fsp.writeFile(path.join(outDir, indexFile), index);
    const manifest: ImageManifest = {
      format: IMAGE_FORMAT,
      version: IMAGE_VERSION,
      index: { file: indexFile, sha256: indexHash, bytes: index.length },
      packs,
      pieceSize,
      inodes: inodes.length,
      fileBytes,
      storedBytes: spoolEnd,
      profileBytes,
    };
    // The manifest last, replaced atomically: a reader never sees one naming files not yet written.
    const tmp = path.join(outDir, `${MANIFEST_FILE}.tmp`);
    await fsp.writeFile(tmp, JSON.stringify(manifest, null, 1) + "\n");
    await fsp.rename(tmp, path.join(outDir, MANIFEST_FILE));
    // Files of an earlier image in the same folder are no longer named by the manifest.
    const keep = new Set([indexFile, ...packs.map((p) => p.file)]);
    for (const f of await fsp.readdir(outDir)) {
      if (/^(pack|index)-[0-9a-f]+\.bin$/.test(f) && !keep.has(f)) await fsp.rm(path.join(outDir, f));
    }
    return { manifest, missingProfilePaths };
  } finally {
    closeSync(spool);
    await fsp.rm(spoolPath, { force: true });
  }
}

/** Path → [ino, file type] of the image in `dir`, or an empty map when there is none (or of another version). */
async function previousNumbers(dir: string | null): Promise<Map<string, [number, number]>> {
  const out = new Map<string, [number, number]>();
  if (dir === null) return out;
  let index: ImageIndex;
  try {
    const manifest = checkManifest(JSON.parse(await fsp.readFile(path.join(dir, MANIFEST_FILE), "utf8")), MANIFEST_FILE);
    index = decodeIndex(new Uint8Array(await fsp.readFile(path.join(dir, manifest.index.file))));
  } catch {
    return out;
  }
  const walk = (ino: number, rel: string): void => {
    const node = index.inodes[ino - 1]!;
    if (out.has(rel)) return;
    out.set(rel, [ino, node.mode & S_IFMT]);
    for (const e of node.entries ?? []) walk(e.ino, rel === "" ? nameFromBytes(e.name) : `${rel}/${nameFromBytes(e.name)}`);
  };
  walk(1, "");
  return out;
}

/**
 * Final inode numbers: a path the previous image had, with the same type,
 * keeps its number; others take numbers past the previous image's. Numbers
 * left unused are placeholders (mode 0) in the index.
 */
function renumber(nodes: ImageInode[], firstPath: string[], previous: Map<string, [number, number]>): { inodes: ImageInode[]; map: number[] } {
  const map: number[] = new Array(nodes.length).fill(0);
  const used = new Set<number>();
  nodes.forEach((n, i) => {
    const old = previous.get(firstPath[i]!);
    if (old && old[1] === (n.mode & S_IFMT) && !used.has(old[0])) {
      map[i] = old[0];
      used.add(old[0]);
    }
  });
  let next = 1;
  for (const [, [ino]] of previous) next = Math.max(next, ino + 1);
  if (previous.size === 0) next = 1;
  nodes.forEach((_, i) => {
    if (map[i] === 0) {
      while (used.has(next)) next++;
      map[i] = next;
      used.add(next);
    }
  });
  const count = Math.max(0, ...map);
  const zero = { sec: 0, nsec: 0 };
  const out: ImageInode[] = Array.from({ length: count }, (_, i) => ({
    ino: i + 1, mode: 0, uid: 0, gid: 0, nlink: 0, rdev: 0, size: 0, atime: zero, mtime: zero, ctime: zero, parent: 0,
  }));
  nodes.forEach((n, i) => {
    const moved: ImageInode = { ...n, ino: map[i]!, parent: n.parent === 0 ? 0 : map[n.parent - 1]! };
    if (n.entries) moved.entries = n.entries.map((e) => ({ name: e.name, ino: map[e.ino - 1]! }));
    out[map[i]! - 1] = moved;
  });
  return { inodes: out, map };
}

/**
 * Extended attributes from `getfattr -R -d -m - -e hex --absolute-names DIR`
 * run in (or relative to) the image folder; `root` is stripped from the paths.
 */
export function parseGetfattrDump(text: string, root = ""): XattrRecord[] {
  const out: XattrRecord[] = [];
  let file: Uint8Array | undefined;
  const rootNorm = normalPath(root);
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      file = unescapeOctal(line.slice(8));
      continue;
    }
    const eq = line.indexOf("=");
    if (!file || line.startsWith("#") || eq <= 0) continue;
    const name = line.slice(0, eq);
    const value = decodeGetfattrValue(line.slice(eq + 1));
    let rel = normalPath(file);
    if (rootNorm !== "" && (rel === rootNorm || rel.startsWith(rootNorm + "/"))) rel = rel.slice(rootNorm.length + 1);
    out.push({ path: rel, name, value });
  }
  return out;
}

function unescapeOctal(s: string): Uint8Array {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      bytes.push(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      for (const b of enc.encode(s[i]!)) bytes.push(b);
    }
  }
  return Uint8Array.from(bytes);
}

function decodeGetfattrValue(v: string): Uint8Array {
  if (v.startsWith("0x")) return Uint8Array.from(Buffer.from(v.slice(2), "hex"));
  if (v.startsWith("0s")) return Uint8Array.from(Buffer.from(v.slice(2), "base64"));
  if (v.startsWith('"') && v.endsWith('"')) return unescapeOctal(v.slice(1, -1));
  return new TextEncoder().encode(v);
}
