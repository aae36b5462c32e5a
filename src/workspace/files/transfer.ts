/**
 * Moving bytes between the page and the tree: uploads (picked or dropped files,
 * each landing by rename so a failed upload leaves nothing), downloads and exports
 * (streamed to disk), and dropped folders as import entries.
 *
 * Where a download goes, and why: with `showSaveFilePicker` the stream is written
 * straight into the file the user picked, chunk by chunk. Without it (or under
 * automation, where no one can answer the picker) the stream is written into a
 * temporary OPFS file and that file — a disk-backed Blob — is handed to an
 * `<a download>`. Either way nothing holds the whole archive in memory, and no
 * Service Worker is needed. A temporary file is removed by a later download or
 * panel mount once it is ten minutes old: never while the browser may still be
 * copying it out, from this tab or another.
 */
import type { Client } from "../../client/client.js";
import { OpenFlags } from "../../protocol/constants.js";
import { Errno, FsError, isQuotaError } from "../../protocol/errno.js";
import { ArchiveError } from "../archive/entry-path.js";
import type { ImportEntry } from "../archive/import.js";
import { joinPath, kindOf, setModeMtime, tryLstat, UPLOAD_PREFIX, writeFileFromStream } from "../archive/tree9p.js";
import { escapedName } from "./display-name.js";

const DOWNLOAD_DIR = "worker9p-downloads";

function randomSuffix(): string {
  const r = new Uint8Array(6);
  crypto.getRandomValues(r);
  return Array.from(r, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One user-facing message for an upload that did not land. */
export function uploadFailure(e: unknown, name: string): Error {
  if (e instanceof FsError && e.errno === Errno.ENOSPC) return new ArchiveError(`storage full: "${escapedName(name)}" was not uploaded`, name, "full");
  if (e instanceof Error && e.name === "AbortError") return new ArchiveError(`upload of "${escapedName(name)}" cancelled`, name, "cancelled");
  if (e instanceof ArchiveError) return e;
  return new ArchiveError(`"${escapedName(name)}" was not uploaded: ${e instanceof Error ? e.message : String(e)}`, name, "failed");
}

/**
 * Write `file` into folder `dir` as `name` (default: the file's name). The bytes go
 * to a hidden temporary name first and are renamed over the destination at the
 * end, so the destination is either the old file or the whole new one.
 */
export async function uploadFile(
  client: Client,
  dir: string,
  file: Blob & { name?: string; lastModified?: number },
  options: { name?: string; signal?: AbortSignal; onBytes?: (n: number) => void } = {},
): Promise<string> {
  const name = options.name ?? file.name ?? "upload";
  const dest = joinPath(dir, name);
  const temp = joinPath(dir, UPLOAD_PREFIX + randomSuffix());
  try {
    const existing = await tryLstat(client, dest, options.signal);
    if (existing && kindOf(existing.mode) === "directory") throw new ArchiveError(`"${escapedName(name)}" is a folder here; not replaced by a file`, name, "conflict");
    await writeFileFromStream(client, temp, file.stream(), existing ? existing.mode & 0o7777 : 0o644, options.onBytes, options.signal);
    if (file.lastModified !== undefined) await setModeMtime(client, temp, undefined, new Date(file.lastModified), options.signal);
    options.signal?.throwIfAborted();
    await client.rename(temp, dest);
    return dest;
  } catch (e) {
    await client.unlink(temp).catch(() => {});
    throw uploadFailure(e, name);
  }
}

/** A file of the tree as a byte stream, read on demand. */
export function fileStream(client: Client, path: string, signal?: AbortSignal): ReadableStream<Uint8Array> {
  let fid: number | undefined;
  let offset = 0;
  const release = async () => {
    if (fid !== undefined) {
      const f = fid;
      fid = undefined;
      await client.clunk(f).catch(() => {});
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      async start() {
        fid = await client.open(path, OpenFlags.RDONLY, signal);
      },
      async pull(controller) {
        try {
          const data = await client.read(fid!, offset, client.maxIo, signal);
          if (data.length === 0) {
            await release();
            controller.close();
            return;
          }
          offset += data.length;
          controller.enqueue(data.slice());
        } catch (e) {
          await release();
          controller.error(e);
        }
      },
      cancel: release,
    },
    { highWaterMark: 4 },
  );
}

/** Count the bytes that go through a stream (a progress bar's numerator). */
export function counted(stream: ReadableStream<Uint8Array>, onBytes: (total: number) => void): ReadableStream<Uint8Array> {
  let total = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        total += chunk.length;
        onBytes(total);
        c.enqueue(chunk);
      },
    }),
  );
}

