/**
 * Deterministic, poorly compressible bytes (xorshift32): IndexedDB compresses
 * values, so zeros would flatter it. Shared by the page and worker test code.
 */
export function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // Writes past the end of a typed array are ignored, so a short tail needs no special case.
    b[i] = x & 0xff;
    b[i + 1] = (x >>> 8) & 0xff;
    b[i + 2] = (x >>> 16) & 0xff;
    b[i + 3] = (x >>> 24) & 0xff;
  }
  return b;
}
