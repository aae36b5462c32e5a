// The MessagePort transport over a real MessageChannel: the wire rule (frames with slack) and
// recycled buffers (transport/frame-pool.ts, R1–R4), with our Client and with a raw client.
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { LockFlags, LockStatus, LockType, NOFID, NOTAG, OpenFlags } from "../protocol/constants.js";
import { isAbortError } from "../protocol/errno.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { Client } from "../client/client.js";
import { portTransport } from "../client/transports.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server } from "../server/server.js";
import { PORT_CLOSED, serveMessagePort, type PortLike, type PortSession } from "./messageport.js";

const KiB = 1024;
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0).reverse()) c();
});

async function serve(opts: { chunkSize?: number; latencyMs?: number; limits?: { maxInFlight?: number; maxHeldBytes?: number } } = {}) {
  const fs = await FileSystem.open(new MemoryStore(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}), { latencyMs: opts.latencyMs ?? 0 });
  const server = new Server(fs, { ...opts.limits, onInternalError: (e) => { throw e; } });
  const { port1, port2 } = new MessageChannel();
  const errors: string[] = [];
  const ps: PortSession = serveMessagePort(server, port1 as unknown as PortLike, { onProtocolError: (r) => errors.push(r) });
  closers.push(() => {
    ps.close();
    port2.close();
  });
  return { server, ps, port: port2, errors };
}

/** A raw client on a Node port: posts frames as given, records every message as it came. */
function rawClient(port: MessagePort) {
  const messages: unknown[] = [];
  let wake = () => {};
  port.on("message", (d: unknown) => {
    messages.push(d);
    wake();
  });
  const replies = () => messages.filter((m): m is ArrayBuffer => m instanceof ArrayBuffer);
  return {
    messages,
    replies,
    /** Post `msg` in a buffer `slack` bytes longer than the frame, the slack filled with junk. */
    post(msg: TMessage, slack = 0) {
      const f = encodeMessage(msg);
      const b = new Uint8Array(f.length + slack).fill(0xa5);
      b.set(f);
      port.postMessage(b.buffer, [b.buffer]);
    },
    postRaw(b: ArrayBuffer) {
      port.postMessage(b, [b]);
    },
    async until(done: () => boolean) {
      while (!done()) await new Promise<void>((r) => (wake = r));
    },
  };
}

