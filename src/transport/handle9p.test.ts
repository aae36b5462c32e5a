import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, test } from "vitest";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOFID, NOTAG, OpenFlags } from "../protocol/constants.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server } from "../server/server.js";
import { createHandle9p, zeroLengthReply, type FramePort } from "./handle9p.js";
import { PORT_CLOSED, serveMessagePort, type PortLike } from "./messageport.js";

// A stand-in for v86's Virtio9pHandler reply path (lib/9p.js + src/virtio.js): the reply
// callback finds the queue slot by the tag read from bytes 5–6, copies buf.length bytes into
// the guest's buffer and returns the slot with that many bytes as its used length.
class FakeVirtqueue {
  readonly slots = new Map<number, true>();
  readonly used: { tag: number; length: number; type: number | undefined }[] = [];
  readonly stray: number[] = [];
  /** Called after each slot comes back. */
  onUsed: () => void = () => undefined;

  request(handle: (req: Uint8Array, reply: (b: Uint8Array) => void) => void, frame: Uint8Array): void {
    const tag = frame[5]! | (frame[6]! << 8);
    this.slots.set(tag, true);
    handle(frame, (buf) => {
      const replyTag = buf[5]! + (buf[6]! << 8); // v86: marshall.Unmarshall(["w","b","h"], buf)
      if (!this.slots.has(replyTag)) {
        this.stray.push(replyTag);
        return;
      }
      const length = buf.length; // v86: bufchain.set_next_blob(buf) → length_written
      this.used.push({ tag: replyTag, length, type: length > 4 ? buf[4] : undefined });
      this.slots.delete(replyTag);
      this.onUsed();
    });
  }
}

function frame(type: number, tag: number, body: number[] = []): Uint8Array {
  const f = new Uint8Array(7 + body.length);
  new DataView(f.buffer).setUint32(0, f.length, true);
  f[4] = type;
  f[5] = tag & 0xff;
  f[6] = tag >> 8;
  f.set(body, 7);
  return f;
}
const tflush = (tag: number, oldtag: number) => frame(108, tag, [oldtag & 0xff, oldtag >> 8]);

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

/** A fake server on the far end of a MessageChannel that records requests and sends what the test tells it to. */
function setup(options: Parameters<typeof createHandle9p>[1] = {}) {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const received: Uint8Array[] = [];
  let notify: (() => void) | undefined;
  port2.on("message", (data: ArrayBuffer) => {
    received.push(new Uint8Array(data));
    notify?.();
  });
  const strays: Uint8Array[] = [];
  // What the guest side saw changes only as replies come through the port: tests wait for that.
  let changed = (): void => undefined;
  const handle = createHandle9p(port1 as unknown as FramePort, {
    onStray: (f) => {
      strays.push(f);
      changed();
    },
    ...options,
  });
  const vq = new FakeVirtqueue();
  vq.onUsed = () => changed();
  const send = (f: Uint8Array) => {
    const copy = f.slice();
    port2.postMessage(copy.buffer, [copy.buffer]);
  };
  const serverGot = async (n: number) => {
    while (received.length < n) await new Promise<void>((r) => (notify = r));
  };
  /** Resolves once `cond` holds, re-checked whenever a slot comes back or a stray is reported. */
  const until = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      changed = () => {
        if (cond()) resolve();
      };
      changed();
    });
  /** Resolves once `n` slots have come back in all. */
  const returned = (n: number) => until(() => vq.used.length >= n);
  const post = (message: unknown) => port2.postMessage(message);
  return { handle, vq, send, post, received, serverGot, until, returned, strays };
}

