// A 9P port between two threads made of two SharedRings (shared-ring.ts) instead of MessagePort
// messages: the sender copies a message into its outbox ring and bumps a counter; the receiver is
// woken by Atomics (a blocking wait, or Atomics.waitAsync in its event loop) and copies it out.
// Each end is a PortLike, so serveMessagePort and createHandle9p work over it unchanged, and the
// port's rules hold as they are (frames in order, PORT_CLOSED last, Tflush's discard rules).
//
// M1: every message keeps its place in the stream. A message no ring can hold (too large, or not
// bytes/text) goes on the MessagePort beside the mailbox, and an `elsewhere` record takes its place
// in the ring: the sender posts it on the port BEFORE writing that record, so the receiver, on
// reading the record, finds it on the port at once (Node's postMessage enqueues synchronously;
// receiveMessageOnPort takes it).
// M2: a full ring never drops a message nor blocks the sender: the message waits in the sender's
// own queue (in order, with everything after it) and is written when the receiver frees space
// (Atomics.waitAsync on the ring's read counter), or at the sender's next post or take.

import type { PortLike } from "./messageport.js";
import { RecordKind, SharedRing } from "./shared-ring.js";

/** The shared memory of one mailbox: create it in one thread, hand both buffers to the other. */
export interface MailboxBuffers {
  /** client → server */
  requests: SharedArrayBuffer;
  /** server → client */
  replies: SharedArrayBuffer;
}

/** 1 MiB each way: two of the largest frames Linux's virtio-9p sends (msize 512000) fit. */
export const DEFAULT_MAILBOX_BYTES = 1 << 20;

export function createMailbox(capacity = DEFAULT_MAILBOX_BYTES): MailboxBuffers {
  return { requests: SharedRing.create(capacity).buffer, replies: SharedRing.create(capacity).buffer };
}

/** The MessagePort beside the mailbox, for the messages a ring does not carry (M1). */
export interface SidePort {
  postMessage(message: unknown, transfer: Transferable[]): void;
  /** The port's next message, synchronously (Node: receiveMessageOnPort), or undefined if none. */
  takeNext(): unknown;
  close(): void;
}

type Listener = (ev: { data: unknown }) => void;

/** One end of a mailbox: a PortLike that also lets its thread take messages synchronously. */
export class MailboxEnd implements PortLike {
  private readonly inbox: SharedRing;
  private readonly outbox: SharedRing;
  private readonly queue: { message: unknown; transfer: Transferable[] }[] = [];
  private readonly listeners: Listener[] = [];
  private listening = false;
  private flushArmed = false;
  private closed = false;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(
    inbox: SharedArrayBuffer,
    outbox: SharedArrayBuffer,
    private readonly side: SidePort,
  ) {
    this.inbox = new SharedRing(inbox);
    this.outbox = new SharedRing(outbox);
  }

  /** The client's end (it sends requests, receives replies). */
  static client(buffers: MailboxBuffers, side: SidePort): MailboxEnd {
    return new MailboxEnd(buffers.replies, buffers.requests, side);
  }

  /** The server's end (it receives requests, sends replies). */
  static server(buffers: MailboxBuffers, side: SidePort): MailboxEnd {
    return new MailboxEnd(buffers.requests, buffers.replies, side);
  }

  /** Send `message` (an ArrayBuffer or view is copied, so `transfer` only matters for messages that go on the side port). */
  postMessage(message: unknown, transfer: Transferable[] = []): void {
    if (this.closed) return; // as a closed MessagePort: the message goes nowhere
    this.queue.push({ message, transfer });
    this.flush();
  }

  /** The next message for this end, or undefined if none is there now. */
  take(): unknown {
    if (this.queue.length > 0) this.flush();
    const record = this.inbox.tryRead();
    if (!record) return undefined;
    if (record.kind === RecordKind.bytes) return record.bytes.buffer;
    if (record.kind === RecordKind.text) return this.decoder.decode(record.bytes);
    return this.side.takeNext(); // M1
  }

  /** A counter that changes whenever a message comes for this end: read it, take(), then wait() on it. */
  get arrivals(): number {
    return this.inbox.written;
  }

  /** Block this thread until `arrivals` is no longer `seen`, at most timeoutMs. */
  wait(seen: number, timeoutMs: number): void {
    this.inbox.waitWritten(seen, timeoutMs);
  }

  /**
   * From now until takingDone(), this thread takes its messages with take() (and wait()): the
   * sender does not wake this thread's event loop for them (shared-ring.ts S3).
   */
  takingBegin(): void {
    this.inbox.takingBegin();
  }

  /** The end of takingBegin(): messages from now on (and any not taken) go to the listeners. */
  takingDone(): void {
    this.inbox.takingDone();
  }

  addEventListener(_type: "message", listener: Listener): void {
    this.listeners.push(listener);
  }

  removeEventListener(_type: "message", listener: Listener): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  /** Deliver messages to the listeners as they come (in this thread's event loop), until close(). */
  start(): void {
    if (this.listening || this.closed) return;
    this.listening = true;
    void this.listen();
  }

  /** Stop receiving; messages already posted are still written as space allows (M2), so the side port closes after them. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.ringDoorbell(); // ends listen()'s wait
    if (this.queue.length === 0) this.side.close();
  }

  private async listen(): Promise<void> {
    while (!this.closed) {
      const seen = this.inbox.doorbell;
      for (let data = this.take(); data !== undefined && !this.closed; data = this.take()) {
        for (const listener of [...this.listeners]) listener({ data });
      }
      if (!this.closed) await this.inbox.doorbellChanged(seen);
    }
  }

  private flush(): void {
    while (this.queue.length > 0) {
      const seen = this.outbox.read;
      if (!this.write(this.queue[0]!)) {
        this.armFlush(seen);
        return;
      }
      this.queue.shift();
    }
    if (this.closed) this.side.close(); // the last queued message is out (close())
  }

  private armFlush(seen: number): void {
    if (this.flushArmed) return;
    this.flushArmed = true;
    void this.outbox.readChanged(seen).then(() => {
      this.flushArmed = false;
      this.flush();
    });
  }

  /** Whether `item` went out (M1); false: no room now. */
  private write(item: { message: unknown; transfer: Transferable[] }): boolean {
    const bytes = this.encode(item.message);
    if (bytes && bytes.length <= this.outbox.largestPayload) {
      return this.outbox.tryWrite(typeof item.message === "string" ? RecordKind.text : RecordKind.bytes, bytes);
    }
    if (!this.outbox.fits(0)) return false;
    this.side.postMessage(item.message, item.transfer);
    return this.outbox.tryWrite(RecordKind.elsewhere);
  }

  private encode(message: unknown): Uint8Array | undefined {
    if (message instanceof ArrayBuffer) return new Uint8Array(message);
    if (ArrayBuffer.isView(message)) return new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    if (typeof message === "string") return this.encoder.encode(message);
    return undefined;
  }
}
