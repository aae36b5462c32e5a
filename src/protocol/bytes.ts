/** Copy `src` from `at` on into `dest`, as much as fits; returns how many bytes `src` had there. */
export function copyFrom(src: Uint8Array, at: number, dest: Uint8Array): number {
  const n = Math.max(0, Math.min(dest.length, src.length - at));
  if (n > 0) dest.set(src.subarray(at, at + n));
  return n;
}

/** `parts` back to back in one buffer (from `alloc`, default a fresh Uint8Array). */
export function concatBytes(parts: readonly Uint8Array[], total?: number, alloc: (n: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  let size = total ?? 0;
  if (total === undefined) for (const p of parts) size += p.length;
  const out = alloc(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
