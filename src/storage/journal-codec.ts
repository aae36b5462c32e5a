/**
 * The byte format of the OPFS store's metadata journal (opfs-journal.ts):
 * framed, checksummed records whose payload is a value in a small tagged
 * encoding — enough for the store's records (numbers, strings, byte arrays,
 * arrays, plain objects) whatever fields they grow, with no JSON detour for
 * bytes. Pure functions, no I/O.
 *
 * A frame, 8-byte aligned so that a reader can look for the next one:
 *
 *   magic u32 "W9PJ" | payload length u32 | seq f64 | CRC-32 u32 | payload | zero padding
 *
 * The CRC covers length, seq and payload, so a torn or damaged frame never
 * decodes as a record.
 */

import { encodeNameInto, nameFromBytes, nameToBytes } from "../protocol/name-bytes.js";

export const FRAME_MAGIC = 0x4a503957; // "W9PJ" little-endian
export const FRAME_HEAD = 20;
const ALIGN = 8;

/**
 * CRC-32 tables for slicing by 8: T[k][b] is the CRC of byte b followed by k zero bytes, so
 * eight bytes fold in with eight lookups and no dependency between them. A lookup per byte
 * cost ~25 µs per file created (2 KiB of journal each). (crc-32 from npm does the same, but is
 * CommonJS, which the browser harness does not convert.)
 */
const CRC_TABLES = (() => {
  const t = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[0]![n] = c;
  }
  for (let n = 0; n < 256; n++) for (let k = 1; k < 8; k++) t[k]![n] = t[0]![t[k - 1]![n]! & 0xff]! ^ (t[k - 1]![n]! >>> 8);
  return t;
})();

/** CRC-32 (IEEE 802.3), continuing from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let c = ~crc;
  let i = 0;
  for (const end = bytes.length - 8; i <= end; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      t7[c & 0xff]! ^ t6[(c >>> 8) & 0xff]! ^ t5[(c >>> 16) & 0xff]! ^ t4[c >>> 24]! ^
      t3[bytes[i + 4]!]! ^ t2[bytes[i + 5]!]! ^ t1[bytes[i + 6]!]! ^ t0[bytes[i + 7]!]!;
  }
  for (; i < bytes.length; i++) c = t0[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** A value the journal can hold. */
export type JournalValue = undefined | null | boolean | number | string | Uint8Array | JournalValue[] | { [key: string]: JournalValue };

const enum Tag {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Int = 4,
  Float = 5,
  String = 6,
  Bytes = 7,
  Array = 8,
  Object = 9,
}


/** A growable byte buffer for encoding (one, reused: encoding is synchronous). */
class Out {
  buf = new Uint8Array(64 * 1024);
  view = new DataView(this.buf.buffer);
  at = 0;

  need(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.need(1);
    this.buf[this.at++] = v;
  }
  u32(v: number): void {
    this.need(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
  }
  i32(v: number): void {
    this.need(4);
    this.view.setInt32(this.at, v, true);
    this.at += 4;
  }
  f64(v: number): void {
    this.need(8);
    this.view.setFloat64(this.at, v, true);
    this.at += 8;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.need(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  /**
   * A length-prefixed string, encoded in place as the bytes it stands for:
   * names are bytes (protocol/name-bytes.ts), and UTF-8 proper would turn a
   * raw byte's escape into U+FFFD at replay.
   */
  string(s: string): void {
    this.need(4 + s.length * 3);
    const end = encodeNameInto(s, this.buf, this.at + 4);
    this.view.setUint32(this.at, end - this.at - 4, true);
    this.at = end;
  }
  /** An object key: the same few names over and over, encoded once each. */
  key(k: string): void {
    let b = keyBytes.get(k);
    if (!b) {
      b = nameToBytes(k);
      if (keyBytes.size < 1024) keyBytes.set(k, b);
    }
    this.bytes(b);
  }
}

const keyBytes = new Map<string, Uint8Array>();
const scratch = new Out();

function put(out: Out, v: JournalValue): void {
  if (v === undefined) out.u8(Tag.Undefined);
  else if (v === null) out.u8(Tag.Null);
  else if (v === false) out.u8(Tag.False);
  else if (v === true) out.u8(Tag.True);
  else if (typeof v === "number") {
    if (Number.isInteger(v) && v >= -0x80000000 && v <= 0x7fffffff && !Object.is(v, -0)) {
      out.u8(Tag.Int);
      out.i32(v);
    } else {
      out.u8(Tag.Float);
      out.f64(v);
    }
  } else if (typeof v === "string") {
    out.u8(Tag.String);
    out.string(v);
  } else if (v instanceof Uint8Array) {
    out.u8(Tag.Bytes);
    out.bytes(v);
  } else if (Array.isArray(v)) {
    out.u8(Tag.Array);
    out.u32(v.length);
    for (const x of v) put(out, x);
  } else if (typeof v === "object") {
    const keys = Object.keys(v);
    out.u8(Tag.Object);
    out.u32(keys.length);
    for (const k of keys) {
      out.key(k);
      put(out, v[k]);
    }
  } else {
    throw new TypeError(`journal cannot hold a ${typeof v}`);
  }
}

/** Thrown for a payload that is not a well-formed value (never for a frame whose CRC matched, unless the writer had a bug). */
export class JournalFormatError extends Error {}

class In {
  private readonly view: DataView;
  at = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new JournalFormatError("value runs past its payload");
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.at, true);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at, true);
    this.at += 8;
    return v;
  }
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    // A copy: the payload buffer is reused by the reader.
    const b = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return b;
  }
}

