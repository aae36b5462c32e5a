// A single-producer single-consumer ring of messages in a SharedArrayBuffer: one thread writes,
// one other thread reads, and neither clones, transfers or posts anything to hand a message over.
// The two threads of the Node guest harness can use a pair of them as a mailbox (mailbox.ts)
// instead of MessagePort messages (an option: measured, the hand-over's cost there is waking the
// other thread, not the structured clone; scripts/bench/README.md, "The mailbox").
//
// Layout: a 16-byte header of Int32 counters, then `capacity` bytes of data (a power of two).
//   [0] bytes ever written, [1] bytes ever read — both wrap at 2^32; their difference is the
//   bytes in use, their value modulo capacity a position. Only the writer stores [0], only the
//   reader stores [1] (S1). A record is a 4-byte word (kind << 28 | payload length) and the
//   payload, padded to a multiple of 4, so a record's word never straddles the end of the data
//   while its payload may (it is copied in two pieces).
//   [2] 1 while the reader takes records synchronously (readerTaking), [3] the doorbell: a
//   counter the writer bumps for a reader that waits in its event loop.
// S2: the writer fills a record, then publishes it by storing [0]; the reader reads it only below
// the [0] it loaded, then frees it by storing [1]. Atomics are sequentially consistent, so the
// plain byte copies before each store are seen by the other thread after its load.
// S3: a reader blocked in waitWritten() is woken by [0]'s notify; one waiting in its event loop
// (doorbellChanged, Atomics.waitAsync) by the doorbell's, which the writer rings only when [2] is
// 0 — so a reply taken synchronously costs the writer no wake-up of the reader's event loop (a
// task posted to it, before the blocked waiter is woken). The writer stores [0] then loads [2];
// the reader stores [2] = 0 then loads [0] (takingDone): with sequentially consistent atomics at
// least one sees the other's store, and takingDone rings the doorbell itself if records remain.

const WRITTEN = 0;
const READ = 1;
const TAKING = 2;
const DOORBELL = 3;
const HEADER_BYTES = 16;
const WORD = 4;
const KIND_SHIFT = 28;
const LENGTH_MASK = (1 << KIND_SHIFT) - 1;

