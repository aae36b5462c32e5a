import { HEADER_SIZE } from "../protocol/constants.js";

/**
 * Cuts a byte stream (TCP, a pipe) into whole 9P frames.
 *
 * Every frame handed out is given away for good (the tree may keep views of
 * it), so no frame shares bytes with anything that is overwritten later. A
 * frame spread over several chunks is copied, once, into a buffer of exactly
 * its own size as its bytes arrive: that buffer holds nothing but the frame, so
 * a view of its payload pins no more than the frame. A frame that arrives whole
 * inside one chunk is a view of that chunk when the chunk is the caller's to
 * give (Node's 'data' chunks are fresh), and a copy of its own when the chunk
 * is borrowed (a receive buffer the next read overwrites).
 */
export class FrameReader {
  /** The frame being assembled across chunks, `filled` bytes of it so far. */
  private assembling: Uint8Array | null = null;
  private filled = 0;
  /** The first 1–3 bytes of a frame whose size field the last chunk cut. */
  private sizeBytes: number[] = [];

  /** @param maxFrame frames larger than this (or smaller than a header) are broken framing. */
  constructor(private maxFrame: number) {}

  setMaxFrame(n: number): void {
    this.maxFrame = n;
  }

  /** True while a partial frame is buffered (the stream ending now would cut a message). */
  get partial(): boolean {
    return this.assembling !== null || this.sizeBytes.length > 0;
  }

  /**
   * Feed a chunk; returns the complete frames it finished. `borrowed`: the
   * chunk's bytes are overwritten after this call, so nothing may keep a view
   * of them. Throws FramingError on a size field no frame can have.
   */
  push(chunk: Uint8Array, borrowed = false): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let off = this.finishSizeField(chunk);
    off = this.fill(chunk, off, frames);
    while (chunk.length - off >= 4) {
      const size = sizeAt(chunk, off);
      this.check(size);
      if (chunk.length - off >= size) {
        const frame = chunk.subarray(off, off + size);
        frames.push(borrowed ? ownedCopy(frame) : frame);
        off += size;
      } else {
        this.start(size, chunk.subarray(off));
        off = chunk.length;
      }
    }
    for (; off < chunk.length; off++) this.sizeBytes.push(chunk[off]!);
    return frames;
  }

  /** Complete a size field the previous chunk cut; returns the offset in `chunk` just past what it used. */
  private finishSizeField(chunk: Uint8Array): number {
    if (this.sizeBytes.length === 0) return 0;
    const head = this.sizeBytes;
    let off = 0;
    while (head.length < 4 && off < chunk.length) head.push(chunk[off++]!);
    if (head.length < 4) return off;
    const first = Uint8Array.from(head);
    const size = sizeAt(first, 0);
    this.check(size);
    this.sizeBytes = [];
    this.start(size, first);
    return off;
  }

  /** Copy what `chunk` holds of the frame being assembled; a finished frame goes to `frames`. */
  private fill(chunk: Uint8Array, off: number, frames: Uint8Array[]): number {
    const frame = this.assembling;
    if (!frame) return off;
    const n = Math.min(frame.length - this.filled, chunk.length - off);
    frame.set(chunk.subarray(off, off + n), this.filled);
    this.filled += n;
    if (this.filled === frame.length) {
      frames.push(frame);
      this.assembling = null;
    }
    return off + n;
  }

  /** Begin assembling a frame of `size` bytes whose first bytes are `first`. */
  private start(size: number, first: Uint8Array): void {
    const frame = allocOwned(size);
    frame.set(first);
    this.assembling = frame;
    this.filled = first.length;
  }

  private check(size: number): void {
    if (size < HEADER_SIZE) throw new FramingError(`frame size ${size} is smaller than a 9P header`);
    if (size > this.maxFrame) throw new FramingError(`frame size ${size} exceeds msize ${this.maxFrame}`);
  }
}

export class FramingError extends Error {
  override readonly name = "FramingError";
}

function sizeAt(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/** A copy of `frame` in a buffer of its own. Small frames stay on V8's heap, where allocating is cheapest. */
function ownedCopy(frame: Uint8Array): Uint8Array {
  const out = frame.length <= 64 ? new Uint8Array(frame.length) : allocOwned(frame.length);
  out.set(frame);
  return out;
}

/**
 * A buffer of its own (never a slice of a shared pool: the tree may keep views
 * of a frame), without zero-filling bytes that are overwritten at once.
 */
const allocOwned: (n: number) => Uint8Array =
  typeof Buffer === "function" ? (n) => Buffer.allocUnsafeSlow(n) : (n) => new Uint8Array(n);
