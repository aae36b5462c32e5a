// Hostile and greedy clients over real sockets: a client may pipeline as much as it likes and
// read as slowly as it likes; the server stops reading instead of cutting it off, and bounds
// what it queues for it. Raw frames on raw sockets: no client of ours smooths anything over.
import net from "node:net";
import { MessageChannel } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOFID, NOTAG, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { Client } from "../client/client.js";
import { tcpTransport } from "../client/transports.js";
import { Server, type ServerOptions } from "../server/server.js";
import { memoryFs } from "../server/test-harness.js";
import { serveMessagePort, PORT_CLOSED, type PortLike } from "./messageport.js";
import { serveTcp, type TcpListener, type TcpServeOptions } from "./tcp.js";
import { serveWebSocket, type WebSocketListener } from "./websocket.js";

const MiB = 1024 * 1024;
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function listen(options: TcpServeOptions = {}, serverOptions: ServerOptions = {}): Promise<{ server: Server; listener: TcpListener }> {
  const server = new Server(await memoryFs(), serverOptions);
  const listener = await serveTcp(server, options);
  closers.push(() => listener.close());
  return { server, listener };
}

/** A raw 9P-over-TCP client: frames out as given, replies in as they come, nothing clever. */
class RawTcp {
  readonly replies: RMessage[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  /** Replies are counted but not decoded or kept (the bulk of a big test). */
  countOnly = false;
  counted = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => this.take(d));
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async connect(port: number): Promise<RawTcp> {
    const s = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    const c = new RawTcp(s);
    closers.push(() => void s.destroy());
    return c;
  }

  write(msgs: TMessage[]): void {
    this.socket.write(Buffer.concat(msgs.map((m) => encodeMessage(m))));
  }

