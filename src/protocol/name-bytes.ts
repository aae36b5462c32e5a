/**
 * Names are bytes. Linux sends file names (and symlink targets, xattr names)
 * as raw bytes that need not be UTF-8 — a Latin-1 name from an old tarball is
 * `caf\xe9`. Yet the layers above the wire keep names as JS strings (store
 * keys, maps, IndexedDB keys). The mapping between the two is
 * "surrogateescape", as Python does it:
 *
 *  1. Bytes → string: every well-formed UTF-8 sequence decodes as usual; each
 *     byte b (0x80–0xFF) that does not start a well-formed sequence becomes
 *     the lone surrogate U+DC00+b (U+DC80–U+DCFF).
 *  2. String → bytes: a lone U+DC80–U+DCFF becomes its byte again; everything
 *     else is UTF-8. Well-formed UTF-8 never encodes a surrogate, so decoding
 *     and encoding are inverse on every byte string: names are lossless, and a
 *     tree written before this mapping (all valid UTF-8) reads unchanged.
 *  3. The strings that (1) produces are the canonical ones. A string that is
 *     not — some other lone surrogate, or escapes that spell a valid sequence
 *     ("\uDCC3\uDCA9" is the bytes of "é") — would share its bytes with
 *     another; the file system refuses to create such names (`isCanonicalName`).
 *
 * Show a name to a person with `displayName` (lossy, U+FFFD per raw byte).
 */

/** Bytes `s` occupies on the wire: UTF-8, one byte per escaped raw byte, and U+FFFD (3 bytes) for any other lone surrogate. */
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
    } else if (c < 0xdc80 || c > 0xdcff) {
      len += 2;
    }
    // else: an escaped raw byte (a low surrogate here is never part of a pair), one byte.
  }
  return len;
}

/**
 * Write `s` as bytes into `b` from `p` on (the caller sized `b` with
 * `utf8Length`); returns the position after the last byte.
 */
export function encodeNameInto(s: string, b: Uint8Array, p: number): number {
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
        if (c >= 0xdc80 && c <= 0xdcff) {
          b[p++] = c & 0xff;
          continue;
        }
        c = 0xfffd;
      }
      b[p++] = 0xe0 | (c >> 12);
      b[p++] = 0x80 | ((c >> 6) & 0x3f);
      b[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}

/** Length of the well-formed UTF-8 sequence starting at `i` (Unicode table 3-7), or 0 if none does. */
function sequenceLength(b: Uint8Array, i: number, stop: number): number {
  const c = b[i]!;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < stop && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const ok1 = c === 0xe0 ? cont(1, 0xa0) : c === 0xed ? cont(1, 0x80, 0x9f) : cont(1);
    return ok1 && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const ok1 = c === 0xf0 ? cont(1, 0x90) : c === 0xf4 ? cont(1, 0x80, 0x8f) : cont(1);
    return ok1 && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

const utf8Strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** Below this, building the string by hand beats the TextDecoder call for ASCII names. */
const ASCII_FAST_MAX = 64;
/** String.fromCharCode takes its units as arguments: keep each call well below engines' argument limits. */
const UNITS_PER_CALL = 4096;

/** Bytes [start, stop) of `b` as a name string: surrogateescape (invariant 1 above), never throws. */
export function decodeName(b: Uint8Array, start = 0, stop = b.length): string {
  if (stop - start <= ASCII_FAST_MAX) {
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
    return utf8Strict.decode(view);
  } catch {
    return decodeEscaping(b, start, stop);
  }
}

/** The slow path of `decodeName`, for byte strings that are not valid UTF-8. */
function decodeEscaping(b: Uint8Array, start: number, stop: number): string {
  const units: number[] = [];
  for (let i = start; i < stop;) {
    const c = b[i]!;
    if (c < 0x80) {
      units.push(c);
      i++;
      continue;
    }
    const len = sequenceLength(b, i, stop);
    if (len === 0) {
      units.push(0xdc00 + c);
      i++;
      continue;
    }
    let cp = len === 2 ? c & 0x1f : len === 3 ? c & 0x0f : c & 0x07;
    for (let k = 1; k < len; k++) cp = (cp << 6) | (b[i + k]! & 0x3f);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      units.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else {
      units.push(cp);
    }
    i += len;
  }
  let s = "";
  for (let i = 0; i < units.length; i += UNITS_PER_CALL) s += String.fromCharCode(...units.slice(i, i + UNITS_PER_CALL));
  return s;
}

/** A name as the bytes a client sees (invariant 2). */
export function nameToBytes(name: string): Uint8Array {
  const out = new Uint8Array(utf8Length(name));
  encodeNameInto(name, out, 0);
  return out;
}

/** Raw bytes (say, a tar header's name field) as the name string the server stores. */
export function nameFromBytes(bytes: Uint8Array): string {
  return decodeName(bytes, 0, bytes.length);
}

const SURROGATE = /[\ud800-\udfff]/;

/** Does `name` come out of `nameFromBytes` unchanged (invariant 3)? Only such names may be created. */
export function isCanonicalName(name: string): boolean {
  return !SURROGATE.test(name) || nameFromBytes(nameToBytes(name)) === name;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** For people only: each raw byte shows as U+FFFD. Never use the result to name a file. */
export function displayName(name: string): string {
  return name.replace(LONE_SURROGATE, "\ufffd");
}
