// The CLI as a user runs it: `worker9p serve`, a 9P client over real TCP, SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import { decodeMessage, encodeMessage } from "../src/protocol/codec.js";
import { NOFID, NOTAG } from "../src/protocol/constants.js";
import type { RMessage, TMessage } from "../src/protocol/messages.js";
import { afterEach, describe, expect, it } from "vitest";
import { Client } from "../src/client/client.js";
import { tcpTransport } from "../src/client/transports.js";
import { OpenFlags } from "../src/protocol/constants.js";
import { Errno, FsError } from "../src/protocol/errno.js";
import { listeningAddress } from "./raw-9p.js";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

async function startServer(args: string[] = []): Promise<{ child: ChildProcess; host: string; port: number; stderr: () => string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const { host, port } = await listeningAddress(child, () => err);
  return { child, host, port, stderr: () => err };
}

/** Raw frames over a plain socket: replies collected as they come. */
async function rawConnection(host: string, port: number) {
  const socket = net.connect(port, host);
  await once(socket, "connect");
  const replies: RMessage[] = [];
  let buf = Buffer.alloc(0);
  let closed = false;
  let wake = () => {};
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4 && buf.length >= buf.readUInt32LE(0)) {
      const n = buf.readUInt32LE(0);
      replies.push(decodeMessage(new Uint8Array(buf.subarray(0, n))) as RMessage);
      buf = buf.subarray(n);
    }
    wake();
  });
  socket.on("close", () => {
    closed = true;
    wake();
  });
  socket.on("error", () => {});
  const next = async (): Promise<RMessage | undefined> => {
    while (replies.length === 0 && !closed) await new Promise<void>((r) => (wake = r));
    return replies.shift();
  };
  return {
    socket,
    next,
    closed: () => closed,
    ask: async (m: TMessage) => {
      socket.write(encodeMessage(m));
      return next();
    },
  };
}

describe("worker9p serve over TCP", () => {
  it("answers writes at offsets of 2^63 and beyond with Rlerror, and the file stays as it was", async () => {
    const srv = await startServer();
    const c = await rawConnection(srv.host, srv.port);
    expect(await c.ask({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" })).toMatchObject({ type: "Rversion" });
    expect(await c.ask({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 })).toMatchObject({ type: "Rattach" });
    expect(await c.ask({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [] })).toMatchObject({ type: "Rwalk" });
    expect(await c.ask({ type: "Tlcreate", tag: 1, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 })).toMatchObject({ type: "Rlcreate" });
    for (const offset of [2 ** 63, 2 ** 64 - 4096]) {
      const r = await c.ask({ type: "Twrite", tag: 2, fid: 1, offset, data: new Uint8Array([1, 2, 3]) });
      expect(r?.type).toBe("Rlerror");
      expect([Errno.EINVAL, Errno.EFBIG]).toContain((r as { ecode: number }).ecode);
    }
    expect(await c.ask({ type: "Tgetattr", tag: 3, fid: 1, mask: 0x7ff })).toMatchObject({ type: "Rgetattr", attr: { size: 0 } });
    c.socket.destroy();
  });

  it("--max-connections: past it a connection gets Rlerror(ENFILE) and is closed, the others are served", async () => {
    const srv = await startServer(["--max-connections", "2"]);
    const a = await Client.connect(await tcpTransport(srv.host, srv.port));
    const b = await Client.connect(await tcpTransport(srv.host, srv.port));
    const c = await rawConnection(srv.host, srv.port);
    expect(await c.ask({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" })).toEqual({ type: "Rlerror", tag: NOTAG, ecode: Errno.ENFILE });
    while (!c.closed()) await c.next();
    expect(srv.stderr()).toMatch(/refused: 2 connections already open/);
    await a.writeFile("x", "still served");
    expect(new TextDecoder().decode(await b.readFile("x"))).toBe("still served");
    a.close();
    b.close();
  });

  it("serves a shared tree to several connections and exits cleanly on SIGTERM", async () => {
    const srv = await startServer();
    const a = await Client.connect(await tcpTransport(srv.host, srv.port));
    const b = await Client.connect(await tcpTransport(srv.host, srv.port));
    await a.mkdir("dir");
    await a.writeFile("dir/hello.txt", "hello over tcp");
    expect(new TextDecoder().decode(await b.readFile("dir/hello.txt"))).toBe("hello over tcp");
    const names = (await b.readdir("dir")).map((e) => e.name).sort();
    expect(names).toEqual([".", "..", "hello.txt"]);
    await expect(b.stat("missing")).rejects.toMatchObject({ errno: Errno.ENOENT });
    a.close();
    b.close();
    srv.child.kill("SIGTERM");
    const [code] = await once(srv.child, "exit");
    expect(code).toBe(0);
    expect(srv.stderr()).toBe("");
  });

  it("a Tflush of a write stuck in a 10-minute store delay cancels it: no reply for the write, the file unchanged", async () => {
    // Were the write not really cancelled, it would answer after 10 minutes: the test would time out.
    const srv = await startServer(["--latency-ms", "600000", "--debug"]);
    const c = await Client.connect(await tcpTransport(srv.host, srv.port));
    // Only reads and writes of slow* names wait: the file is written and read back under another name.
    await c.writeFile("file", "before");
    await c.rename("file", "slowfile");
    const fid = await c.open("slowfile", OpenFlags.RDWR);
    const ac = new AbortController();
    const write = c.write(fid, 0, new TextEncoder().encode("AFTER!!"), ac.signal);
    // Flush once the server has the write in hand (its --debug trace says so), not after a guessed delay.
    while (!/<- Twrite .*data=<7 bytes>/.test(srv.stderr())) await once(srv.child.stderr!, "data");
    ac.abort();
    await expect(write).rejects.toMatchObject({ name: "AbortError" });
    await c.rename("slowfile", "file");
    expect(new TextDecoder().decode(await c.readFile("file"))).toBe("before");
    c.close();
  });

  it("closes a connection with broken framing and keeps serving others", async () => {
    const srv = await startServer();
    const good = await Client.connect(await tcpTransport(srv.host, srv.port));
    const bad = await tcpTransport(srv.host, srv.port);
    const closed = new Promise<string | undefined>((r) => (bad.onClose = r));
    bad.socket.write(new Uint8Array([3, 0, 0, 0, 100, 0, 0]));
    expect(await closed).toBeDefined();
    const truncated = await tcpTransport(srv.host, srv.port);
    truncated.socket.end(new Uint8Array([100, 0, 0, 0, 100, 0xff, 0xff, 1, 2]));
    await good.writeFile("still", "ok");
    expect(new TextDecoder().decode(await good.readFile("still"))).toBe("ok");
    good.close();
  });

  it("rejects bad command lines with a clear message", async () => {
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "nonsense"], { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const [code] = await once(child, "exit");
    expect(code).toBe(1);
    expect(err).toMatch(/--listen wants HOST:PORT/);
  });
});

void FsError;