  /** Wait for `n` replies in all (or the connection closing, which fails the caller's expectations). */
  async until(n: number): Promise<void> {
    while (this.counted < n && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  async ask(m: TMessage): Promise<RMessage> {
    const before = this.counted;
    this.write([m]);
    await this.until(before + 1);
    return this.replies[this.replies.length - 1]!;
  }

  /** Bytes of a counted (not kept) frame still to come. */
  private skip = 0;

  private take(d: Buffer): void {
    if (this.skip > 0) {
      const n = Math.min(this.skip, d.length);
      this.skip -= n;
      d = d.subarray(n);
    }
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : (d as Buffer<ArrayBuffer>);
    let off = 0;
    while (this.buf.length - off >= 4) {
      const size = this.buf.readUInt32LE(off);
      if (this.countOnly && this.buf.length - off < size) {
        // Counted now, its remaining bytes skipped as they come: no reassembly of big frames.
        this.counted++;
        this.skip = size - (this.buf.length - off);
        off = this.buf.length;
        break;
      }
      if (this.buf.length - off < size) break;
      if (!this.countOnly) this.replies.push(decodeMessage(new Uint8Array(this.buf.subarray(off, off + size))) as RMessage);
      this.counted++;
      off += size;
    }
    this.buf = this.buf.subarray(off);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

async function attached(port: number, msize = 65536): Promise<RawTcp> {
  const c = await RawTcp.connect(port);
  expect(await c.ask({ type: "Tversion", tag: NOTAG, msize, version: "9P2000.L" })).toMatchObject({ type: "Rversion", msize });
  expect(await c.ask({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 })).toMatchObject({ type: "Rattach" });
  return c;
}

const getattrs = (n: number): TMessage[] =>
  Array.from({ length: n }, (_, i) => ({ type: "Tgetattr", tag: i + 10, fid: 0, mask: 0x7ff }) as TMessage);

describe("TCP back-pressure", () => {
  it("5,000 Tgetattr pipelined in one write all get answers, and the connection stays up", async () => {
    const { listener } = await listen();
    const c = await attached(listener.port);
    c.write(getattrs(5000));
    await c.until(2 + 5000);
    expect(c.closed).toBe(false);
    const answers = c.replies.slice(2);
    expect(answers.every((r) => r.type === "Rgetattr")).toBe(true);
    expect(new Set(answers.map((r) => r.tag)).size).toBe(5000);
    expect(await c.ask({ type: "Tgetattr", tag: 1, fid: 0, mask: 1 })).toMatchObject({ type: "Rgetattr", tag: 1 });
  });

  it("a client that stops reading while 1,500 × 1 MiB Tread are pipelined: the server's queue stays bounded, and every read is answered once it reads again", async () => {
    const maxQueuedBytes = 8 * MiB;
    const { listener } = await listen({ maxQueuedBytes }, { maxMsize: 2 * MiB });
    const msize = MiB + 24;
    const setup = await Client.connect(await tcpTransport(listener.host, listener.port), { msize });
    await setup.writeFile("big", new Uint8Array(MiB).fill(7));
    setup.close();

    const c = await attached(listener.port, msize);
    expect(await c.ask({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: ["big"] })).toMatchObject({ type: "Rwalk" });
    expect(await c.ask({ type: "Tlopen", tag: 2, fid: 1, flags: OpenFlags.RDONLY })).toMatchObject({ type: "Rlopen" });
    c.countOnly = true;
    c.socket.pause();
    const reads = Array.from({ length: 1500 }, (_, i) => ({ type: "Tread", tag: i + 10, fid: 1, offset: 0, count: MiB }) as TMessage);
    c.write(reads);
    // The server fills what it may queue for this connection, then must stop there.
    for (let i = 0; i < 20_000 && listener.peakQueuedBytes < maxQueuedBytes && !c.closed; i++) await new Promise((r) => setImmediate(r));
    expect(c.closed).toBe(false);
    expect(listener.peakQueuedBytes).toBeGreaterThanOrEqual(maxQueuedBytes);
    c.socket.resume();
    await c.until(4 + 1500);
    expect(c.closed).toBe(false);
    expect(c.counted).toBe(4 + 1500);
    // Queued bytes never went past the bound by more than the replies already being produced when it was reached.
    expect(listener.peakQueuedBytes).toBeLessThan(maxQueuedBytes + 24 * MiB);
    c.countOnly = false;
    expect(await c.ask({ type: "Tclunk", tag: 3, fid: 1 })).toMatchObject({ type: "Rclunk", tag: 3 });
  });

  it("a client pipelining 100 × 1 MiB Twrite to a store that has not answered yet: the server stops reading at 16 MiB of frames, not at 256 requests; every write lands once the store goes on", async () => {
    const fs = await memoryFs();
    let letWritesGo!: () => void;
    const storeGoesOn = new Promise<void>((r) => (letWritesGo = r));
    const gated = new Proxy(fs, {
      get: (t, key) => {
        const v = Reflect.get(t, key, t) as unknown;
        if (typeof v !== "function") return v;
        const method = (v as (...a: unknown[]) => unknown).bind(t);
        return key === "write" ? async (...a: unknown[]) => (await storeGoesOn, method(...a)) : method;
      },
    });
    const server = new Server(gated, { maxMsize: 2 * MiB });
    const listener = await serveTcp(server);
    closers.push(() => listener.close());
    const msize = MiB + 24;
    const c = await attached(listener.port, msize);
    expect(await c.ask({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] })).toMatchObject({ type: "Rwalk" });
    expect(await c.ask({ type: "Tlcreate", tag: 2, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 })).toMatchObject({ type: "Rlcreate" });
    const data = new Uint8Array(MiB).fill(3);
    const n = 100;
    for (let i = 0; i < n; i++) c.socket.write(encodeMessage({ type: "Twrite", tag: i + 10, fid: 1, offset: i * MiB, data }));
    // Wait (by turns of the event loop, not by time) for the server to stop reading this connection.
    for (let i = 0; i < 50_000 && listener.readingPaused === 0 && !c.closed; i++) await new Promise((r) => setImmediate(r));
    expect(c.closed).toBe(false);
    expect(listener.readingPaused).toBe(1);
    // The bound, overshot by at most what one socket read completes (256 KiB) plus the frame it finishes.
    expect(listener.peakPendingBytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(listener.peakPendingBytes).toBeLessThan(18 * MiB);
    letWritesGo();
    await c.until(4 + n);
    expect(c.closed).toBe(false);
    expect(c.replies.slice(4).filter((r) => r.type === "Rwrite").length).toBe(n);
    expect(await c.ask({ type: "Tgetattr", tag: 3, fid: 1, mask: 0x7ff })).toMatchObject({ type: "Rgetattr", attr: { size: n * MiB } });
    expect(listener.readingPaused).toBe(0);
  });

  it("400 sessions at once work", async () => {
    const { listener } = await listen();
    const clients = await Promise.all(Array.from({ length: 400 }, () => attached(listener.port)));
    const answers = await Promise.all(clients.map((c) => c.ask({ type: "Tgetattr", tag: 2, fid: 0, mask: 0x7ff })));
    expect(answers.every((r) => r.type === "Rgetattr")).toBe(true);
  });

  it("past maxConnections a connection is refused with Rlerror(ENFILE) and closed; the others keep working", async () => {
    const refused: string[] = [];
    const { listener } = await listen({ onProtocolError: (_, reason) => refused.push(reason) }, { maxConnections: 2 });
    const a = await attached(listener.port);
    const b = await attached(listener.port);
    const c = await RawTcp.connect(listener.port);
    c.write([{ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" }]);
    await c.until(1);
    expect(c.replies[0]).toEqual({ type: "Rlerror", tag: NOTAG, ecode: Errno.ENFILE });
    while (!c.closed) await new Promise((r) => c.socket.once("close", r));
    expect(refused.join()).toMatch(/2 connections/);
    expect(await a.ask({ type: "Tgetattr", tag: 2, fid: 0, mask: 1 })).toMatchObject({ type: "Rgetattr" });
    b.socket.destroy();
    // A place freed: the next connection is served.
    for (let i = 0; i < 10_000 && (await connectionCount(listener)) > 1; i++) await new Promise((r) => setImmediate(r));
    await attached(listener.port);
  });
});

async function connectionCount(l: TcpListener): Promise<number> {
  return l.connections;
}

describe("WebSocket back-pressure", () => {
  it("5,000 Tgetattr sent at once all get answers on a live connection", async () => {
    const server = new Server(await memoryFs());
    const listener: WebSocketListener = await serveWebSocket(server);
    closers.push(() => listener.close());
    const ws = new WebSocket(`ws://127.0.0.1:${listener.port}`);
    closers.push(() => ws.terminate());
    await new Promise((r) => ws.once("open", r));
    const replies: RMessage[] = [];
    let wake = () => {};
    let closed = false;
    ws.on("message", (d: Buffer) => {
      replies.push(decodeMessage(new Uint8Array(d)) as RMessage);
      wake();
    });
    ws.on("close", () => {
      closed = true;
      wake();
    });
    const until = async (n: number) => {
      while (replies.length < n && !closed) await new Promise<void>((r) => (wake = r));
    };
    ws.send(encodeMessage({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" }));
    ws.send(encodeMessage({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 }));
    await until(2);
    for (const m of getattrs(5000)) ws.send(encodeMessage(m));
    await until(5002);
    expect(closed).toBe(false);
    expect(replies.slice(2).every((r) => r.type === "Rgetattr")).toBe(true);
  });
});

describe("WebSocket reply back-pressure", () => {
  it("a client that stops reading while 200 × 1 MiB Tread are pipelined: bufferedAmount stays bounded, every read is answered once it reads again", async () => {
    const maxQueuedBytes = 8 * MiB;
    const server = new Server(await memoryFs(), { maxMsize: 2 * MiB });
    const listener = await serveWebSocket(server, { maxQueuedBytes });
    closers.push(() => listener.close());
    const setupWs = new WebSocket(`ws://127.0.0.1:${listener.port}`);
    closers.push(() => setupWs.terminate());
    await new Promise((r) => setupWs.once("open", r));
    let got = 0;
    let closed = false;
    let last: RMessage | undefined;
    let wake = () => {};
    setupWs.on("message", (d: Buffer) => {
      got++;
      if (d.length < 4096) last = decodeMessage(new Uint8Array(d)) as RMessage;
      wake();
    });
    setupWs.on("close", () => {
      closed = true;
      wake();
    });
    const until = async (n: number) => {
      while (got < n && !closed) await new Promise<void>((r) => (wake = r));
    };
    const send = (m: TMessage) => setupWs.send(encodeMessage(m));
    const setup: TMessage[] = [
      { type: "Tversion", tag: NOTAG, msize: MiB + 24, version: "9P2000.L" },
      { type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 },
      { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] },
      { type: "Tlcreate", tag: 3, fid: 1, name: "big", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 },
      { type: "Twrite", tag: 4, fid: 1, offset: 0, data: new Uint8Array(MiB).fill(3) },
    ];
    for (const [i, m] of setup.entries()) {
      send(m);
      await until(i + 1);
    }
    expect(last).toMatchObject({ type: "Rwrite", count: MiB });
    // The client's socket stops reading: replies pile up on the server's side.
    const raw = (setupWs as unknown as { _socket: net.Socket })._socket;
    raw.pause();
    for (let i = 0; i < 200; i++) send({ type: "Tread", tag: 10 + i, fid: 1, offset: 0, count: MiB });
    for (let i = 0; i < 20_000 && listener.peakQueuedBytes < maxQueuedBytes && !closed; i++) await new Promise((r) => setImmediate(r));
    expect(listener.peakQueuedBytes).toBeGreaterThanOrEqual(maxQueuedBytes);
    raw.resume();
    await until(5 + 200);
    expect(closed).toBe(false);
    expect(listener.peakQueuedBytes).toBeLessThan(maxQueuedBytes + 24 * MiB);
  });
});

describe("MessagePort", () => {
  it("5,000 Tgetattr posted at once, all still unanswered when the last arrives, all get answers on a live port", async () => {
    // Every Tgetattr waits until the server has taken all 5,002 messages off the port:
    // a port cannot be paused, so the session must hold what it cannot run yet.
    const fs = await memoryFs();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const gated = new Proxy(fs, {
      get(target, key) {
        if (key === "getattr") return async (...a: Parameters<typeof fs.getattr>) => (await gate, fs.getattr(...a));
        const v: unknown = Reflect.get(target, key);
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const server = new Server(gated);
    const { port1, port2 } = new MessageChannel();
    closers.push(() => {
      port1.close();
      port2.close();
    });
    let taken = 0;
    const counting: PortLike = {
      postMessage: (m, t) => port1.postMessage(m, t as never),
      addEventListener: (type, l) =>
        port1.addEventListener(type, (ev) => {
          l(ev as unknown as { data: unknown });
          if (++taken === 5002) open();
        }),
      removeEventListener: () => {},
      start: () => port1.start(),
      close: () => port1.close(),
    };
    serveMessagePort(server, counting);
    const replies: RMessage[] = [];
    let closed = false;
    let wake = () => {};
    port2.on("message", (d: unknown) => {
      if (d === PORT_CLOSED) closed = true;
      else replies.push(decodeMessage(new Uint8Array(d as ArrayBuffer)) as RMessage);
      wake();
    });
    const post = (m: TMessage) => {
      const f = encodeMessage(m);
      port2.postMessage(f.buffer, [f.buffer as ArrayBuffer]);
    };
    const until = async (n: number) => {
      while (replies.length < n && !closed) await new Promise<void>((r) => (wake = r));
    };
    post({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" });
    post({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
    await until(2);
    for (const m of getattrs(5000)) post(m);
    await until(5002);
    expect(closed).toBe(false);
    expect(replies.slice(2).every((r) => r.type === "Rgetattr")).toBe(true);
  });
});