describe("createHandle9p", () => {
  test("routes replies by tag, in any order, and forwards whole frames", async () => {
    const { handle, vq, send, received, serverGot, returned } = setup();
    vq.request(handle, frame(110, 1, [1, 2, 3]));
    vq.request(handle, frame(116, 2));
    vq.request(handle, frame(24, 3));
    await serverGot(3);
    expect([...received[0]!]).toEqual([...frame(110, 1, [1, 2, 3])]);
    expect(handle.pending).toBe(3);
    send(frame(25, 3, [9]));
    send(frame(111, 1));
    send(frame(117, 2, [1, 2, 3, 4]));
    await returned(3);
    expect(vq.used).toEqual([
      { tag: 3, length: 8, type: 25 },
      { tag: 1, length: 7, type: 111 },
      { tag: 2, length: 11, type: 117 },
    ]);
    expect(handle.pending).toBe(0);
    expect(vq.slots.size).toBe(0);
  });

  test("an Rflush whose old request got no reply returns the old slot with used length 0, before the Rflush", async () => {
    const discardedTags: number[] = [];
    const { handle, vq, send, serverGot, returned, strays } = setup({ onDiscard: (t) => discardedTags.push(t) });
    vq.request(handle, frame(116, 5));
    vq.request(handle, tflush(6, 5));
    await serverGot(2);
    send(frame(109, 6)); // the server aborted tag 5 and sends no reply for it
    await returned(2);
    expect(vq.used).toEqual([
      { tag: 5, length: 0, type: undefined },
      { tag: 6, length: 7, type: 109 },
    ]);
    expect(vq.slots.size).toBe(0);
    expect(handle.discarded).toBe(1);
    expect(discardedTags).toEqual([5]);
    expect(strays).toEqual([]);
    // the tag is free again: a new request with tag 5 works normally
    vq.request(handle, frame(24, 5));
    await serverGot(3);
    send(frame(25, 5));
    await returned(3);
    expect(vq.used.at(-1)).toEqual({ tag: 5, length: 7, type: 25 });
  });

  test("a request answered before its Rflush is delivered normally, not discarded", async () => {
    const { handle, vq, send, serverGot, returned } = setup();
    vq.request(handle, frame(118, 7));
    vq.request(handle, tflush(8, 7));
    await serverGot(2);
    send(frame(119, 7, [4, 0, 0, 0]));
    send(frame(109, 8));
    await returned(2);
    expect(vq.used).toEqual([
      { tag: 7, length: 11, type: 119 },
      { tag: 8, length: 7, type: 109 },
    ]);
    expect(handle.discarded).toBe(0);
  });

  test("an Rflush for a tag that was never in flight discards nothing", async () => {
    const { handle, vq, send, serverGot, returned } = setup();
    vq.request(handle, frame(24, 1));
    vq.request(handle, tflush(2, 40));
    await serverGot(2);
    send(frame(109, 2));
    await returned(1);
    expect(vq.used).toEqual([{ tag: 2, length: 7, type: 109 }]);
    expect(handle.pending).toBe(1);
  });

  test('discard: "eintr" answers the old tag with Rlerror(EINTR) instead', async () => {
    const { handle, vq, send, serverGot, returned } = setup({ discard: "eintr" });
    vq.request(handle, frame(116, 5));
    vq.request(handle, tflush(6, 5));
    await serverGot(2);
    send(frame(109, 6));
    await returned(2);
    expect(vq.used).toEqual([
      { tag: 5, length: 11, type: 7 },
      { tag: 6, length: 7, type: 109 },
    ]);
  });

  test("Rversion gives back the slots of requests the version reset aborted", async () => {
    const { handle, vq, send, serverGot, returned } = setup();
    vq.request(handle, frame(116, 1));
    vq.request(handle, frame(100, 0xffff));
    await serverGot(2);
    send(frame(101, 0xffff));
    await returned(2);
    expect(vq.used).toEqual([
      { tag: 1, length: 0, type: undefined },
      { tag: 0xffff, length: 7, type: 101 },
    ]);
  });

  test("replies for unknown tags are reported, not delivered", async () => {
    const { handle, vq, send, until, strays } = setup();
    vq.request(handle, frame(24, 1));
    send(frame(25, 9));
    await until(() => strays.length >= 1);
    expect(vq.used).toEqual([]);
    expect(strays.map((f) => f[5])).toEqual([9]);
  });

  test("PORT_CLOSED (the server ended the session): every pending request and every later one gets Rlerror(EIO), none hangs", async () => {
    const { handle, vq, post, received, serverGot, strays } = setup();
    vq.request(handle, frame(24, 1));
    vq.request(handle, frame(12, 2));
    await serverGot(2);
    post(PORT_CLOSED);
    for (let i = 0; i < 10_000 && vq.used.length < 2; i++) await new Promise((r) => setImmediate(r));
    const eio = (tag: number) => ({ tag, length: 11, type: 7 });
    expect(vq.used).toEqual([eio(1), eio(2)]);
    expect(handle.pending).toBe(0);
    // The guest keeps going: a later request is answered at once, not posted to a closed port.
    vq.request(handle, frame(24, 3));
    expect(vq.used[2]).toEqual(eio(3));
    expect(received).toHaveLength(2);
    expect(strays).toEqual([]);
  });

  test("zeroLengthReply carries the tag in bytes 5–6 but has length 0", () => {
    const z = zeroLengthReply(0x1234);
    expect(z.length).toBe(0);
    expect(z[5]).toBe(0x34);
    expect(z[6]).toBe(0x12);
  });
});

