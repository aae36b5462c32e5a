/**
 * Export a folder of the tree (or the whole tree) as a tar stream, gzipped by
 * default, read from 9P a chunk at a time.
 *
 * Invariant (3), bounded memory: the tar packer's output queue is bounded
 * (modern-tar: 8 MiB) and each body chunk waits for its write to be accepted, so
 * a slow consumer (a download, a disk) stalls the 9P reads instead of letting
 * them pile up. `ExportMeter` counts the bytes in between, so a test can check
 * the bound on a counter rather than on a clock.
 */
import { createTarPacker, type TarHeader } from "modern-tar";
import type { Client } from "../../client/client.js";
import { OpenFlags } from "../../protocol/constants.js";
import type { Attr } from "../../protocol/messages.js";
import { ArchiveError } from "./entry-path.js";
import { gzipStream, type GzipKind } from "./gzip.js";
import { baseName, isTransientName, joinPath, kindOf, lstat, readlink, tryLstat } from "./tree9p.js";

export interface ExportProgress {
  entries: number;
  /** File bytes read from the tree so far. */
  bytes: number;
  current: string;
}

/** Bytes read from the tree and not yet handed on by the tar stream (tar headers count as handed on). */
export interface ExportMeter {
  held: number;
  peak: number;
}

export interface ExportOptions {
  /** Gzip the tar (default true: "fast", see gzip.ts; "small" is the browser's CompressionStream). */
  gzip?: boolean | GzipKind;
  signal?: AbortSignal;
  onProgress?: (p: ExportProgress) => void;
  meter?: ExportMeter;
}

/** Reads of one file kept in flight: hides the round trip, bounded by the packer's backpressure. */
const READ_AHEAD = 4;
/** Stats in flight while listing one folder. */
const STAT_BATCH = 32;

function mtimeOf(a: Attr): Date {
  return new Date(a.mtime.sec * 1000 + Math.floor(a.mtime.nsec / 1e6));
}

/** How many entries and file bytes a folder holds (a metadata-only walk: the progress bar's denominator). */
export async function measureTree(client: Client, path: string, signal?: AbortSignal): Promise<{ entries: number; bytes: number }> {
  const total = { entries: 0, bytes: 0 };
  const visit = async (p: string): Promise<void> => {
    const children = await listChildren(client, p, signal);
    for (const { path: cp, attr } of children) {
      total.entries++;
      const kind = kindOf(attr.mode);
      if (kind === "file") total.bytes += attr.size;
      else if (kind === "directory") await visit(cp);
    }
  };
  await visit(path);
  return total;
}

/** A folder's entries (transient work files left out) with their attributes, in name order. */
export async function listChildren(client: Client, dir: string, signal?: AbortSignal): Promise<{ name: string; path: string; attr: Attr }[]> {
  const names = (await client.readdir(dir))
    .map((e) => e.name)
    .filter((n) => n !== "." && n !== ".." && !isTransientName(n))
    .sort();
  const out: { name: string; path: string; attr: Attr }[] = [];
  for (let i = 0; i < names.length; i += STAT_BATCH) {
    const batch = names.slice(i, i + STAT_BATCH);
    // An entry removed between readdir and its lstat (the guest deleting as we look) is skipped, as tar does.
    const attrs = await Promise.all(batch.map((n) => tryLstat(client, joinPath(dir, n), signal)));
    batch.forEach((n, j) => {
      const attr = attrs[j];
      if (attr) out.push({ name: n, path: joinPath(dir, n), attr });
    });
  }
  return out;
}

