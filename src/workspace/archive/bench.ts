/**
 * Import/export speed of the archive code, for `npm run bench:workspace` (the
 * shell's bench script calls `benchArchive` in the page and prints the rows).
 *
 * Two tarballs, as issue 9 asks: 10,000 small files (files/s is the figure that
 * matters) and one 200 MiB file (MB/s). Each is imported into the tree, exported
 * back as .tar and as .tar.gz (drained, not saved), and written raw to OPFS with
 * the page's own FileSystemWritableFileStream — the same bytes without 9P, the
 * staging folder or the tree, as the yardstick. The tarballs are built before
 * any clock starts, in a temporary OPFS file when there is OPFS (else a Blob).
 */
import { createTarPacker } from "modern-tar";
import type { Client } from "../../client/client.js";
import { exportTree } from "./export.js";
import { importEntries } from "./import.js";
import { tarEntries } from "./tar-source.js";
import { removeTree } from "./tree9p.js";

export interface ArchiveBenchOptions {
  smallFiles?: number;
  /** Sizes of the small files cycle between these bounds (default 512 B – 4 KiB). */
  smallMin?: number;
  smallMax?: number;
  bigBytes?: number;
  /** Folder of the tree the runs use (created and removed; default ".bench-archive"). */
  folder?: string;
  /** Skip the raw OPFS yardstick even where OPFS exists. */
  noRaw?: boolean;
  onStep?: (row: ArchiveBenchRow) => void;
}

export interface ArchiveBenchRow {
  /** "10,000 small files" or "one 200 MiB file". */
  set: string;
  step: "import .tar" | "export .tar" | "export .tar.gz" | "raw OPFS write";
  files: number;
  /** File bytes (not archive bytes). */
  bytes: number;
  ms: number;
  mbPerS: number;
  filesPerS: number;
}

const MiB = 1024 * 1024;

interface Spec {
  label: string;
  files: { name: string; size: number }[];
}

const WORDS = "the of and to in is that for it as with was on be by at this are from or have an they which one you had not but what all were when we there can more if out so said use each she do how their will up other about many then them these some her would make like him into time has look two go see no way could people my than first been call who its now find long down day did get come made may part over new sound take only little work know place year live me back give most very after thing our just name good sentence man think say great where help through much before line right too mean old any same tell boy follow came want show also around form three small set put end does another well large must big even such because turn here why ask went men read need land different home us move try kind hand picture again change off play spell air away animal house point page letter mother answer found study still learn should world".split(" ");

/** Deterministic text-like bytes for file `seed` (source trees and documents compress like this; random bytes would make gzip look either free or pathological). */
function fill(buf: Uint8Array, seed: number): Uint8Array {
  let x = (seed * 2654435761) >>> 0 || 1;
  let i = 0;
  let col = 0;
  while (i < buf.length) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const w = WORDS[(x >>> 0) % WORDS.length]!;
    for (let k = 0; k < w.length && i < buf.length; k++) buf[i++] = w.charCodeAt(k);
    col += w.length + 1;
    if (i < buf.length) buf[i++] = col > 72 ? 10 : 32;
    if (col > 72) col = 0;
  }
  return buf;
}

function tarball(spec: Spec): ReadableStream<Uint8Array> {
  const { readable, controller } = createTarPacker();
  void (async () => {
    try {
      const dirs = new Set<string>();
      for (let i = 0; i < spec.files.length; i++) {
        const f = spec.files[i]!;
        const dir = f.name.slice(0, f.name.lastIndexOf("/"));
        if (dir && !dirs.has(dir)) {
          dirs.add(dir);
          await controller.add({ name: `${dir}/`, type: "directory", size: 0, mode: 0o755 }).close();
        }
        const w = controller.add({ name: f.name, size: f.size, mode: 0o644 }).getWriter();
        for (let off = 0; off < f.size; off += MiB) await w.write(fill(new Uint8Array(Math.min(MiB, f.size - off)), i * 7919 + off));
        await w.close();
      }
      controller.finalize();
    } catch (e) {
      controller.error(e);
    }
  })();
  return readable;
}

async function opfsDir(): Promise<FileSystemDirectoryHandle | undefined> {
  try {
    if (typeof navigator === "undefined" || !navigator.storage?.getDirectory) return undefined;
    const root = await navigator.storage.getDirectory();
    return await root.getDirectoryHandle("worker9p-bench-archive", { create: true });
  } catch {
    return undefined;
  }
}

