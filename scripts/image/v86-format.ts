// The image's tree in v86's own lazily loaded format, for comparison with ours (issue 11, item 4):
// what v86's tools/fs2json.py (the index) and tools/copy-to-sha256.py (the blobs) make of a
// folder, written here in TypeScript.
//
//   fs.json   {"fsroot": [...], "version": 3, "size": <sum of st_size>}, each entry
//             [name, size, mtime (s), mode, uid, gid, X] with X the children (directory), the
//             target (symlink) or the blob name (regular file); nothing for other types.
//   <blob>    a regular file's bytes, named by the first 8 hex digits of their sha256 + ".bin";
//             v86 fetches it whole (baseurl + blob) on first open.
//
// As in v86's tools: hard links become copies (same blob), device nodes, fifos and sockets are
// left out (v86's loader skips them), xattrs are not kept. Children are sorted by name here.
// Under Node v86 loads basefs and the blobs with fs.readFile, so baseurl is a folder path.

import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";

export const V86_FS_VERSION = 3;
const HASH_CHARS = 8;

/** [name, size, mtime, mode, uid, gid, children | target | blob] */
export type V86Entry = [string, number, number, number, number, number, (V86Entry[] | string)?];

export interface V86Index {
  fsroot: V86Entry[];
  version: number;
  size: number;
}

export interface V86FormatResult {
  /** The fs.json written (v86's `filesystem.basefs`). */
  basefs: string;
  /** The folder holding the blobs, with a trailing "/" (v86's `filesystem.baseurl`). */
  baseurl: string;
  files: number;
  blobs: number;
  blobBytes: number;
}

/** Convert `rootfs` into `outDir`/fs.json and `outDir`/blobs/. */
export async function writeV86Format(rootfs: string, outDir: string): Promise<V86FormatResult> {
  const blobDir = path.join(outDir, "blobs");
  await fsp.mkdir(blobDir, { recursive: true });
  /** short name → full sha256, to refuse a collision of the 8-digit names */
  const blobs = new Map<string, string>();
  let size = 0;
  let files = 0;
  let blobBytes = 0;

  const node = (name: string, st: { size: number; mtimeMs: number; mode: number; uid: number; gid: number }): V86Entry => {
    size += st.size;
    return [name, st.size, Math.floor(st.mtimeMs / 1000), st.mode, st.uid, st.gid];
  };
  const walk = async (dir: string): Promise<V86Entry[]> => {
    const out: V86Entry[] = [];
    for (const name of (await fsp.readdir(dir)).sort()) {
      const p = path.join(dir, name);
      const st = await fsp.lstat(p);
      if (st.isDirectory()) {
        const entry = node(name, st);
        entry.push(await walk(p));
        out.push(entry);
      } else if (st.isSymbolicLink()) {
        const entry = node(name, st);
        entry.push(await fsp.readlink(p));
        out.push(entry);
      } else if (st.isFile()) {
        const data = await fsp.readFile(p);
        const hash = createHash("sha256").update(data).digest("hex");
        const blob = `${hash.slice(0, HASH_CHARS)}.bin`;
        const known = blobs.get(blob);
        if (known !== undefined && known !== hash) throw new Error(`v86 format: two files share the blob name ${blob} (${p})`);
        if (known === undefined) {
          blobs.set(blob, hash);
          await fsp.writeFile(path.join(blobDir, blob), data);
          blobBytes += data.length;
        }
        const entry = node(name, st);
        entry.push(blob);
        out.push(entry);
        files++;
      }
      // device nodes, fifos, sockets: not in v86's format
    }
    return out;
  };
  const fsroot = await walk(rootfs);
  const index: V86Index = { fsroot, version: V86_FS_VERSION, size };
  const basefs = path.join(outDir, "fs.json");
  await fsp.writeFile(basefs, JSON.stringify(index));
  return { basefs, baseurl: blobDir + "/", files, blobs: blobs.size, blobBytes };
}

/** The image in v86's format, converted once into <image>/v86/ (a marker file says it is complete). */
export async function ensureV86Format(image: { dir: string; rootfs: string }, log: (line: string) => void = () => {}): Promise<V86FormatResult> {
  const outDir = path.join(image.dir, "v86");
  const done = path.join(outDir, "done.json");
  try {
    const saved = JSON.parse(await fsp.readFile(done, "utf8")) as V86FormatResult;
    // paths from this image's folder, not the one that converted it (.cache may be shared)
    return { ...saved, basefs: path.join(outDir, "fs.json"), baseurl: path.join(outDir, "blobs") + "/" };
  } catch {
    // not converted yet
  }
  log(`image: converting to v86's format (fs.json + blobs) in ${outDir}`);
  await fsp.rm(outDir, { recursive: true, force: true });
  const result = await writeV86Format(image.rootfs, outDir);
  await fsp.writeFile(done, JSON.stringify(result, null, 2) + "\n");
  log(`image: v86 format: ${result.files} files, ${result.blobs} blobs, ${(result.blobBytes / 2 ** 20).toFixed(1)} MiB`);
  return result;
}
