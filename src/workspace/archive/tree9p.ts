/**
 * Path-level helpers over the project's 9P client that the archive code and the
 * files panel share: lstat, symlinks, hard links, recursive removal, and
 * streaming a body into a file with a few writes in flight.
 */
import type { Client } from "../../client/client.js";
import { AT_REMOVEDIR, GetattrMask, Mode, OpenFlags, SetattrMask } from "../../protocol/constants.js";
import { Errno, FsError } from "../../protocol/errno.js";
import type { Attr } from "../../protocol/messages.js";

export const { IFMT: S_IFMT, IFDIR: S_IFDIR, IFREG: S_IFREG, IFLNK: S_IFLNK } = Mode;

/** Hidden folders an import stages in (./import.ts). */
export const STAGING_PREFIX = ".worker9p-import-";
/** Hidden files an upload writes before renaming into place (../files/transfer.ts). */
export const UPLOAD_PREFIX = ".worker9p-upload-";

/** A staging folder or upload in progress (or left by a crash): never listed, exported or imported over. */
export function isTransientName(name: string): boolean {
  return name.startsWith(STAGING_PREFIX) || name.startsWith(UPLOAD_PREFIX);
}

export type NodeKind = "file" | "directory" | "symlink" | "other";

export function kindOf(mode: number): NodeKind {
  switch (mode & S_IFMT) {
    case S_IFDIR:
      return "directory";
    case S_IFREG:
      return "file";
    case S_IFLNK:
      return "symlink";
    default:
      return "other";
  }
}