describe("createHandle9p with wait", () => {
  /** handle9p's wait.receive backed by a queue the test fills: what is queued has "arrived" on the port. */
  function setupWait(ms = 50) {
    const queue: ArrayBuffer[] = [];
    const asked: number[] = [];
    const receive = (timeoutMs: number) => {
      asked.push(timeoutMs);
      return queue.shift();
    };
    const ctx = setup({ wait: { ms, receive } });
    const arrive = (...frames: Uint8Array[]) => queue.push(...frames.map((f) => f.slice().buffer));
    return { ...ctx, queue, asked, arrive };
  }

  test("a reply that arrives during the wait is delivered before handle9p returns", async () => {
    const { handle, vq, arrive, received, serverGot } = setupWait();
    arrive(frame(111, 1));
    vq.request(handle, frame(110, 1));
    expect(vq.used).toEqual([{ tag: 1, length: 7, type: 111 }]);
    expect(handle.pending).toBe(0);
    expect(handle.answeredInWait).toBe(1);
    expect(handle.waitTimeouts).toBe(0);
    await serverGot(1);
    expect([...received[0]!]).toEqual([...frame(110, 1)]);
  });

  test("a wait that runs out returns; the reply then comes through the port as before", async () => {
    const { handle, vq, send, serverGot, returned, asked } = setupWait(5);
    vq.request(handle, frame(24, 3));
    expect(vq.used).toEqual([]);
    expect(handle.waitTimeouts).toBe(1);
    expect(asked.length).toBe(1);
    expect(asked[0]!).toBeGreaterThan(0);
    expect(asked[0]!).toBeLessThanOrEqual(5);
    await serverGot(1);
    send(frame(25, 3));
    await returned(1);
    expect(vq.used).toEqual([{ tag: 3, length: 7, type: 25 }]);
    expect(handle.answeredInWait).toBe(0);
  });

  test("other replies that arrive during the wait are delivered in order, up to this request's", () => {
    const { handle, vq, arrive, queue } = setupWait();
    vq.request(handle, frame(24, 1)); // runs out: nothing queued
    vq.request(handle, frame(24, 2)); // runs out
    arrive(frame(25, 2), frame(25, 1), frame(111, 3), frame(25, 9));
    vq.request(handle, frame(110, 3));
    expect(vq.used.map((u) => u.tag)).toEqual([2, 1, 3]);
    expect(queue.length).toBe(1); // the frame after tag 3's reply is left for later
    expect(handle.pending).toBe(0);
    expect(handle.answeredInWait).toBe(1);
    expect(handle.waitTimeouts).toBe(2);
  });

  test("an Rflush during the wait still gives the old slot back (length 0) before the Rflush", () => {
    const discardedTags: number[] = [];
    const queue: ArrayBuffer[] = [];
    const { handle, vq, strays } = setup({ wait: { ms: 50, receive: () => queue.shift() }, onDiscard: (t) => discardedTags.push(t) });
    vq.request(handle, frame(116, 5)); // runs out
    queue.push(frame(109, 6).slice().buffer); // the server aborted tag 5: no reply for it
    vq.request(handle, tflush(6, 5));
    expect(vq.used).toEqual([
      { tag: 5, length: 0, type: undefined },
      { tag: 6, length: 7, type: 109 },
    ]);
    expect(vq.slots.size).toBe(0);
    expect(discardedTags).toEqual([5]);
    expect(strays).toEqual([]);
  });

  test("a request answered before its Rflush during the wait is delivered, not discarded", () => {
    const queue: ArrayBuffer[] = [];
    const { handle, vq } = setup({ wait: { ms: 50, receive: () => queue.shift() } });
    vq.request(handle, frame(118, 7)); // runs out
    queue.push(frame(119, 7, [4, 0, 0, 0]).slice().buffer, frame(109, 8).slice().buffer);
    vq.request(handle, tflush(8, 7));
    expect(vq.used).toEqual([
      { tag: 7, length: 11, type: 119 },
      { tag: 8, length: 7, type: 109 },
    ]);
    expect(handle.discarded).toBe(0);
  });

  test("wait.ms 0 never calls receive", () => {
    let calls = 0;
    const { handle, vq } = setup({ wait: { ms: 0, receive: () => (calls++, undefined) } });
    vq.request(handle, frame(24, 1));
    expect(calls).toBe(0);
    expect(handle.waitTimeouts).toBe(0);
  });
});

describe("createHandle9p with recycle, against a worker9p server", () => {
  test("large writes and reads go through recycled buffers both ways, and every reply the guest gets is whole and right", async () => {
    const fs = await FileSystem.open(new MemoryStore());
    const server = new Server(fs);
    const { port1, port2 } = new MessageChannel();
    ports.push(port1, port2);
    const ps = serveMessagePort(server, port1 as unknown as PortLike);
    const handle = createHandle9p(port2 as unknown as FramePort, { recycle: true });
    // v86: the reply is copied into the guest's buffer inside reply().
    const call = (msg: TMessage) =>
      new Promise<RMessage>((resolve) => handle(encodeMessage(msg), (buf) => resolve(decodeMessage(buf.slice()) as RMessage)));
    await call({ type: "Tversion", tag: NOTAG, msize: 256 * 1024, version: "9P2000.L" });
    await call({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
    await call({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [] });
    await call({ type: "Tlcreate", tag: 1, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    const block = 100 * 1024;
    const pattern = (i: number) => Uint8Array.from({ length: block }, (_, j) => (i * 13 + j * 7) & 0xff);
    for (let i = 0; i < 8; i++) expect(await call({ type: "Twrite", tag: 2, fid: 1, offset: i * block, data: pattern(i) })).toMatchObject({ type: "Rwrite", count: block });
    for (let i = 0; i < 8; i++) {
      const r = await call({ type: "Tread", tag: 3, fid: 1, offset: i * block, count: block });
      expect(r.type === "Rread" && Buffer.compare(r.data, pattern(i)) === 0).toBe(true);
    }
    expect(ps.pool!.stats.reused).toBeGreaterThanOrEqual(14);
    ps.close();
  });
});
