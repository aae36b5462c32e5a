/**
 * File names are bytes on the wire and in the image; inside the server they
 * are JS strings. Valid UTF-8 decodes as usual; every byte that is not part of
 * a valid UTF-8 sequence becomes the lone surrogate U+DC80–U+DCFF
 * ("surrogateescape", as Python does), so any name round-trips exactly.
 */

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Length of the valid UTF-8 sequence starting at `i`, or 0. */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let min: number;
  if (c >= 0xc2 && c <= 0xdf) (n = 2), (min = 0x80);
  else if (c >= 0xe0 && c <= 0xef) (n = 3), (min = 0x800);
  else if (c >= 0xf0 && c <= 0xf4) (n = 4), (min = 0x10000);
  else return 0;
  if (i + n > b.length) return 0;
  let cp = c & (0x7f >> n);
  for (let k = 1; k < n; k++) {
    const d = b[i + k]!;
    if ((d & 0xc0) !== 0x80) return 0;
    cp = cp * 64 + (d & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

export function nameFromBytes(b: Uint8Array): string {
  try {
    return utf8.decode(b);
  } catch {
    let out = "";
    let i = 0;
    while (i < b.length) {
      const n = sequenceLength(b, i);
      if (n === 0) {
        out += String.fromCharCode(0xdc00 + b[i]!);
        i++;
      } else {
        out += utf8.decode(b.subarray(i, i + n));
        i += n;
      }
    }
    return out;
  }
}

export function nameToBytes(s: string): Uint8Array {
  if (!/[\udc80-\udcff]/.test(s)) return encoder.encode(s);
  const parts: number[] = [];
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch.length === 1 && c >= 0xdc80 && c <= 0xdcff) parts.push(c - 0xdc00);
    else for (const byte of encoder.encode(ch)) parts.push(byte);
  }
  return Uint8Array.from(parts);
}
