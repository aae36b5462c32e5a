import net from "node:net";
import { once } from "node:events";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "../client/client.js";
import { tcpTransport } from "../client/transports.js";
import { FileSystem } from "../fs/filesystem.js";
import { encodeMessage } from "../protocol/codec.js";
import { OpenFlags } from "../protocol/constants.js";
import { Server } from "../server/server.js";
import { MemoryStore } from "../storage/memory.js";
import { serveTcp, withReceiveBuffer, type TcpListener, type TcpServeOptions } from "./tcp.js";

const listeners: TcpListener[] = [];
afterEach(async () => {
  for (const l of listeners.splice(0)) await l.close();
});

async function listen(options: TcpServeOptions = {}): Promise<{ server: Server; listener: TcpListener }> {
  const server = new Server(await FileSystem.open(new MemoryStore()));
  const listener = await serveTcp(server, options);
  listeners.push(listener);
  return { server, listener };
}

async function connect(options: TcpServeOptions = {}): Promise<Client> {
  const { listener: l } = await listen(options);
  return Client.connect(await tcpTransport(l.host, l.port), { msize: 1024 * 1024 + 24 });
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 131 + seed * 7) & 0xff;
  return b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/**
 * Polls `cond` (the server's protocol errors and session count have no event to wait on); the cap
 * only turns a hang into a clear failure, far beyond what a closed socket takes to notice.
 */
async function until(cond: () => boolean, what: string, capMs = 20_000): Promise<void> {
  const deadline = Date.now() + capMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`not within ${capMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe.each([
  { name: "a reused receive buffer", receiveBuffer: true },
  { name: "Node's 'data' events", receiveBuffer: false },
])("9P over TCP, reading into $name", ({ receiveBuffer }) => {
  it("stores pipelined writes whose frames straddle socket reads, byte for byte", async () => {
    const c = await connect({ receiveBuffer });
    const { fid } = await c.create("f", OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
    // Sizes around the 64 KiB read and chunk sizes, all in flight at once: frames start and end anywhere in a read.
    const sizes = [65536, 1, 65513, 65537, 200_000, 4096, 131_072, 7, 65536, 1_000_000];
    const expected = new Uint8Array(sizes.reduce((a, b) => a + b, 0));
    let off = 0;
    const writes = sizes.map((n, i) => {
      const data = pattern(n, i);
      expected.set(data, off);
      const w = c.write(fid, off, data);
      off += n;
      return w;
    });
    expect(await Promise.all(writes)).toEqual(sizes);
    const back = new Uint8Array(expected.length);
    for (let at = 0; at < back.length; ) {
      const d = await c.read(fid, at, c.maxIo);
      back.set(d, at);
      at += d.length;
    }
    expect(sameBytes(back, expected)).toBe(true);
    c.close();
  });

  it("keeps what was written when the caller reuses its buffer after the write settled", async () => {
    const c = await connect({ receiveBuffer });
    const { fid } = await c.create("g", OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
    const buf = pattern(65536, 1);
    await c.write(fid, 0, buf);
    buf.fill(0xee);
    await c.write(fid, 65536, buf);
    expect(sameBytes(await c.read(fid, 0, 65536), pattern(65536, 1))).toBe(true);
    expect((await c.read(fid, 65536, 65536)).every((b) => b === 0xee)).toBe(true);
    c.close();
  });

  it("pauses reading under back-pressure and resumes", async () => {
    const c = await connect({ receiveBuffer, pauseAt: 2 });
    const { fid } = await c.walk("");
    const replies = await Promise.all(Array.from({ length: 200 }, () => c.request({ type: "Tgetattr", fid, mask: 0x7ff })));
    expect(replies.every((r) => r.type === "Rgetattr")).toBe(true);
    c.close();
  });

  it("reports a stream cut inside a frame and ends the session", async () => {
    const errors: string[] = [];
    const { server, listener } = await listen({ receiveBuffer, onProtocolError: (_, reason) => errors.push(reason) });
    const s = net.connect(listener.port, listener.host);
    await once(s, "connect");
    const version = encodeMessage({ type: "Tversion", tag: 0xffff, msize: 8192, version: "9P2000.L" });
    s.end(version.subarray(0, version.length - 3));
    await until(() => errors.length === 1 && server.sessionCount === 0, "one protocol error and no session left");
    expect(errors[0]).toMatch(/middle of a message/);
  });

  it("closes a connection whose size field no frame can have", async () => {
    const errors: string[] = [];
    const { listener } = await listen({ receiveBuffer, onProtocolError: (_, reason) => errors.push(reason) });
    const s = net.connect(listener.port, listener.host);
    s.on("error", () => {});
    await once(s, "connect");
    s.write(new Uint8Array([3, 0, 0, 0, 100, 0, 0]));
    await once(s, "close");
    expect(errors).toEqual(["frame size 3 is smaller than a 9P header"]);
  });
});

describe("withReceiveBuffer", () => {
  it("takes over an accepted connection on this Node, and the listener still closes", async () => {
    let took = false;
    const srv = net.createServer({ pauseOnConnect: true }, (accepted) => {
      const conn = withReceiveBuffer(accepted);
      took = conn !== undefined;
      conn?.onChunk((chunk) => conn.socket.write(Uint8Array.from(chunk)));
      conn?.socket.on("end", () => conn.socket.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const s = net.connect((srv.address() as net.AddressInfo).port, "127.0.0.1");
    await once(s, "connect");
    s.write("ping");
    const [echo] = (await once(s, "data")) as [Buffer];
    expect(took).toBe(true);
    expect(echo.toString()).toBe("ping");
    s.end();
    // net.Server no longer counts the connection, so close() does not wait for it.
    await new Promise<void>((r) => srv.close(() => r()));
  });
});