describe("MessagePort wire rule", () => {
  it("accepts frames with slack from any client, and sends a client that did not ask for slack exact frames", async () => {
    const { ps, port, errors } = await serve();
    const c = rawClient(port);
    c.post({ type: "Tversion", tag: NOTAG, msize: 256 * KiB, version: "9P2000.L" }, 4096);
    c.post({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 }, 100);
    c.post({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] }, 64 * KiB);
    c.post({ type: "Tlcreate", tag: 3, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 }, 1);
    c.post({ type: "Twrite", tag: 4, fid: 1, offset: 0, data: new Uint8Array(100 * KiB).fill(9) }, 100 * KiB);
    for (let i = 0; i < 4; i++) c.post({ type: "Tread", tag: 10 + i, fid: 1, offset: i * 5 * KiB, count: 80 * KiB }, 200 * KiB);
    await c.until(() => c.replies().length === 9);
    const replies = c.replies().map((b) => ({ size: new DataView(b).getUint32(0, true), length: b.byteLength, msg: decodeMessage(new Uint8Array(b)) as RMessage }));
    expect(replies.map((r) => r.msg.type)).toEqual(["Rversion", "Rattach", "Rwalk", "Rlcreate", "Rwrite", "Rread", "Rread", "Rread", "Rread"]);
    for (const r of replies) expect(r.length).toBe(r.size);
    expect(replies.slice(5).every((r) => r.msg.type === "Rread" && r.msg.data.length === 80 * KiB && r.msg.data.every((b) => b === 9))).toBe(true);
    expect(ps.pool).toBeUndefined();
    expect(errors).toEqual([]);
  });

  it("counts a held frame's whole buffer, slack included, against the session's held-bytes limit", async () => {
    // One request in flight at a time; the first never ends (stuck*), so the next ones are held.
    const { port, errors } = await serve({ latencyMs: 1, limits: { maxInFlight: 1, maxHeldBytes: 2 * 1024 * KiB } });
    const c = rawClient(port);
    c.post({ type: "Tversion", tag: NOTAG, msize: 256 * KiB, version: "9P2000.L" });
    c.post({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
    c.post({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    c.post({ type: "Tlcreate", tag: 3, fid: 1, name: "stuck", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    await c.until(() => c.replies().length === 4);
    c.post({ type: "Tread", tag: 4, fid: 1, offset: 0, count: 1 });
    // Small frames, each in a buffer of almost 1 MiB: three of them pin more than 2 MiB.
    for (let i = 0; i < 3; i++) c.post({ type: "Tgetattr", tag: 10 + i, fid: 0, mask: 0x7ff }, 1000 * KiB);
    await c.until(() => c.messages.includes(PORT_CLOSED));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/sent ahead of their replies/);
  });

  for (const [what, size, length] of [
    ["a size field past the buffer's end", 4097, 4096],
    ["a size field shorter than a 9P header", 6, 4096],
    ["a size field of 0", 0, 64],
    ["a buffer too short for a header", 7, 5],
    ["a small frame in a buffer larger than any frame with its slack", 11, 64 * 1024 * 1024],
  ] as const) {
    it(`closes the session on broken framing: ${what}`, async () => {
      const { server, port, errors } = await serve();
      const c = rawClient(port);
      c.post({ type: "Tversion", tag: NOTAG, msize: 64 * KiB, version: "9P2000.L" }, 10);
      await c.until(() => c.replies().length === 1);
      const b = new ArrayBuffer(length);
      if (length >= 4) new DataView(b).setUint32(0, size, true);
      c.postRaw(b);
      await c.until(() => c.messages.includes(PORT_CLOSED));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/broken framing/);
      expect(server.sessionCount).toBe(0);
    });
  }
});

describe("recycled frame buffers (R1–R4)", () => {
  it("interleaved, pipelined, partly flushed writes and reads of distinct patterns read back every byte right", async () => {
    // 62 KiB chunks: a whole chunk's Twrite fits a 64 KiB buffer, which the memory store would keep
    // as a view were the frame not lent (R2); reads are kept to the end, as a view of a reused Rread would not be (R1).
    const block = 62 * KiB;
    const blocks = 12;
    // Writes to slow* files wait 10 minutes, abortably: a Twrite there is always flushed before it takes effect.
    const { ps, port } = await serve({ chunkSize: block, latencyMs: 10 * 60_000 });
    const transport = portTransport(port as unknown as PortLike);
    const client = await Client.connect(transport, { msize: 256 * KiB });
    const { fid } = await client.create("data");
    const { fid: slow } = await client.create("slow-data");
    const pattern = (b: number, round: number) => {
      const p = new Uint8Array(block);
      for (let i = 0; i < block; i++) p[i] = (b * 31 + round * 17 + i * 7 + (i >> 9)) & 0xff;
      return p;
    };
    const expected: (Uint8Array | undefined)[] = new Array(blocks).fill(undefined);
    const kept: { got: Uint8Array; want: Uint8Array | undefined }[] = [];
    let flushedWrites = 0;
    let n = 0;
    const lane = async (lanes: number, me: number, round: number) => {
      for (let b = me; b < blocks; b += lanes) {
        const data = pattern(b, round);
        if (n++ % 3 === 1) {
          // A Tflush right behind a Twrite that waits for it: no reply, never any effect, its buffer never reused.
          const ac = new AbortController();
          const flushed = client.write(slow, b * block, pattern(b, round + 100), ac.signal);
          ac.abort();
          await flushed.then(
            () => expect.fail("a flushed Twrite took effect"),
            (e: unknown) => expect(isAbortError(e)).toBe(true),
          );
          flushedWrites++;
        }
        expect(await client.write(fid, b * block, data)).toBe(block);
        expected[b] = data;
        const rc = new AbortController();
        const read = client.read(fid, b * block, block, rc.signal);
        if (n % 7 === 3) rc.abort();
        try {
          kept.push({ got: await read, want: expected[b] });
        } catch (e) {
          if (!isAbortError(e)) throw e;
        }
      }
    };
    for (let round = 1; round <= 4; round++) await Promise.all([0, 1, 2, 3].map((me) => lane(4, me, round)));
    expect(flushedWrites).toBe(16);
    expect((await client.request({ type: "Tgetattr", fid: slow, mask: 0x3fff })).attr.size).toBe(0);
    expect(kept.length).toBeGreaterThan(blocks * 2);
    for (const { got, want } of kept) {
      if (want === undefined) expect(got.every((x) => x === 0)).toBe(true);
      else expect(Buffer.compare(got, want)).toBe(0);
    }
    for (let b = 0; b < blocks; b++) {
      const got = await client.read(fid, b * block, block);
      if (expected[b] === undefined) expect(got.every((x) => x === 0)).toBe(true);
      else expect(Buffer.compare(got, expected[b]!)).toBe(0);
    }
    // The buffers did circulate, both ways, and each pool stayed within its bounds.
    const pools = [transport.pool, ps.pool!];
    for (const pool of pools) {
      expect(pool.stats.reused).toBeGreaterThan(blocks);
      expect(pool.size).toBeLessThanOrEqual(pool.maxBuffers);
      expect(pool.bytes).toBeLessThanOrEqual(pool.maxBytes);
    }
    client.close();
  });
});

describe("the end of a session", () => {
  it("a client that closes its port ends its server session: a lock it held goes to the client waiting for it", async () => {
    const { server, port } = await serve();
    const { port1, port2 } = new MessageChannel();
    const other = serveMessagePort(server, port1 as unknown as PortLike);
    closers.push(() => {
      other.close();
      port2.close();
    });
    const a = await Client.connect(portTransport(port as unknown as PortLike), { msize: 256 * KiB });
    const b = await Client.connect(portTransport(port2 as unknown as PortLike), { msize: 256 * KiB });
    await a.writeFile("locked", "x");
    const fa = await a.open("locked", OpenFlags.RDWR);
    const fb = await b.open("locked", OpenFlags.RDWR);
    const lock = (procId: number, flags = 0) => ({ type: LockType.WRLCK, flags, start: 0, length: 0, procId, clientId: "h" });
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(1) })).status).toBe(LockStatus.SUCCESS);
    const waiting = b.request({ type: "Tlock", fid: fb, lock: lock(2, LockFlags.BLOCK) });
    // A page closing its client, with a lock held: nobody else would ever get that lock while the tree is open.
    a.close();
    expect((await waiting).status).toBe(LockStatus.SUCCESS);
    expect(server.sessionCount).toBe(1);
    b.close();
  });

  it("a client that ends the session on broken framing from the server says so, so the server's session ends too", async () => {
    const { port1: serverEnd, port2 } = new MessageChannel();
    closers.push(() => serverEnd.close());
    const transport = portTransport(port2 as unknown as PortLike);
    const closedWhy = new Promise<string | undefined>((resolve) => (transport.onClose = resolve));
    const told = new Promise<unknown>((resolve) => serverEnd.on("message", (m: unknown) => m !== "worker9p:accepts-slack" && resolve(m)));
    const bad = new ArrayBuffer(16);
    new DataView(bad).setUint32(0, 3, true); // a size field shorter than a 9P header
    serverEnd.postMessage(bad, [bad]);
    expect(await closedWhy).toMatch(/broken framing/);
    expect(await told).toBe(PORT_CLOSED);
  });

  it("the host hears once that a session ended, whichever end ended it (tree-host forgets its PortSession then)", async () => {
    const { server } = await serve();
    const ended: string[] = [];
    const open = (name: string) => {
      const { port1, port2 } = new MessageChannel();
      const ps = serveMessagePort(server, port1 as unknown as PortLike, { onClose: () => ended.push(name) });
      closers.push(() => port2.close());
      return { ps, port: port2 };
    };
    const byClient = open("client closed");
    const c = await Client.connect(portTransport(byClient.port as unknown as PortLike));
    await c.writeFile("f", "x");
    const byHost = open("host closed");
    await Client.connect(portTransport(byHost.port as unknown as PortLike));
    c.close();
    await expect.poll(() => ended).toEqual(["client closed"]);
    byHost.ps.close();
    byClient.ps.close();
    expect(ended).toEqual(["client closed", "host closed"]);
  });
});
