/**
 * Little-endian primitives of the 9P wire format: a bounds-checked Reader and
 * a Writer over a buffer whose exact size the caller has already computed.
 *
 * Both work byte by byte on the Uint8Array instead of through a DataView:
 * that avoids one allocation per frame and works for any byteOffset, and V8
 * compiles the shifts down to plain loads.
 */

import { Errno, FsError } from "./errno.js";
import type { Qid } from "./messages.js";
import { decodeName, encodeNameInto, utf8Length } from "./name-bytes.js";

const TWO_32 = 4294967296;
/** 2^64 is also what `2 ** 64 - 1` evaluates to in doubles, so it stands for "all ones". */
const TWO_64 = 18446744073709551616;

/**
 * A frame that cannot be decoded. `tag` and `type` are set whenever the
 * 7-byte header could be read, so the server can still answer Rlerror(errno)
 * on that tag instead of dropping the request.
 */
export class DecodeError extends Error {
  readonly errno: number;
  tag?: number;
  type?: number;
  constructor(errno: number, detail: string, tag?: number, type?: number) {
    super(detail);
    this.name = "DecodeError";
    this.errno = errno;
    if (tag !== undefined) this.tag = tag;
    if (type !== undefined) this.type = type;
  }
}

/**
 * A value that cannot be put on the wire (integer out of range, string longer
 * than 65535 bytes, too many walk elements). It is an FsError so a server
 * that fails to encode a reply built from file-system data (say, a huge
 * symlink target) answers Rlerror instead of crashing.
 */
export class EncodeError extends FsError {
  constructor(errno: number, detail: string) {
    super(errno, detail);
    this.name = "EncodeError";
  }
}

/** Wire size of a string field (length prefix included); throws EncodeError past 65535 bytes. */
export function stringSize(s: string): number {
  const len = utf8Length(s);
  if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `string of ${len} bytes does not fit a 9P string`);
  return 2 + len;
}

export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;
  /** Stamped onto every DecodeError once the header is known. */
  tag: number | undefined;
  type: number | undefined;

  constructor(buf: Uint8Array, pos = 0, end = buf.length) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.tag = undefined;
    this.type = undefined;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(detail: string, errno: number = Errno.EINVAL): DecodeError {
    return new DecodeError(errno, detail, this.tag, this.type);
  }

  private need(n: number, what: string): void {
    if (this.end - this.pos < n) {
      throw this.fail(`${what} needs ${n} bytes at offset ${this.pos}, only ${this.end - this.pos} left`);
    }
  }

  u8(): number {
    this.need(1, "u8");
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2, "u16");
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return b[p]! | (b[p + 1]! << 8);
  }

  u32(): number {
    this.need(4, "u32");
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
  }

  /** Exact below 2^53; above that rounded to the nearest double (see messages.ts). */
  u64(): number {
    this.need(8, "u64");
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000;
    return hi === 0 ? lo : lo + hi * TWO_32;
  }

  /** Two's-complement signed 64-bit (timestamps before 1970); exact within ±2^53. */
  i64(): number {
    this.need(8, "i64");
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 8;
    const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
    const hi = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000;
    return (hi >= 0x80000000 ? hi - TWO_32 : hi) * TWO_32 + lo;
  }

  /** A view of the next `len` bytes of the frame, not a copy. */
  bytes(len: number): Uint8Array {
    this.need(len, "data");
    const p = this.pos;
    this.pos = p + len;
    return this.buf.subarray(p, p + len);
  }

  /** len[2] + bytes, as a name string: never fails, any bytes round-trip (see name-bytes.ts). */
  string(): string {
    const len = this.u16();
    this.need(len, "string");
    const start = this.pos;
    this.pos = start + len;
    return decodeName(this.buf, start, start + len);
  }

  qid(): Qid {
    this.need(13, "qid");
    return { type: this.u8(), version: this.u32(), path: this.u64() };
  }
}

/**
 * Writes into a buffer sized exactly beforehand. Individual writes are not
 * bounds-checked (a typed array drops out-of-range stores silently); instead
 * `pos` keeps advancing, so one `pos === buf.length` check after encoding
 * catches any size/write mismatch.
 */
export class Writer {
  readonly buf: Uint8Array;
  pos: number;

  constructor(buf: Uint8Array, pos = 0) {
    this.buf = buf;
    this.pos = pos;
  }

  u8(v: number): void {
    if ((v & 0xff) !== v) throw new EncodeError(Errno.EINVAL, `${v} is not a u8`);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    if ((v & 0xffff) !== v) throw new EncodeError(Errno.EINVAL, `${v} is not a u16`);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    this.pos = p + 2;
  }

  u32(v: number): void {
    if (v >>> 0 !== v) throw new EncodeError(Errno.EINVAL, `${v} is not a u32`);
    const b = this.buf;
    const p = this.pos;
    b[p] = v;
    b[p + 1] = v >>> 8;
    b[p + 2] = v >>> 16;
    b[p + 3] = v >>> 24;
    this.pos = p + 4;
  }

  /** A signed integer as two's-complement 64-bit (timestamps before 1970). */
  i64(v: number): void {
    if (v >= 0) {
      this.u64(v);
      return;
    }
    if (!(v >= -(2 ** 63)) || Math.floor(v) !== v) throw new EncodeError(Errno.EINVAL, `${v} is not an i64`);
    const hi = Math.floor(v / TWO_32);
    const lo = v - hi * TWO_32;
    this.u32(lo);
    this.u32(hi + TWO_32);
  }

  /** Any integer 0..2^64; 2^64 (how `2**64-1` reads as a double) becomes all ones. */
  u64(v: number): void {
    let lo: number;
    let hi: number;
    if (v >>> 0 === v) {
      lo = v;
      hi = 0;
    } else {
      if (!(v >= 0 && v <= TWO_64) || Math.floor(v) !== v) {
        throw new EncodeError(Errno.EINVAL, `${v} is not a u64`);
      }
      if (v === TWO_64) {
        lo = 0xffffffff;
        hi = 0xffffffff;
      } else {
        hi = Math.floor(v / TWO_32);
        lo = v - hi * TWO_32;
      }
    }
    const b = this.buf;
    const p = this.pos;
    b[p] = lo;
    b[p + 1] = lo >>> 8;
    b[p + 2] = lo >>> 16;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi;
    b[p + 5] = hi >>> 8;
    b[p + 6] = hi >>> 16;
    b[p + 7] = hi >>> 24;
    this.pos = p + 8;
  }

  /**
   * len[2] + bytes, encoded by hand straight into the frame: no TextEncoder
   * temporary, and the length prefix is patched afterwards so the byte count
   * is not computed a second time.
   */
  string(s: string): void {
    const start = this.pos;
    const p = encodeNameInto(s, this.buf, start + 2);
    const len = p - start - 2;
    if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `string of ${len} bytes does not fit a 9P string`);
    this.buf[start] = len;
    this.buf[start + 1] = len >>> 8;
    this.pos = p;
  }

  qid(q: Qid): void {
    this.u8(q.type);
    this.u32(q.version);
    this.u64(q.path);
  }

  bytes(data: Uint8Array): void {
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }
}

/**
 * Where a frame of `size` bytes is built: a Uint8Array of exactly `size`
 * bytes at offset 0 of its buffer, which may be longer (a transport's
 * recycled buffer: transport/frame-pool.ts). Its bytes may be stale.
 */
export type FrameAlloc = (size: number) => Uint8Array;

/** A FrameAlloc giving a fresh buffer, which owns its whole ArrayBuffer, so it can be transferred. */
export const freshFrame: FrameAlloc = (size) => new Uint8Array(size);
