// The host side of v86's `filesystem.handle9p` hook, bridged to a worker9p server that
// runs behind a MessagePort (worker thread, Web Worker, SharedWorker…).
//
// v86 calls handle9p(reqbuf, reply) synchronously for every request the guest puts on the
// virtio-9p queue and keeps that queue slot until reply(buf) is called; it finds the slot
// by the tag in bytes 5–6 of buf and copies buf.length bytes into the guest's buffer.
// The queue has 32 slots: a request that is never answered keeps its slot forever.
//
// Cancellation: worker9p really cancels. For Tflush(oldtag) the server either
//  - answers oldtag first (it had taken effect), then sends Rflush; or
//  - sends NO reply for oldtag (it was aborted before it took effect), then Rflush.
// The Rflush never overtakes the old reply. So when an Rflush arrives and the reply
// callback for its oldtag is still pending, the old request was discarded, and its slot
// must go back to the guest without handing the guest a result it would act on.
//
// What Linux does with a returned buffer (net/9p/trans_virtio.c, req_done):
//     while ((req = virtqueue_get_buf(chan->vq, &len)) != NULL) {
//         ...ring_bufs_avail = 1...
//         if (len) { req->rc.size = len; p9_client_cb(chan->client, req, REQ_STATUS_RCVD); }
//     }
// A used buffer of length 0 frees the ring space and completes nothing; p9_client_flush then
// sees the old request still in REQ_STATUS_SENT when the Rflush arrives and calls
// p9_virtio_cancelled(), which drops the reference the completion would have dropped.
// This is exactly what QEMU does for a cancelled request.
//
// How v86 can produce a used length of 0 (lib/9p.js Virtio9pHandler, src/virtio.js): the reply
// callback reads the tag with Unmarshall(["w","b","h"], buf) — plain indexing buf[0..6] — then
// bufchain.set_next_blob(buf), which writes buf.length bytes and adds them to length_written,
// and push_reply() puts length_written into the used ring. So a 7-byte header whose `length`
// reads 0 returns the slot with used length 0 (see zeroLengthReply). reply(new Uint8Array(0))
// would not work: v86 would find no tag in it and keep the slot.
// The other possibility, an Rlerror(EINTR) for oldtag, would make Linux complete the old
// request with an error (status RCVD, so p9_client_flush skips the cancelled() path) — it
// works too, but hands the guest a result; it is kept as `discard: "eintr"` for v86 builds
// whose reply path would not accept the zero-length header.
//
// The discarded slot is returned BEFORE the Rflush is delivered: after the Rflush Linux may
// reuse oldtag at once, and v86 keys its slots by tag, so a slot still registered under
// oldtag would be overwritten (and leaked) by the next request with that tag.
//
// The end of the session: the server's last message on a port it closes is PORT_CLOSED (a
// protocol error, the tree closing). Every request still pending is then answered with
// Rlerror(EIO), and so is every later one, at once: the guest's I/O fails instead of
// sleeping forever on a slot nobody will return. A worker that dies sends nothing: the page API
// watches it and posts PORT_CLOSED on its behalf (src/index.ts, watchWorker).
//
// Waiting for the reply (option `wait`): v86's own server answers inside the call, so the guest
// finds its request done when it comes back from the virtqueue kick. An answer that comes later
// makes the guest put the process to sleep and halt, then take the interrupt and switch back; and
// a reply that arrives while v86's main loop runs (about half of them: the guest is still on its
// way to halting) waits for the loop to return before the event listener sees it. So handle9p may
// block for a short while after posting a request, taking messages off the port itself
// (`wait.receive`) and delivering them exactly as the event listener would, until this request's
// reply came or the time is up; whatever comes later arrives through the listener as before.
// (Linux 6.1 guest, small-file workload: round trip p50 65 → 40 µs, guest time between
// requests p50 100 → 65 µs.) The rules above do not change: a frame is handled the same
// whichever way it arrives, and the port stays in order. v86 registers the slot before calling
// handle9p, so reply() may be called inside it.

import { FramePool, frameAtStart } from "./frame-pool.js";
import { PORT_ACCEPTS_SLACK, PORT_CLOSED } from "./messageport.js";

const Tversion = 100;
const Rversion = 101;
const Tflush = 108;
const Rflush = 109;
const Rlerror = 7;
const EINTR = 4;
const EIO = 5;