async function materialize(stream: ReadableStream<Uint8Array>, dir: FileSystemDirectoryHandle | undefined, name: string): Promise<Blob> {
  if (dir && "createWritable" in FileSystemFileHandle.prototype) {
    const fh = await dir.getFileHandle(name, { create: true });
    const w = await fh.createWritable();
    await stream.pipeTo(w);
    return fh.getFile();
  }
  return new Response(stream).blob();
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  const r = stream.getReader();
  for (;;) {
    const { done, value } = await r.read();
    if (done) return n;
    n += value.length;
  }
}

async function rawOpfs(dir: FileSystemDirectoryHandle, spec: Spec): Promise<void> {
  const top = await dir.getDirectoryHandle("raw", { create: true });
  const dirs = new Map<string, FileSystemDirectoryHandle>();
  for (let i = 0; i < spec.files.length; i++) {
    const f = spec.files[i]!;
    const slash = f.name.lastIndexOf("/");
    const dname = f.name.slice(0, slash);
    let d = dirs.get(dname);
    if (!d) dirs.set(dname, (d = await top.getDirectoryHandle(dname.replaceAll("/", "_"), { create: true })));
    const w = await (await d.getFileHandle(f.name.slice(slash + 1), { create: true })).createWritable();
    for (let off = 0; off < f.size; off += MiB) await w.write(fill(new Uint8Array(Math.min(MiB, f.size - off)), i * 7919 + off) as Uint8Array<ArrayBuffer>);
    await w.close();
  }
  await dir.removeEntry("raw", { recursive: true });
}

/** Run the archive benchmark on `client`'s tree; returns one row per set and step. */
export async function benchArchive(client: Client, options: ArchiveBenchOptions = {}): Promise<ArchiveBenchRow[]> {
  const smallFiles = options.smallFiles ?? 10_000;
  const lo = options.smallMin ?? 512;
  const hi = options.smallMax ?? 4096;
  const bigBytes = options.bigBytes ?? 200 * MiB;
  const folder = options.folder ?? ".bench-archive";
  const specs: Spec[] = [
    {
      label: `${smallFiles.toLocaleString("en")} small files`,
      files: Array.from({ length: smallFiles }, (_, i) => ({ name: `small/d${Math.floor(i / 100)}/f${i}.txt`, size: lo + ((i * 997) % (hi - lo + 1)) })),
    },
    { label: `one ${Math.round(bigBytes / MiB)} MiB file`, files: [{ name: "big/file.bin", size: bigBytes }] },
  ];
  const dir = await opfsDir();
  const rows: ArchiveBenchRow[] = [];
  const record = (spec: Spec, step: ArchiveBenchRow["step"], ms: number) => {
    const bytes = spec.files.reduce((s, f) => s + f.size, 0);
    const row: ArchiveBenchRow = { set: spec.label, step, files: spec.files.length, bytes, ms, mbPerS: bytes / MiB / (ms / 1000), filesPerS: spec.files.length / (ms / 1000) };
    rows.push(row);
    options.onStep?.(row);
  };
  await removeTree(client, folder);
  await client.mkdir(folder);
  try {
    for (const [i, spec] of specs.entries()) {
      const blob = await materialize(tarball(spec), dir, `tarball-${i}.tar`);
      const target = `${folder}/set${i}`;
      await client.mkdir(target);
      let t = performance.now();
      await importEntries(client, target, tarEntries(blob.stream()));
      record(spec, "import .tar", performance.now() - t);
      const top = spec.files[0]!.name.split("/")[0]!;
      t = performance.now();
      await drain(exportTree(client, `${target}/${top}`, { gzip: false }));
      record(spec, "export .tar", performance.now() - t);
      t = performance.now();
      await drain(exportTree(client, `${target}/${top}`));
      record(spec, "export .tar.gz", performance.now() - t);
      await removeTree(client, target);
      if (dir && !options.noRaw) {
        t = performance.now();
        await rawOpfs(dir, spec);
        record(spec, "raw OPFS write", performance.now() - t);
      }
      await dir?.removeEntry(`tarball-${i}.tar`).catch(() => {});
    }
  } finally {
    await removeTree(client, folder).catch(() => {});
  }
  return rows;
}

/** The rows as a text table (what bench:workspace prints under its guest table). */
export function formatArchiveBench(rows: readonly ArchiveBenchRow[]): string {
  const head = ["set", "step", "MB/s", "files/s", "time"];
  const body = rows.map((r) => [r.set, r.step, r.mbPerS.toFixed(1), Math.round(r.filesPerS).toLocaleString("en"), `${(r.ms / 1000).toFixed(2)} s`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(head), ...body.map(line)].join("\n");
}
