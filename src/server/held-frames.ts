/**
 * The frames a session holds unstarted, oldest first (Back-pressure in
 * session.ts), and the bytes they pin. Taking from the head is O(1): a
 * client pipelining thousands of requests must not make each start O(n).
 */
import { TFLUSH, requestTag } from "./request-frame.js";

const EMPTY = new Uint8Array(0);

export class HeldFrames {
  private frames: Uint8Array[] = [];
  private head = 0;
  /** Bytes the held frames pin (`weight` of each). */
  bytes = 0;

  /** `weight`: the memory a frame pins, which may exceed its length (a port message with slack). */
  constructor(private readonly weight: (frame: Uint8Array) => number) {}

  get count(): number {
    return this.frames.length - this.head;
  }

  push(frame: Uint8Array): void {
    this.frames.push(frame);
    this.bytes += this.weight(frame);
  }

  /** The oldest held frame, left in place. */
  peek(): Uint8Array | undefined {
    return this.head < this.frames.length ? this.frames[this.head] : undefined;
  }

  /** Remove the oldest held frame (there must be one). */
  shift(): Uint8Array {
    const frame = this.frames[this.head]!;
    this.frames[this.head++] = EMPTY;
    this.bytes -= this.weight(frame);
    if (this.head === this.frames.length) {
      this.frames = [];
      this.head = 0;
    }
    return frame;
  }

  /** Remove the held request with `tag` that a Tflush may cancel (not itself a Tflush); undefined if none. */
  takeTag(tag: number): Uint8Array | undefined {
    for (let i = this.head; i < this.frames.length; i++) {
      const frame = this.frames[i]!;
      if (requestTag(frame) === tag && frame[4] !== TFLUSH) {
        this.frames.splice(i, 1);
        this.bytes -= this.weight(frame);
        return frame;
      }
    }
    return undefined;
  }

  /** Drop every held frame; returns them, oldest first. */
  clear(): Uint8Array[] {
    const dropped = this.frames.slice(this.head);
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
    return dropped;
  }
}