interface SavePickerWindow {
  showSaveFilePicker?: (o: { suggestedName?: string }) => Promise<FileSystemFileHandle>;
}

/** Where a download will be written; ask for it first, while the click still counts as a user gesture. */
export interface SaveTarget {
  write(stream: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<void>;
  /** "picker": a file the user chose; "download": the browser's download of a temporary file. */
  readonly via: "picker" | "download";
}

export async function chooseSaveTarget(fileName: string, type = "application/octet-stream"): Promise<SaveTarget | null> {
  const w = window as unknown as SavePickerWindow;
  if (w.showSaveFilePicker && !navigator.webdriver) {
    let handle: FileSystemFileHandle;
    try {
      handle = await w.showSaveFilePicker({ suggestedName: fileName });
    } catch (e) {
      if (e instanceof Error && e.name === "AbortError") return null; // the user closed the picker
      return downloadTarget(fileName, type);
    }
    return {
      via: "picker",
      async write(stream, signal) {
        const out = await handle.createWritable();
        await stream.pipeTo(out, signal ? { signal } : {});
      },
    };
  }
  return downloadTarget(fileName, type);
}

/** How long a temporary download file is kept: enough for the browser to copy it out, whichever tab made it. */
const DOWNLOAD_KEEP_MS = 10 * 60_000;

/** Remove temporary download files older than DOWNLOAD_KEEP_MS (their names start with their creation time). */
export async function sweepDownloads(now = Date.now()): Promise<void> {
  try {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle(DOWNLOAD_DIR, { create: false });
    const names: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    for (const n of names) {
      const made = Number(/^(\d+)-/.exec(n)?.[1] ?? 0);
      if (now - made > DOWNLOAD_KEEP_MS) await dir.removeEntry(n).catch(() => {});
    }
  } catch {
    // No OPFS, or nothing to sweep.
  }
}

function downloadTarget(fileName: string, type: string): SaveTarget {
  return {
    via: "download",
    async write(stream, signal) {
      let blob: Blob;
      const temp = `${Date.now()}-${randomSuffix()}-${fileName}`;
      try {
        const root = await navigator.storage.getDirectory();
        const dir = await root.getDirectoryHandle(DOWNLOAD_DIR, { create: true });
        await sweepDownloads();
        const fh = await dir.getFileHandle(temp, { create: true });
        const out = await fh.createWritable();
        await stream.pipeTo(out, signal ? { signal } : {});
        blob = await fh.getFile();
      } catch (e) {
        if (isQuotaError(e)) throw new ArchiveError("storage full: not enough room in the browser for the download", fileName, "full");
        if (stream.locked || (e instanceof Error && e.name === "AbortError")) throw e;
        // No writable OPFS here: the browser keeps a large Blob on disk by itself.
        blob = await new Response(stream).blob();
      }
      const url = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type }));
      const a = document.createElement("a");
      a.href = url;
      a.download = fileName;
      a.style.display = "none";
      document.body.append(a);
      a.click();
      a.remove();
      // The download has its own reference to the Blob once started; the URL can go.
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
  };
}

/** What a drop carried, read synchronously (a DataTransfer is emptied when the event handler returns). */
export interface Dropped {
  files: File[];
  /** Entries for folder traversal when the browser offers them (webkitGetAsEntry). */
  entries: FileSystemEntry[];
  hasFolders: boolean;
}

export function readDrop(dt: DataTransfer): Dropped {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== "file") continue;
    const entry = item.webkitGetAsEntry?.();
    if (entry) entries.push(entry);
  }
  const files = Array.from(dt.files ?? []);
  return { files, entries, hasFolders: entries.some((e) => e.isDirectory) };
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function entryFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Dropped files and folders as import entries (folders first, then their contents, depth first). */
export async function* droppedEntries(entries: readonly FileSystemEntry[], prefix = ""): AsyncGenerator<ImportEntry> {
  for (const entry of entries) {
    const name = prefix + entry.name;
    if (entry.isDirectory) {
      yield { name: `${name}/`, type: "directory", size: 0 };
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await readBatch(reader);
        if (batch.length === 0) break;
        yield* droppedEntries(batch, `${name}/`);
      }
    } else if (entry.isFile) {
      const file = await entryFile(entry as FileSystemFileEntry);
      yield { name, type: "file", size: file.size, mtime: new Date(file.lastModified), body: file.stream() };
    }
  }
}
