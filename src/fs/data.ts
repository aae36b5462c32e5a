import { copyFrom } from "../protocol/bytes.js";
import type { InodeRecord, StoreTx } from "../storage/store.js";

/**
 * File contents as chunks over a StoreTx. Invariant kept by every writer:
 * no chunk is stored at an index ≥ ceil(size / chunkSize), and a stored chunk
 * may be shorter than chunkSize — bytes past its end (up to EOF) read as zeros.
 * That lets a write past EOF skip reading chunks it knows are absent, and lets
 * small files cost their size rather than a whole chunk.
 */

export function chunkSlots(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** The pieces of [offset, offset + length) that fall in one chunk each: `done` bytes before the piece. */
function* chunkSpans(offset: number, length: number, chunkSize: number): Generator<{ index: number; within: number; take: number; done: number }> {
  for (let done = 0; done < length; ) {
    const pos = offset + done;
    const index = Math.floor(pos / chunkSize);
    const within = pos - index * chunkSize;
    const take = Math.min(chunkSize - within, length - done);
    yield { index, within, take, done };
    done += take;
  }
}

/** Copy up to dest.length bytes at `offset` into dest; holes (and short chunks) read as zeros. */
export async function readData(tx: StoreTx, rec: InodeRecord, offset: number, dest: Uint8Array, chunkSize: number): Promise<number> {
  if (offset >= rec.size) return 0;
  const n = Math.min(dest.length, rec.size - offset);
  for (const { index, within, take, done } of chunkSpans(offset, n, chunkSize)) {
    const part = dest.subarray(done, done + take);
    const got = rec.chunks > 0 ? await readChunkInto(tx, rec.ino, index, within, part) : 0;
    if (got < take) part.fill(0, got);
  }
  return n;
}

/** Bytes of a chunk from `within` on into `dest`: by the store itself where it can (OPFS: from the file into the reply frame). */
async function readChunkInto(tx: StoreTx, ino: number, index: number, within: number, dest: Uint8Array): Promise<number> {
  if (tx.readChunkInto) return (await tx.readChunkInto(ino, index, within, dest)) ?? 0;
  const chunk = await tx.getChunk(ino, index);
  return chunk ? copyFrom(chunk, within, dest) : 0;
}

/** Holes, read without allocating (never written to: readers must not modify parts). */
let zeros = new Uint8Array(0);
function zeroView(n: number): Uint8Array {
  if (zeros.length < n) zeros = new Uint8Array(Math.max(n, 65536));
  return zeros.subarray(0, n);
}

/** Up to `count` bytes at `offset` as views of the stored chunks; holes are views of a shared zero buffer. */
export async function readDataParts(tx: StoreTx, rec: InodeRecord, offset: number, count: number, chunkSize: number): Promise<Uint8Array[]> {
  if (offset >= rec.size || count === 0) return [];
  const n = Math.min(count, rec.size - offset);
  const parts: Uint8Array[] = [];
  for (const { index, within, take } of chunkSpans(offset, n, chunkSize)) {
    const chunk = rec.chunks > 0 ? await tx.getChunk(rec.ino, index) : undefined;
    const avail = chunk ? Math.max(0, Math.min(take, chunk.length - within)) : 0;
    if (avail > 0) parts.push(chunk!.subarray(within, within + avail));
    if (avail < take) parts.push(zeroView(take - avail));
  }
  return parts;
}


/**
 * Write `data` at `offset`, updating rec.size and rec.chunks (rec must be the
 * transaction's private copy). Only touched chunks are read, and a chunk the
 * write covers entirely is not read at all. The store always gets fresh
 * buffers: `data` is a view into a network frame.
 */
export async function writeData(
  tx: StoreTx,
  rec: InodeRecord,
  offset: number,
  data: Uint8Array,
  chunkSize: number,
  owned = false,
  storeKeepsBuffers = true,
  lent = false,
): Promise<void> {
  // A whole chunk of a frame nobody else holds can go to the store as a view —
  // unless the store keeps buffers and the view would pin a much larger one, or
  // the frame is only lent and will be reused (transport/frame-pool.ts, R2).
  const keepViews = owned && (!storeKeepsBuffers || (!lent && data.buffer.byteLength <= chunkSize + 4096));
  const slots = chunkSlots(rec.size, chunkSize);
  const dense = rec.chunks === slots;
  for (const { index, within, take, done } of chunkSpans(offset, data.length, chunkSize)) {
    const src = data.subarray(done, done + take);
    // Nothing is stored past EOF or in a file with no chunks; in a dense file every slot is stored.
    const mayExist = index < slots && rec.chunks > 0;
    let existed: boolean;
    let buf: Uint8Array;
    if (take === chunkSize) {
      existed = mayExist && (dense || (await tx.getChunk(rec.ino, index)) !== undefined);
      buf = keepViews ? src : src.slice();
    } else {
      const old = mayExist ? await tx.getChunk(rec.ino, index) : undefined;
      existed = old !== undefined;
      buf = merged(old, within, src);
    }
    await tx.putChunk(rec.ino, index, buf, !existed);
    if (!existed) rec.chunks++;
  }
  if (offset + data.length > rec.size) rec.size = offset + data.length;
}

function merged(old: Uint8Array | undefined, within: number, src: Uint8Array): Uint8Array {
  const buf = new Uint8Array(Math.max(old?.length ?? 0, within + src.length));
  if (old) buf.set(old);
  buf.set(src, within);
  return buf;
}

/**
 * Set the size to `newSize`. Growing just moves EOF (a hole); shrinking drops
 * the chunks past the end and cuts the last partial chunk so that growing
 * again later reads zeros there.
 */
export async function truncateData(tx: StoreTx, rec: InodeRecord, newSize: number, chunkSize: number): Promise<void> {
  if (newSize < rec.size && rec.chunks > 0) {
    const keep = chunkSlots(newSize, chunkSize);
    const removed = await countStored(tx, rec, keep, chunkSlots(rec.size, chunkSize), chunkSize);
    await tx.deleteChunksFrom(rec.ino, keep);
    rec.chunks -= removed;
    await trimTail(tx, rec.ino, newSize, chunkSize);
  }
  rec.size = newSize;
}

/** How many chunks are stored in [from, to): free for dense files, else the store counts what it holds. */
async function countStored(tx: StoreTx, rec: InodeRecord, from: number, to: number, chunkSize: number): Promise<number> {
  if (rec.chunks === chunkSlots(rec.size, chunkSize)) return to - from;
  return tx.countChunks(rec.ino, from, to);
}

async function trimTail(tx: StoreTx, ino: number, newSize: number, chunkSize: number): Promise<void> {
  const tail = newSize % chunkSize;
  if (tail === 0) return;
  const index = (newSize - tail) / chunkSize;
  const chunk = await tx.getChunk(ino, index);
  if (chunk && chunk.length > tail) await tx.putChunk(ino, index, chunk.slice(0, tail));
}

/** Chunks stored for `rec` up to EOF (fsck). */
export async function countChunks(tx: StoreTx, rec: InodeRecord, chunkSize: number): Promise<number> {
  return tx.countChunks(rec.ino, 0, chunkSlots(rec.size, chunkSize));
}