/** What a record carries: a frame's bytes, a short text (a port's control message), or a pointer elsewhere. */
export const RecordKind = {
  bytes: 0,
  text: 1,
  /** No payload: the message at this point of the stream went another way (mailbox.ts: the MessagePort). */
  elsewhere: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export interface RingRecord {
  kind: RecordKind;
  /** A copy, owned by the caller (its buffer is a plain ArrayBuffer of exactly this length). */
  bytes: Uint8Array;
}

type WaitAsync = (array: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

export class SharedRing {
  readonly buffer: SharedArrayBuffer;
  /** Data bytes (records and their words). */
  readonly capacity: number;
  private readonly counters: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Int32Array;

  /** A new, empty ring of `capacity` data bytes (a power of two, at least 16). */
  static create(capacity: number): SharedRing {
    if (!Number.isInteger(capacity) || capacity < 16 || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`a ring's capacity must be a power of two from 16 to 2^30 bytes, not ${capacity}`);
    }
    return new SharedRing(new SharedArrayBuffer(HEADER_BYTES + capacity));
  }

  /** The ring in `buffer` (made by create(), possibly in another thread). */
  constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.capacity = buffer.byteLength - HEADER_BYTES;
    this.counters = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.data = new Uint8Array(buffer, HEADER_BYTES);
    this.words = new Int32Array(buffer, HEADER_BYTES);
  }

  /** The largest payload a record can have: it and its word fill the whole ring. */
  get largestPayload(): number {
    return Math.min(this.capacity - WORD, LENGTH_MASK);
  }

  /** Bytes ever written (a counter that wraps): wait for it to change to learn of a new record. */
  get written(): number {
    return Atomics.load(this.counters, WRITTEN);
  }

  /** Bytes ever read (a counter that wraps): wait for it to change to learn of free space. */
  get read(): number {
    return Atomics.load(this.counters, READ);
  }

  /** Bytes in use by records not read yet. */
  get used(): number {
    return (this.written - this.read) >>> 0;
  }

  /** Writer only. Whether a record with a payload of `length` bytes fits now. */
  fits(length: number): boolean {
    return length <= this.largestPayload && recordSize(length) <= this.capacity - this.used;
  }

  /**
   * Writer only. Append a record, or return false if there is no room for it now (nothing is
   * written then). A payload larger than largestPayload never fits: RangeError.
   */
  tryWrite(kind: RecordKind, payload: Uint8Array = new Uint8Array(0)): boolean {
    const length = payload.length;
    if (length > this.largestPayload) {
      throw new RangeError(`a record of ${length} bytes cannot fit a ring of ${this.capacity} bytes (largest ${this.largestPayload})`);
    }
    const size = recordSize(length);
    const written = this.written;
    if (size > this.capacity - ((written - this.read) >>> 0)) return false;
    const mask = this.capacity - 1;
    const at = written & mask;
    this.words[at >> 2] = (kind << KIND_SHIFT) | length;
    const start = (at + WORD) & mask;
    const first = Math.min(length, this.capacity - start);
    this.data.set(first === length ? payload : payload.subarray(0, first), start);
    if (first < length) this.data.set(payload.subarray(first), 0);
    Atomics.store(this.counters, WRITTEN, (written + size) | 0); // S2: publish
    Atomics.notify(this.counters, WRITTEN);
    if (Atomics.load(this.counters, TAKING) === 0) this.ringDoorbell(); // S3
    return true;
  }

  /** Reader only. Take the oldest record, or undefined if there is none. */
  tryRead(): RingRecord | undefined {
    const read = this.read;
    if (this.written === read) return undefined;
    const mask = this.capacity - 1;
    const at = read & mask;
    const word = this.words[at >> 2]!;
    const kind = (word >>> KIND_SHIFT) as RecordKind;
    const length = word & LENGTH_MASK;
    const bytes = new Uint8Array(length);
    const start = (at + WORD) & mask;
    const first = Math.min(length, this.capacity - start);
    bytes.set(this.data.subarray(start, start + first));
    if (first < length) bytes.set(this.data.subarray(0, length - first), first);
    Atomics.store(this.counters, READ, (read + recordSize(length)) | 0); // S2: free
    Atomics.notify(this.counters, READ);
    return { kind, bytes };
  }

  /** Reader only: from now until takingDone(), records are taken synchronously (S3: the doorbell stays quiet). */
  takingBegin(): void {
    Atomics.store(this.counters, TAKING, 1);
  }

  /** Reader only: the end of takingBegin()'s span; records left unread ring the doorbell (S3). */
  takingDone(): void {
    Atomics.store(this.counters, TAKING, 0);
    if (this.written !== this.read) this.ringDoorbell();
  }

  /** Changes whenever the doorbell rings (S3). */
  get doorbell(): number {
    return Atomics.load(this.counters, DOORBELL);
  }

  /** Wake the reader's event-loop wait (doorbellChanged), e.g. to stop a loop that waits in it. */
  ringDoorbell(): void {
    Atomics.add(this.counters, DOORBELL, 1);
    Atomics.notify(this.counters, DOORBELL);
  }

  /** Block this thread until `written` is no longer `seen` or timeoutMs passed (not on a browser's main thread). */
  waitWritten(seen: number, timeoutMs: number): void {
    Atomics.wait(this.counters, WRITTEN, seen, timeoutMs);
  }

  /** Resolves once `doorbell` is no longer `seen`. */
  doorbellChanged(seen: number): Promise<void> {
    return changed(this.counters, DOORBELL, seen);
  }

  /** Resolves once `read` is no longer `seen`. */
  readChanged(seen: number): Promise<void> {
    return changed(this.counters, READ, seen);
  }
}

function recordSize(length: number): number {
  return WORD + ((length + 3) & ~3);
}

function changed(counters: Int32Array, index: number, seen: number): Promise<void> {
  if (!waitAsync) throw new Error("Atomics.waitAsync is not available here (Node ≥ 16, Chromium ≥ 87 have it)");
  const result = waitAsync(counters, index, seen);
  return result.async ? result.value.then(() => undefined) : Promise.resolve();
}
