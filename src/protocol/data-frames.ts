/**
 * The data path's frames, built without an intermediate buffer: Rread and
 * Twrite frames whose payload is filled in place or sent as a separate
 * buffer, and Rreaddir's directory entries.
 */
import { HEADER_SIZE, MessageType } from "./constants.js";
import { Errno } from "./errno.js";
import type { DirEntry } from "./messages.js";
import { utf8Length } from "./name-bytes.js";
import { EncodeError, Reader, Writer, freshFrame, type FrameAlloc } from "./wire.js";
import { QID_SIZE } from "./body-codec.js";

/** Rread / Rreaddir: header + count[4]. */
const RREAD_HEADER = HEADER_SIZE + 4;
/** Twrite: header + fid[4] offset[8] count[4]. */
const TWRITE_HEADER = HEADER_SIZE + 16;
/** qid[13] offset[8] type[1] + the name's length prefix. */
const DIRENT_FIXED = QID_SIZE + 8 + 1 + 2;

function putU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
}

/** Wire size of one Rreaddir entry with this name. */
export function dirEntrySize(name: string): number {
  return DIRENT_FIXED + utf8Length(name);
}

/** How many leading entries fit in maxBytes, and their encoded size. */
function fitEntries(entries: readonly DirEntry[], maxBytes: number): { count: number; bytes: number } {
  let bytes = 0;
  let count = 0;
  for (; count < entries.length; count++) {
    const len = utf8Length(entries[count]!.name);
    if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `directory entry name of ${len} bytes`);
    const next = bytes + DIRENT_FIXED + len;
    if (next > maxBytes) break;
    bytes = next;
  }
  return { count, bytes };
}

function writeEntries(w: Writer, entries: readonly DirEntry[], count: number): void {
  for (let i = 0; i < count; i++) {
    const e = entries[i]!;
    w.qid(e.qid);
    w.u64(e.offset);
    w.u8(e.type);
    w.string(e.name);
  }
}

/**
 * Encodes as many whole entries as fit in maxBytes (Treaddir.count). `count`
 * is the number of entries encoded; 0 with a non-empty list means even the
 * first one does not fit, which the server should report rather than loop on.
 */
export function encodeDirEntries(entries: readonly DirEntry[], maxBytes: number): { data: Uint8Array; count: number } {
  const fit = fitEntries(entries, maxBytes);
  const w = new Writer(new Uint8Array(fit.bytes));
  writeEntries(w, entries, fit.count);
  return { data: w.buf, count: fit.count };
}

/** Parses Rreaddir data; DecodeError (EINVAL) if an entry is cut short or a name is not UTF-8. */
export function decodeDirEntries(data: Uint8Array): DirEntry[] {
  const r = new Reader(data);
  const out: DirEntry[] = [];
  while (r.pos < r.end) {
    out.push({ qid: r.qid(), offset: r.u64(), type: r.u8(), name: r.string() });
  }
  return out;
}

/**
 * A whole Rreaddir frame holding as many entries as fit in maxCount data
 * bytes, encoded straight into the frame (no intermediate data buffer).
 * `count` is the number of entries it holds.
 */
export function encodeRreaddir(
  tag: number,
  entries: readonly DirEntry[],
  maxCount: number,
): { frame: Uint8Array; count: number } {
  const fit = fitEntries(entries, maxCount);
  const size = RREAD_HEADER + fit.bytes;
  const w = new Writer(new Uint8Array(size));
  w.u32(size);
  w.u8(MessageType.Rreaddir);
  w.u16(tag);
  w.u32(fit.bytes);
  writeEntries(w, entries, fit.count);
  return { frame: w.buf, count: fit.count };
}

/**
 * Preallocates an Rread frame for up to maxCount payload bytes so the file
 * system can read straight into `data`; then call finishRread with the
 * number of bytes actually produced.
 */
export function allocRread(tag: number, maxCount: number, alloc: FrameAlloc = freshFrame): { frame: Uint8Array; data: Uint8Array } {
  const frame = alloc(rreadSize(maxCount));
  // Size and count say maxCount until finishRread sets the real count.
  writeRreadHead(frame, tag, maxCount);
  return { frame, data: frame.subarray(RREAD_HEADER) };
}

/**
 * The 11-byte head of an Rread whose `count` payload bytes are sent right
 * after it as separate buffers (a stream's writev of stored data views).
 */
export function encodeRreadHead(tag: number, count: number): Uint8Array {
  const head = new Uint8Array(RREAD_HEADER);
  writeRreadHead(head, tag, count);
  return head;
}

function rreadSize(count: number): number {
  if (count >>> 0 !== count || count > 0xffffffff - RREAD_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Rread count ${count}`);
  }
  return RREAD_HEADER + count;
}

function writeRreadHead(frame: Uint8Array, tag: number, count: number): void {
  const w = new Writer(frame);
  w.u32(rreadSize(count));
  w.u8(MessageType.Rread);
  w.u16(tag);
  w.u32(count);
}

/** Fills in size and count of a frame from allocRread; returns the frame trimmed to its real length (a view). */
export function finishRread(frame: Uint8Array, count: number): Uint8Array {
  if (count >>> 0 !== count || count > frame.length - RREAD_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Rread count ${count} does not fit a frame of ${frame.length} bytes`);
  }
  const size = RREAD_HEADER + count;
  putU32(frame, 0, size);
  putU32(frame, HEADER_SIZE, count);
  return size === frame.length ? frame : frame.subarray(0, size);
}

/**
 * A complete Twrite frame of exactly `count` payload bytes whose header is
 * already written; the caller fills `data` (e.g. by reading a file or a user
 * buffer straight into it) and sends `frame` — one copy instead of two.
 */
export function allocTwrite(
  tag: number,
  fid: number,
  offset: number,
  count: number,
  alloc: FrameAlloc = freshFrame,
): { frame: Uint8Array; data: Uint8Array } {
  const frame = alloc(twriteSize(count));
  writeTwriteHead(new Writer(frame), tag, fid, offset, count);
  return { frame, data: frame.subarray(TWRITE_HEADER) };
}

/**
 * The 23-byte head of a Twrite whose `count` payload bytes are sent right
 * after it as a separate buffer (a stream's writev of the caller's data): no
 * copy of the payload at all.
 */
export function encodeTwriteHead(tag: number, fid: number, offset: number, count: number): Uint8Array {
  const head = new Uint8Array(TWRITE_HEADER);
  writeTwriteHead(new Writer(head), tag, fid, offset, count);
  return head;
}

function twriteSize(count: number): number {
  if (count >>> 0 !== count || count > 0xffffffff - TWRITE_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Twrite count ${count}`);
  }
  return TWRITE_HEADER + count;
}

function writeTwriteHead(w: Writer, tag: number, fid: number, offset: number, count: number): void {
  w.u32(twriteSize(count));
  w.u8(MessageType.Twrite);
  w.u16(tag);
  w.u32(fid);
  w.u64(offset);
  w.u32(count);
}
