import { HEADER_SIZE } from "../protocol/constants.js";
import { concatBytes } from "../protocol/bytes.js";

/**
 * Cuts a byte stream (TCP, a pipe) into whole 9P frames.
 * Frames that arrive whole inside one chunk are handed out as views, without copying.
 */
export class FrameReader {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  /** @param maxFrame frames larger than this (or smaller than a header) are broken framing. */
  constructor(private maxFrame: number) {}

  setMaxFrame(n: number): void {
    this.maxFrame = n;
  }

  /** True while a partial frame is buffered (the stream ending now would cut a message). */
  get partial(): boolean {
    return this.pendingBytes > 0;
  }

  /**
   * Feed a chunk; returns the complete frames it finished.
   * Throws FramingError on a size field no frame can have.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < 4) return frames;
      const size = this.peekPendingSize();
      this.check(size);
      if (this.pendingBytes < size) return frames;
      buf = concatBytes(this.pending, this.pendingBytes, allocOwned);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const size = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
      this.check(size);
      if (buf.length - off < size) break;
      frames.push(buf.subarray(off, off + size));
      off += size;
    }
    if (off < buf.length) {
      this.pending = [buf.subarray(off)];
      this.pendingBytes = buf.length - off;
    }
    return frames;
  }

  private check(size: number): void {
    if (size < HEADER_SIZE) throw new FramingError(`frame size ${size} is smaller than a 9P header`);
    if (size > this.maxFrame) throw new FramingError(`frame size ${size} exceeds msize ${this.maxFrame}`);
  }

  private peekPendingSize(): number {
    const head = new Uint8Array(4);
    let n = 0;
    for (const p of this.pending) {
      for (let i = 0; i < p.length && n < 4; i++) head[n++] = p[i]!;
      if (n === 4) break;
    }
    return (head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24)) >>> 0;
  }
}

export class FramingError extends Error {
  override readonly name = "FramingError";
}

/**
 * A buffer of its own (never a slice of a shared pool: the tree may keep views
 * of a frame), without zero-filling bytes that are overwritten at once.
 */
const allocOwned: (n: number) => Uint8Array =
  typeof Buffer === "function" ? (n) => Buffer.allocUnsafeSlow(n) : (n) => new Uint8Array(n);