/** v86's hook signature. */
export type Handle9p = (reqbuf: Uint8Array, reply: (buf: Uint8Array) => void) => void;

/**
 * The part of a MessagePort this needs (the DOM MessagePort and Node's worker_threads
 * MessagePort both fit). Each message is one whole 9P frame as an ArrayBuffer.
 */
export interface FramePort {
  postMessage(message: ArrayBuffer, transfer: ArrayBuffer[]): void;
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  start?(): void;
}

export interface Handle9pOptions {
  /**
   * How a request the server discarded after a Tflush gives its virtqueue slot back:
   * "empty" (default) returns it with used length 0, as QEMU does; "eintr" answers it with
   * Rlerror(EINTR) (see the comment at the top of this file).
   */
  discard?: "empty" | "eintr";
  /** A reply whose tag has no pending request (a server bug): default console.error. */
  onStray?: (frame: Uint8Array) => void;
  /** Called for every request discarded after a Tflush (or by a Tversion), with its tag. */
  onDiscard?: (tag: number) => void;
  /**
   * Block in handle9p for up to `ms` milliseconds for the request's reply (see "Waiting for the
   * reply" above). `receive(timeoutMs)` takes the next message off the port — it is then not
   * dispatched as an event — waiting at most timeoutMs for one; undefined if none came.
   * (Node: receiveMessageOnPort plus an Atomics.wait on a counter the server bumps after
   * each post; see scripts/guest/run.ts.)
   */
  wait?: { ms: number; receive(timeoutMs: number): unknown };
  /**
   * The port is a worker9p server's MessagePort (not a stand-in that takes only frames): ask it for
   * replies in recycled buffers (PORT_ACCEPTS_SLACK) and send requests in them too. v86 copies a
   * reply into the guest's memory inside reply(), so its buffer is free once reply() returns (R1).
   */
  recycle?: boolean;
}

export interface Handle9pControl {
  /** Requests posted and not answered yet. */
  readonly pending: number;
  /** Requests given back to the guest without a reply. */
  readonly discarded: number;
  /** With `wait`: requests answered before handle9p returned. */
  readonly answeredInWait: number;
  /** With `wait`: waits that ran out (those replies came later). */
  readonly waitTimeouts: number;
}