export function joinPath(dir: string, name: string): string {
  return dir === "" || dir === "/" ? name : `${dir.replace(/\/+$/, "")}/${name}`;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Attributes of `path` itself (a walk never follows a symlink). */
export async function lstat(client: Client, path: string, signal?: AbortSignal): Promise<Attr> {
  const { fid } = await client.walk(path, client.root, signal);
  try {
    return (await client.request({ type: "Tgetattr", fid, mask: GetattrMask.ALL }, signal)).attr;
  } finally {
    await client.clunk(fid).catch(() => {});
  }
}

/** lstat, or undefined when nothing is there. */
export async function tryLstat(client: Client, path: string, signal?: AbortSignal): Promise<Attr | undefined> {
  try {
    return await lstat(client, path, signal);
  } catch (e) {
    if (e instanceof FsError && (e.errno === Errno.ENOENT || e.errno === Errno.ENOTDIR)) return undefined;
    throw e;
  }
}

export async function readlink(client: Client, path: string, signal?: AbortSignal): Promise<string> {
  const { fid } = await client.walk(path, client.root, signal);
  try {
    return (await client.request({ type: "Treadlink", fid }, signal)).target;
  } finally {
    await client.clunk(fid).catch(() => {});
  }
}

export async function symlink(client: Client, path: string, target: string, signal?: AbortSignal): Promise<void> {
  const { fid } = await client.walk(parentOf(path), client.root, signal);
  try {
    await client.request({ type: "Tsymlink", fid, name: baseName(path), target, gid: 0 }, signal);
  } finally {
    await client.clunk(fid).catch(() => {});
  }
}

/** A hard link at `path` to the existing file `existing`. */
export async function hardlink(client: Client, existing: string, path: string, signal?: AbortSignal): Promise<void> {
  const { fid: dfid } = await client.walk(parentOf(path), client.root, signal);
  try {
    const { fid } = await client.walk(existing, client.root, signal);
    try {
      await client.request({ type: "Tlink", dfid, fid, name: baseName(path) }, signal);
    } finally {
      await client.clunk(fid).catch(() => {});
    }
  } finally {
    await client.clunk(dfid).catch(() => {});
  }
}

/** Set permission bits and/or the modification time through an open fid. */
export async function setattrFid(client: Client, fid: number, mode: number | undefined, mtime: Date | undefined, signal?: AbortSignal): Promise<void> {
  let valid = 0;
  if (mode !== undefined) valid |= SetattrMask.MODE;
  if (mtime !== undefined) valid |= SetattrMask.MTIME | SetattrMask.MTIME_SET;
  if (valid === 0) return;
  const ms = mtime?.getTime() ?? 0;
  await client.request(
    {
      type: "Tsetattr",
      fid,
      attr: {
        valid,
        mode: mode ?? 0,
        uid: 0,
        gid: 0,
        size: 0,
        atime: { sec: 0, nsec: 0 },
        mtime: { sec: Math.floor(ms / 1000), nsec: (((ms % 1000) + 1000) % 1000) * 1e6 },
      },
    },
    signal,
  );
}

/** Set permission bits and/or the modification time of `path` (no follow). */
export async function setModeMtime(client: Client, path: string, mode: number | undefined, mtime: Date | undefined, signal?: AbortSignal): Promise<void> {
  if (mode === undefined && mtime === undefined) return;
  const { fid } = await client.walk(path, client.root, signal);
  try {
    await setattrFid(client, fid, mode, mtime, signal);
  } finally {
    await client.clunk(fid).catch(() => {});
  }
}

/** `rm -rf path`: depth first, each directory emptied before it is removed. */
export async function removeTree(client: Client, path: string, signal?: AbortSignal): Promise<void> {
  const attr = await tryLstat(client, path, signal);
  if (!attr) return;
  if (kindOf(attr.mode) === "directory") {
    for (const e of await client.readdir(path)) {
      if (e.name === "." || e.name === "..") continue;
      await removeTree(client, joinPath(path, e.name), signal);
    }
    await client.unlink(path, AT_REMOVEDIR);
  } else {
    await client.unlink(path);
  }
}

/** Names in a directory, without "." and "..". */
export async function listNames(client: Client, path: string): Promise<string[]> {
  return (await client.readdir(path)).map((e) => e.name).filter((n) => n !== "." && n !== "..");
}

/** How many Twrites one body keeps in flight: enough to hide a MessagePort round trip, few enough to bound memory. */
const WRITE_WINDOW = 4;

/**
 * Copy a byte stream into an open fid from offset 0, in msize-sized Twrites with
 * a few in flight. Returns the bytes written. Each Twrite gets its own buffer,
 * since the stream may reuse the chunks it hands out.
 */
export async function writeStream(
  client: Client,
  fid: number,
  body: ReadableStream<Uint8Array>,
  onBytes?: (n: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  const block = client.maxIo;
  const inFlight: Promise<void>[] = [];
  let offset = 0;
  let pending = new Uint8Array(block);
  let filled = 0;
  const flush = async (): Promise<void> => {
    if (filled === 0) return;
    const data = pending.subarray(0, filled);
    const at = offset;
    offset += filled;
    pending = new Uint8Array(block);
    filled = 0;
    const write = client.writeAll(fid, at, data, signal).then(() => onBytes?.(data.length));
    write.catch(() => {}); // awaited below; this only keeps a failure from counting as unhandled meanwhile
    inFlight.push(write);
    if (inFlight.length >= WRITE_WINDOW) await inFlight.shift();
  };
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let i = 0;
      while (i < value.length) {
        const n = Math.min(block - filled, value.length - i);
        pending.set(value.subarray(i, i + n), filled);
        filled += n;
        i += n;
        if (filled === block) await flush();
      }
    }
    await flush();
    await Promise.all(inFlight);
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    await Promise.allSettled(inFlight);
    throw e;
  } finally {
    reader.releaseLock();
  }
  return offset;
}

/** Create (truncating) `path` with `mode`, fill it from `body` (a stream or bytes at hand), then set its mtime: one fid throughout. */
export async function writeFileFromStream(
  client: Client,
  path: string,
  body: ReadableStream<Uint8Array> | Uint8Array,
  mode = 0o644,
  onBytes?: (n: number) => void,
  signal?: AbortSignal,
  mtime?: Date,
): Promise<number> {
  const { fid } = await client.create(path, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC, mode, signal);
  try {
    let n: number;
    if (body instanceof Uint8Array) {
      await client.writeAll(fid, 0, body, signal);
      onBytes?.(body.length);
      n = body.length;
    } else n = await writeStream(client, fid, body, onBytes, signal);
    // After the writes, which set mtime to now.
    await setattrFid(client, fid, undefined, mtime, signal);
    return n;
  } finally {
    await client.clunk(fid).catch(() => {});
  }
}

/** A whole (small) stream as one buffer. */
export async function readAllBytes(body: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let off = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (off + value.length > size) throw new FsError(Errno.EIO, `body longer than its ${size} bytes`);
      out.set(value, off);
      off += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  return off === size ? out : out.subarray(0, off);
}
