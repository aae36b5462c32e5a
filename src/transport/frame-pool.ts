/**
 * Recycled frame buffers for one MessagePort connection (either end).
 *
 * Allocating a fresh ArrayBuffer of half a MiB costs more than the 9P round
 * trip that carries it (fresh pages are faulted in and zeroed, and later
 * collected and unmapped). Requests and replies alternate on a port, so the
 * buffers of frames received can carry the frames sent next: in the steady
 * state no large buffer is allocated at all (scripts/bench/README.md).
 *
 * Recycled frames. The whole risk of reusing a buffer is a view of it that
 * outlives its frame and then sees another frame's bytes. These rules keep it
 * impossible; code that relies on them refers to them by number.
 *
 *  R1. A received frame's buffer goes back to its pool only once nothing can
 *      read it any more. Server: a request's frame once the request completed
 *      — its handler settled with a result or an error and nothing of it runs
 *      on (Session.run). A request that was aborted (Tflush, Tversion, the
 *      session's end), held and dropped, or never started gives its buffer to
 *      no one: an aborted store body may still hold views for a moment, so
 *      that buffer is left to the garbage collector. Client: a reply's frame
 *      once Client.onFrame returned; it copies every byte payload (Rread,
 *      Rreaddir) out before anyone sees the reply.
 *  R2. A handler's result never holds views of its request's frame, so the
 *      frame may be recycled before the reply is encoded — into that very
 *      buffer. Twrite's data is the one payload the tree sees; it reaches a
 *      store as views only if that store is done with them by its commit
 *      (Store.keepsChunkBuffers false), else it is copied (fs/data.ts).
 *  R3. A buffer sent with slack (unused bytes after the frame) carries only
 *      bytes of this connection's own earlier frames: pools are per port,
 *      never shared between sessions, and fresh buffers are zeroed. Slack is
 *      sent only to a peer that accepts it (PORT_ACCEPTS_SLACK).
 *  R4. A pool holds at most `maxBuffers` buffers and `maxBytes` bytes, each
 *      between `minCapacity` and `maxCapacity`; anything else is dropped.
 */

export interface FramePoolOptions {
  /** Most buffers kept (default 4). */
  maxBuffers?: number;
  /** Most bytes kept over all of them (default 4 MiB + 256 KiB: four 1 MiB frames with their headers). */
  maxBytes?: number;
  /** Smaller buffers are not worth keeping (default 16 KiB). */
  minCapacity?: number;
  /** Larger buffers are not kept (default 1 MiB + 64 KiB: an msize of 1 MiB and a 9P header). */
  maxCapacity?: number;
}

/** Fresh buffers worth pooling are rounded up to this, so a Twrite's buffer can carry the next Rread of the same count. */
const GRANULE = 64 * 1024;

/** The largest buffer worth pooling for frames of at most `maxFrame` bytes (a granule of slack above it). */
export function frameCapacity(maxFrame: number): number {
  return Math.ceil(maxFrame / GRANULE) * GRANULE + GRANULE;
}

export class FramePool {
  readonly maxBuffers: number;
  readonly maxBytes: number;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  /** Buffers this pool handed out for frames being built: only these may be sent with slack. */
  private readonly handedOut = new WeakSet<ArrayBuffer>();
  /** Counters for tests and benchmarks. */
  readonly stats = { reused: 0, fresh: 0, dropped: 0 };

  constructor(options: FramePoolOptions = {}) {
    this.maxBuffers = options.maxBuffers ?? 4;
    this.maxBytes = options.maxBytes ?? 4 * 1024 * 1024 + 256 * 1024;
    this.minCapacity = options.minCapacity ?? 16 * 1024;
    this.maxCapacity = options.maxCapacity ?? frameCapacity(1024 * 1024);
  }

  /** Buffers kept now, and their bytes. */
  get size(): number {
    return this.free.length;
  }
  get bytes(): number {
    return this.freeBytes;
  }

  /**
   * `size` bytes at offset 0 of a kept buffer that holds them (stale bytes
   * included), else of a fresh one — rounded up to be worth keeping later
   * when the frame is large, exact when it is small.
   */
  take = (size: number): Uint8Array => {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const cap = this.free[i]!.byteLength;
      if (cap >= size && (best < 0 || cap < this.free[best]!.byteLength)) best = i;
    }
    let buf: ArrayBuffer;
    if (best >= 0) {
      buf = this.free[best]!;
      this.free[best] = this.free[this.free.length - 1]!;
      this.free.pop();
      this.freeBytes -= buf.byteLength;
      this.stats.reused++;
    } else {
      const rounded = Math.ceil(size / GRANULE) * GRANULE;
      buf = new ArrayBuffer(size >= this.minCapacity && rounded <= this.maxCapacity ? rounded : size);
      this.stats.fresh++;
    }
    this.handedOut.add(buf);
    return new Uint8Array(buf, 0, size);
  };

  /** Whether `frame` was built in a buffer from take(), so its whole buffer may be sent (R3). */
  built(frame: Uint8Array): boolean {
    return frame.byteOffset === 0 && frame.buffer instanceof ArrayBuffer && this.handedOut.has(frame.buffer);
  }

  /** Keep `buf` for a later take(), within the bounds (R4). The caller holds no view of it any more (R1). */
  give(buf: ArrayBuffer): void {
    const cap = buf.byteLength;
    if (
      cap < this.minCapacity ||
      cap > this.maxCapacity ||
      this.free.length >= this.maxBuffers ||
      this.freeBytes + cap > this.maxBytes ||
      this.free.includes(buf)
    ) {
      this.stats.dropped++;
      return;
    }
    this.free.push(buf);
    this.freeBytes += cap;
  }
}

/**
 * The frame at the start of a port message: an ArrayBuffer whose first bytes
 * are one whole frame (its size[4] says how long), maybe followed by slack.
 * undefined for anything else, or a size field that is shorter than a 9P
 * header or longer than the buffer (broken framing).
 */
export function frameAtStart(data: unknown): Uint8Array | undefined {
  if (!(data instanceof ArrayBuffer) || data.byteLength < 7) return undefined;
  const size = new DataView(data).getUint32(0, true);
  if (size < 7 || size > data.byteLength) return undefined;
  return new Uint8Array(data, 0, size);
}
