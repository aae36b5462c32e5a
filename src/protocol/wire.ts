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

/** Bytes `s` occupies as UTF-8; a lone surrogate counts as U+FFFD (3 bytes), as TextEncoder would write it. */
export function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // The pair is two UTF-16 units already counted; it needs four bytes.
      len += 2;
      i++;
    } else {
      len += 2;
    }
  }
  return len;
}

/** Wire size of a string field (length prefix included); throws EncodeError past 65535 bytes. */
export function stringSize(s: string): number {
  const len = utf8Length(s);
  if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `string of ${len} bytes does not fit a 9P string`);
  return 2 + len;
}

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Below this, building the string by hand beats the TextDecoder call for ASCII names. */
const ASCII_FAST_MAX = 64;

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

  /** len[2] + UTF-8. Invalid UTF-8 is EINVAL: names must round-trip byte for byte. */
  string(): string {
    const len = this.u16();
    this.need(len, "string");
    const b = this.buf;
    const start = this.pos;
    const stop = start + len;
    this.pos = stop;
    if (len <= ASCII_FAST_MAX) {
      let s = "";
      let i = start;
      for (; i < stop; i++) {
        const c = b[i]!;
        if (c >= 0x80) break;
        s += String.fromCharCode(c);
      }
      if (i === stop) return s;
    }
    let view = b.subarray(start, stop);
    // TextDecoder refuses views of a SharedArrayBuffer in browsers.
    if (!(view.buffer instanceof ArrayBuffer)) view = view.slice();
    try {
      return decoder.decode(view);
    } catch {
      throw this.fail(`string at offset ${start} is not valid UTF-8`);
    }
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
   * len[2] + UTF-8, encoded by hand straight into the frame: no TextEncoder
   * temporary, and the length prefix is patched afterwards so the UTF-8 size
   * is not computed a second time.
   */
  string(s: string): void {
    const b = this.buf;
    const start = this.pos;
    let p = start + 2;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        b[p++] = c;
      } else if (c < 0x800) {
        b[p++] = 0xc0 | (c >> 6);
        b[p++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && (d & 0xfc00) === 0xdc00) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            b[p++] = 0xf0 | (c >> 18);
            b[p++] = 0x80 | ((c >> 12) & 0x3f);
            b[p++] = 0x80 | ((c >> 6) & 0x3f);
            b[p++] = 0x80 | (c & 0x3f);
            continue;
          }
          c = 0xfffd;
        }
        b[p++] = 0xe0 | (c >> 12);
        b[p++] = 0x80 | ((c >> 6) & 0x3f);
        b[p++] = 0x80 | (c & 0x3f);
      }
    }
    const len = p - start - 2;
    if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `string of ${len} bytes does not fit a 9P string`);
    b[start] = len;
    b[start + 1] = len >>> 8;
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