/** Build v86's `filesystem.handle9p` callback talking to a worker9p server over `port`. */
export function createHandle9p(port: FramePort, options: Handle9pOptions = {}): Handle9p & Handle9pControl {
  const pending = new Map<number, (buf: Uint8Array) => void>();
  /** tag of an outstanding Tflush → its oldtag */
  const flushes = new Map<number, number>();
  let versionTag: number | undefined;
  /** The server ended the session (PORT_CLOSED): nothing will ever answer on this port. */
  let ended = false;
  let discarded = 0;
  let answeredInWait = 0;
  let waitTimeouts = 0;
  const wait = options.wait && options.wait.ms > 0 ? options.wait : undefined;
  const pool = options.recycle ? new FramePool() : undefined;
  const mode = options.discard ?? "empty";
  const onStray =
    options.onStray ??
    ((frame: Uint8Array) =>
      console.error(`worker9p handle9p: reply type ${frame[4]} for tag ${tagOf(frame)} that has no pending request`));

  const giveBack = (tag: number) => {
    const reply = pending.get(tag);
    if (!reply) return;
    pending.delete(tag);
    flushes.delete(tag);
    discarded++;
    options.onDiscard?.(tag);
    reply(mode === "eintr" ? rlerror(tag, EINTR) : zeroLengthReply(tag));
  };

  const onFrame = (frame: Uint8Array) => {
    if (frame.length < 7) {
      onStray(frame);
      return;
    }
    const type = frame[4]!;
    const tag = tagOf(frame);
    const reply = pending.get(tag);
    if (!reply) {
      onStray(frame);
      return;
    }
    pending.delete(tag);
    const oldtag = flushes.get(tag);
    flushes.delete(tag);
    if (type === Rflush && oldtag !== undefined && oldtag !== tag) {
      // No reply came for oldtag before its Rflush: the server dropped it.
      giveBack(oldtag);
    } else if (type === Rversion && tag === versionTag) {
      // Tversion aborted every request in flight on the session: none of them will be answered.
      versionTag = undefined;
      for (const t of [...pending.keys()]) giveBack(t);
    }
    reply(frame);
  };

  // The guest must see an error, not a hang: a request that waits on a closed
  // port keeps its virtqueue slot, and the process that made it, forever.
  const endSession = () => {
    ended = true;
    flushes.clear();
    versionTag = undefined;
    for (const [tag, reply] of [...pending]) {
      pending.delete(tag);
      reply(rlerror(tag, EIO));
    }
  };

  const onMessage = (data: unknown) => {
    if (data instanceof ArrayBuffer && pool) {
      const frame = frameAtStart(data);
      if (!frame) return onStray(new Uint8Array(data));
      onFrame(frame);
      // v86 copied it into the guest's buffer inside reply() (R1).
      pool.give(data);
    } else if (data instanceof ArrayBuffer) onFrame(new Uint8Array(data));
    else if (ArrayBuffer.isView(data)) onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    else if (data === PORT_CLOSED) endSession();
    else onStray(new Uint8Array(0));
  };
  port.addEventListener("message", (event) => onMessage(event.data));
  port.start?.();
  // Only a worker9p server's port is given `recycle`; FramePort's type says frames, as stand-ins take only those.
  if (pool) (port as { postMessage(message: unknown, transfer: ArrayBuffer[]): void }).postMessage(PORT_ACCEPTS_SLACK, []);

  const handle = ((reqbuf: Uint8Array, reply: (buf: Uint8Array) => void) => {
    if (reqbuf.length < 7) return; // no tag to answer by; v86 never sends this
    const tag = tagOf(reqbuf);
    const type = reqbuf[4]!;
    if (ended) {
      reply(rlerror(tag, EIO));
      return;
    }
    pending.set(tag, reply);
    if (type === Tflush && reqbuf.length >= 9) flushes.set(tag, reqbuf[7]! | (reqbuf[8]! << 8));
    else flushes.delete(tag);
    if (type === Tversion) versionTag = tag;
    // Copy: v86 owns reqbuf. The copy is transferred, not cloned.
    const copy = pool ? pool.take(reqbuf.length) : new Uint8Array(reqbuf.length);
    copy.set(reqbuf);
    port.postMessage(copy.buffer as ArrayBuffer, [copy.buffer as ArrayBuffer]);
    if (!wait) return;
    // Until this request is answered; other replies that come meanwhile are delivered too.
    const deadline = performance.now() + wait.ms;
    while (pending.get(tag) === reply) {
      const left = deadline - performance.now();
      const data = left > 0 ? wait.receive(left) : undefined;
      if (data === undefined) {
        waitTimeouts++;
        return;
      }
      onMessage(data);
    }
    answeredInWait++;
  }) as Handle9p & Handle9pControl;
  Object.defineProperties(handle, {
    pending: { get: () => pending.size },
    discarded: { get: () => discarded },
    answeredInWait: { get: () => answeredInWait },
    waitTimeouts: { get: () => waitTimeouts },
  });
  return handle;
}

/** v86's hook once its server is gone (closed, or its worker died): every request gets Rlerror(EIO) at once. */
export const endedHandle9p: Handle9p = (reqbuf, reply) => {
  if (reqbuf.length >= 7) reply(rlerror(tagOf(reqbuf), EIO));
};

function tagOf(frame: Uint8Array): number {
  return frame[5]! | (frame[6]! << 8);
}

/**
 * A "reply" that makes v86 return the request's virtqueue buffer with used length 0:
 * bytes 0–6 hold a header with `tag` (v86 reads the tag by index), `length` reads 0
 * (v86 copies `length` bytes into the guest's buffer and reports that count as used length).
 */
export function zeroLengthReply(tag: number): Uint8Array {
  const header = new Uint8Array(7);
  header[0] = 7; // size (never read by v86; a consistent header all the same)
  header[4] = Rlerror;
  header[5] = tag & 0xff;
  header[6] = tag >> 8;
  Object.defineProperty(header, "length", { value: 0 });
  return header;
}

function rlerror(tag: number, errno: number): Uint8Array {
  const f = new Uint8Array(11);
  const v = new DataView(f.buffer);
  v.setUint32(0, 11, true);
  f[4] = Rlerror;
  v.setUint16(5, tag, true);
  v.setUint32(7, errno, true);
  return f;
}