/** The tar stream of `path` ("" is the whole tree; a folder's entries are prefixed with its name). */
export function exportTree(client: Client, path: string, options: ExportOptions = {}): ReadableStream<Uint8Array> {
  const { signal, meter } = options;
  const { readable, controller } = createTarPacker();
  const progress: ExportProgress = { entries: 0, bytes: 0, current: "" };
  const hardLinks = new Map<number, string>();

  const add = async (header: TarHeader, body?: (w: WritableStreamDefaultWriter<Uint8Array>) => Promise<void>): Promise<void> => {
    const w = controller.add(header).getWriter();
    if (body) await body(w);
    await w.close();
    progress.entries++;
    options.onProgress?.({ ...progress });
  };

  const copyFile = async (w: WritableStreamDefaultWriter<Uint8Array>, filePath: string, size: number): Promise<void> => {
    const fid = await client.open(filePath, OpenFlags.RDONLY, signal);
    try {
      const chunk = client.maxIo;
      const reads: Promise<Uint8Array>[] = [];
      let asked = 0;
      let sent = 0;
      const ask = () => {
        while (reads.length < READ_AHEAD && asked < size) {
          const n = Math.min(chunk, size - asked);
          const r = client.read(fid, asked, n, signal);
          r.catch(() => {});
          reads.push(r);
          asked += n;
        }
      };
      ask();
      while (sent < size) {
        const next = reads.shift();
        // The file shrank since its stat: the header promised `size` bytes, so pad with zeros.
        let data = next ? (await next).slice() : new Uint8Array(Math.min(chunk, size - sent));
        if (data.length === 0) data = new Uint8Array(Math.min(chunk, size - sent));
        data = data.subarray(0, size - sent);
        if (meter) {
          meter.held += data.length;
          meter.peak = Math.max(meter.peak, meter.held);
        }
        ask();
        await w.write(data);
        sent += data.length;
        progress.bytes += data.length;
        options.onProgress?.({ ...progress });
      }
      await Promise.allSettled(reads);
    } finally {
      await client.clunk(fid).catch(() => {});
    }
  };

  const visit = async (dir: string, prefix: string): Promise<void> => {
    for (const { name, path: p, attr } of await listChildren(client, dir, signal)) {
      signal?.throwIfAborted();
      const arch = prefix === "" ? name : `${prefix}/${name}`;
      progress.current = arch;
      const base = { name: arch, mode: attr.mode & 0o7777, mtime: mtimeOf(attr), uid: attr.uid, gid: attr.gid };
      switch (kindOf(attr.mode)) {
        case "directory":
          await add({ ...base, name: `${arch}/`, type: "directory", size: 0 });
          await visit(p, arch);
          break;
        case "symlink":
          await add({ ...base, type: "symlink", size: 0, linkname: await readlink(client, p, signal) });
          break;
        case "file": {
          const first = attr.nlink > 1 ? hardLinks.get(attr.qid.path) : undefined;
          if (first !== undefined) {
            await add({ ...base, type: "link", size: 0, linkname: first });
            break;
          }
          if (attr.nlink > 1) hardLinks.set(attr.qid.path, arch);
          await add({ ...base, type: "file", size: attr.size }, (w) => copyFile(w, p, attr.size));
          break;
        }
        default:
          break; // devices, fifos, sockets: nothing a tarball of files needs
      }
    }
  };

  void (async () => {
    try {
      if (path === "") await visit("", "");
      else {
        const attr = await lstat(client, path, signal);
        if (kindOf(attr.mode) !== "directory") throw new ArchiveError(`"${path}" is not a folder`, path, "failed");
        const top = baseName(path);
        await add({ name: `${top}/`, type: "directory", size: 0, mode: attr.mode & 0o7777, mtime: mtimeOf(attr) });
        await visit(path, top);
      }
      controller.finalize();
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      controller.error(e instanceof ArchiveError ? e : new ArchiveError(`export failed at "${progress.current}": ${msg}`, progress.current, "failed"));
    }
  })();

  const counted = meter
    ? readable.pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, c) {
            meter.held = Math.max(0, meter.held - chunk.length);
            c.enqueue(chunk);
          },
        }),
      )
    : readable;
  if (options.gzip === false) return counted;
  return counted.pipeThrough(gzipStream(options.gzip === "small" ? "small" : "fast"));
}