function get(inp: In): JournalValue {
  const tag = inp.u8();
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Int:
      return inp.i32();
    case Tag.Float:
      return inp.f64();
    case Tag.String:
      return nameFromBytes(inp.bytes());
    case Tag.Bytes:
      return inp.bytes();
    case Tag.Array: {
      const n = inp.u32();
      const a: JournalValue[] = [];
      for (let i = 0; i < n; i++) a.push(get(inp));
      return a;
    }
    case Tag.Object: {
      const n = inp.u32();
      const o: { [key: string]: JournalValue } = {};
      for (let i = 0; i < n; i++) {
        const k = nameFromBytes(inp.bytes());
        o[k] = get(inp);
      }
      return o;
    }
    default:
      throw new JournalFormatError(`unknown value tag ${tag}`);
  }
}

export function decodeValue(payload: Uint8Array): JournalValue {
  const inp = new In(payload);
  const v = get(inp);
  if (inp.at !== payload.length) throw new JournalFormatError(`${payload.length - inp.at} stray bytes after the value`);
  return v;
}

/** One whole frame (head, payload, padding) holding `value` as record number `seq`. */
export function encodeFrame(seq: number, value: JournalValue): Uint8Array {
  const out = scratch;
  out.at = FRAME_HEAD;
  put(out, value);
  const payloadLength = out.at - FRAME_HEAD;
  const total = alignUp(out.at);
  out.need(total - out.at);
  out.buf.fill(0, out.at, total);
  const v = out.view;
  v.setUint32(0, FRAME_MAGIC, true);
  v.setUint32(4, payloadLength, true);
  v.setFloat64(8, seq, true);
  v.setUint32(16, frameCrc(out.buf, payloadLength), true);
  // A copy: the scratch buffer is the next frame's.
  return out.buf.slice(0, total);
}

export function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/** CRC of a frame's length, seq and payload. */
function frameCrc(frame: Uint8Array, payloadLength: number): number {
  const c = crc32(frame.subarray(4, 16));
  return crc32(frame.subarray(FRAME_HEAD, FRAME_HEAD + payloadLength), c);
}

export interface FrameHead {
  payloadLength: number;
  seq: number;
  /** Bytes the whole frame takes, padding included. */
  size: number;
}

/** The head at `bytes[0..]` if it has the magic number, else undefined (the end of the journal, or damage). */
export function readHead(bytes: Uint8Array): FrameHead | undefined {
  if (bytes.length < FRAME_HEAD) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, FRAME_HEAD);
  if (v.getUint32(0, true) !== FRAME_MAGIC) return undefined;
  const payloadLength = v.getUint32(4, true);
  return { payloadLength, seq: v.getFloat64(8, true), size: alignUp(FRAME_HEAD + payloadLength) };
}

/** Whether a whole frame (head and payload) checks out. */
export function frameIntact(frame: Uint8Array, head: FrameHead): boolean {
  if (frame.length < FRAME_HEAD + head.payloadLength) return false;
  const v = new DataView(frame.buffer, frame.byteOffset, FRAME_HEAD);
  return v.getUint32(16, true) === frameCrc(frame, head.payloadLength);
}

export function framePayload(frame: Uint8Array, head: FrameHead): Uint8Array {
  return frame.subarray(FRAME_HEAD, FRAME_HEAD + head.payloadLength);
}
