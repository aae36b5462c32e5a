// Issue 8's "Done when", checked over TCP against `worker9p serve` run as a user runs it (a child
// process), by a client that shares no code with the server: frames are built by hand
// (e2e/raw-9p.ts) and replies are read off the socket byte by byte. Memory is the child's own
// resident set, read from /proc/<pid>/status. Latin-1 names and the fid from d/e/.. are checked
// the same way in e2e/names-tcp.test.ts (also with diod's client), so they are not repeated here.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, listeningAddress, NOFID, NOTAG, T, type Field } from "./raw-9p.js";

const MiB = 1024 * 1024;

let child: ChildProcess;
let host = "";
let port = 0;
let stderr = "";
/** Replies the server's --debug trace says it sent, by type ("Rread", "Rreaddir", …), counted line by line. */
const sent = new Map<string, number>();
let partialLine = "";

beforeAll(async () => {
  // msize up to 2 MiB, so that a 1 MiB Tread fits one reply.
  child = spawn(process.execPath, ["--import", "tsx", "src/cli/run.ts", "serve", "--listen", "127.0.0.1:0", "--max-msize", String(2 * MiB), "--debug"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.on("data", (d: Buffer) => {
    const lines = (partialLine + d.toString()).split("\n");
    partialLine = lines.pop()!;
    for (const line of lines) {
      const m = / -> (R\w+) /.exec(line);
      if (m) sent.set(m[1]!, (sent.get(m[1]!) ?? 0) + 1);
      else if (!line.includes(" <- ")) stderr = (stderr + line + "\n").slice(-100_000); // anything unusual, for failures
    }
  });
  ({ host, port } = await listeningAddress(child, () => stderr));
});

afterAll(() => {
  child?.kill("SIGTERM");
});

/**
 * The server process's resident set, in bytes: now, and its peak since the last call with
 * `resetPeak` (writing 5 to clear_refs resets VmHWM), so earlier tests' peaks do not count.
 */
function rss(resetPeak = false): { now: number; peak: number } {
  if (resetPeak) writeFileSync(`/proc/${child.pid}/clear_refs`, "5");
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)![1]) * 1024;
  return { now: kib("VmRSS"), peak: kib("VmHWM") };
}

interface Reply {
  type: number;
  tag: number;
  /** The first bytes of the body (64: enough for an errno, a count, an Rgetattr's size): big bodies are skipped, not kept. */
  head: Buffer;
}

/**
 * One raw connection. Replies are kept by arrival; a big reply's body is skipped as it streams
 * in, so 1.5 GiB of replies cost this process nothing.
 */
class Conn {
  readonly replies: Reply[] = [];
  closed = false;
  private pending = Buffer.alloc(0);
  private skipping = 0;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => this.take(d));
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async open(msize = 65536): Promise<Conn> {
    const socket = net.connect(port, host);
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new Conn(socket);
    const v = await c.ask(T.version, [{ u32: msize }, { s: "9P2000.L" }], NOTAG);
    expect([v.type, v.head.readUInt32LE(0)]).toEqual([T.version + 1, msize]);
    const a = await c.ask(T.attach, [{ u32: 0 }, { u32: NOFID }, { s: "root" }, { s: "" }, { u32: 0 }]);
    expect(a.type).toBe(T.attach + 1);
    return c;
  }

  send(frames: Buffer[]): void {
    this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /** Until `n` replies have come in all (or the connection closed: the caller's checks then fail). */
  async until(n: number): Promise<void> {
    while (this.replies.length < n && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  async ask(type: number, fields: Field[], tag = 1): Promise<Reply> {
    const n = this.replies.length;
    this.send([frame(type, tag, fields)]);
    await this.until(n + 1);
    const r = this.replies[n];
    if (!r) throw new Error(`connection closed before the reply to type ${type}`);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }

  private take(d: Buffer): void {
    if (this.skipping > 0) {
      const n = Math.min(this.skipping, d.length);
      this.skipping -= n;
      d = d.subarray(n);
    }
    let buf = this.pending.length ? Buffer.concat([this.pending, d]) : d;
    while (buf.length >= 7) {
      const size = buf.readUInt32LE(0);
      const have = Math.min(size, buf.length);
      // A reply is taken once its first 64 body bytes (or all of it) are here; the rest is skipped.
      if (have < Math.min(size, 7 + 64)) break;
      this.replies.push({ type: buf[4]!, tag: buf.readUInt16LE(5), head: Buffer.from(buf.subarray(7, Math.min(have, 7 + 64))) });
      if (buf.length < size) {
        this.skipping = size - buf.length;
        buf = Buffer.alloc(0);
        break;
      }
      buf = buf.subarray(size);
    }
    this.pending = Buffer.from(buf);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

const errno = (r: Reply): number => (r.type === T.lerror ? r.head.readUInt32LE(0) : 0);
const walk = (fid: number, newfid: number, names: string[]): [number, Field[]] => [T.walk, [{ u32: fid }, { u32: newfid }, { u16: names.length }, ...names.map((s) => ({ s }))]];
const getattr = (fid: number): Field[] => [{ u32: fid }, { u64: 0x7ff }];

/** Twrite by hand: fid[4] offset[8] count[4] data[count] (offsets past 2^53 need a bigint). */
function twrite(tag: number, fid: number, offset: bigint, data: Uint8Array): Buffer {
  const f = Buffer.alloc(7 + 16 + data.length);
  f.writeUInt32LE(f.length, 0);
  f[4] = T.write;
  f.writeUInt16LE(tag, 5);
  f.writeUInt32LE(fid, 7);
  f.writeBigUInt64LE(offset, 11);
  f.writeUInt32LE(data.length, 19);
  f.set(data, 23);
  return f;
}

const sentCount = (type: string): number => sent.get(type) ?? 0;

/** Wait for the trace (an event, not a clock) to say `n` replies of `type` went out in all. */
async function untilSent(type: string, n: number): Promise<void> {
  while (sentCount(type) < n) await new Promise((r) => child.stderr!.once("data", r));
}

describe("issue 8, Done when: over TCP with an independent client", () => {
  it("5,000 Tgetattr pipelined in one write all get answers, and the connection stays up", async () => {
    const c = await Conn.open();
    try {
      c.send(Array.from({ length: 5000 }, (_, i) => frame(T.getattr, 10 + i, getattr(0))));
      await c.until(2 + 5000);
      const answers = c.replies.slice(2);
      expect(answers.length).toBe(5000);
      expect(answers.every((r) => r.type === T.getattr + 1)).toBe(true);
      expect(new Set(answers.map((r) => r.tag)).size).toBe(5000);
      expect((await c.ask(T.getattr, getattr(0), 2)).type).toBe(T.getattr + 1);
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  });

  it("writes at offsets of 2^63 and beyond get an Rlerror (EINVAL or EFBIG), and the file keeps its size", async () => {
    const c = await Conn.open();
    try {
      expect((await c.ask(...walk(0, 1, []))).type).toBe(T.walk + 1);
      expect((await c.ask(T.lcreate, [{ u32: 1 }, { s: "offsets" }, { u32: 2 }, { u32: 0o644 }, { u32: 0 }])).type).toBe(T.lcreate + 1);
      for (const offset of [2n ** 63n, 2n ** 63n + 1n, 2n ** 64n - 4096n, 2n ** 64n - 1n]) {
        const n = c.replies.length;
        c.send([twrite(2, 1, offset, new Uint8Array([1, 2, 3]))]);
        await c.until(n + 1);
        const r = c.replies[n]!;
        expect(r.type).toBe(T.lerror);
        expect([22, 27]).toContain(errno(r)); // EINVAL, EFBIG
      }
      // Rgetattr: valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8]
      const a = await c.ask(T.getattr, getattr(1), 3);
      expect([a.type, a.head.readBigUInt64LE(49)]).toEqual([T.getattr + 1, 0n]);
    } finally {
      c.close();
    }
  });

  it("a client that stops reading while 1,500 × 1 MiB Tread are pipelined stays connected, and every read is answered once it reads again", async () => {
    // No memory check here, on purpose: the tree is in memory and an Rread goes out as views of
    // the stored chunks (sendParts), so even an unbounded reply queue would hold 1,500 views of
    // the same 1 MiB and the server's RSS would not move: such a check could not fail. The next
    // test makes every reply a fresh buffer, where it can.
    const msize = MiB + 24;
    const c = await Conn.open(msize);
    try {
      expect((await c.ask(...walk(0, 1, []))).type).toBe(T.walk + 1);
      expect((await c.ask(T.lcreate, [{ u32: 1 }, { s: "big" }, { u32: 2 }, { u32: 0o644 }, { u32: 0 }])).type).toBe(T.lcreate + 1);
      const data = new Uint8Array(MiB);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
      let n = c.replies.length;
      c.send([twrite(2, 1, 0n, data)]);
      await c.until(n + 1);
      expect([c.replies[n]!.type, c.replies[n]!.head.readUInt32LE(0)]).toEqual([T.write + 1, MiB]);

      c.socket.pause();
      n = c.replies.length;
      const readsBefore = sentCount("Rread");
      c.send(Array.from({ length: 1500 }, (_, i) => frame(T.read, 10 + i, [{ u32: 1 }, { u64: 0 }, { u32: MiB }])));
      // The server answers what fits its queue, then must stop there (not cut us off).
      await untilSent("Rread", readsBefore + 8);
      expect(c.closed).toBe(false);
      c.socket.resume();
      await c.until(n + 1500);
      const answers = c.replies.slice(n);
      expect(answers.length).toBe(1500);
      expect(answers.every((r) => r.type === T.read + 1 && r.head.readUInt32LE(0) === MiB)).toBe(true);
      expect(answers[1499]!.head.subarray(4, 12)).toEqual(Buffer.from(data.subarray(0, 8)));
      expect((await c.ask(T.clunk, [{ u32: 1 }], 3)).type).toBe(T.clunk + 1);
    } finally {
      c.close();
    }
  }, 300_000);

  it("a client that stops reading while 1,500 × 1 MiB Treaddir are pipelined does not grow the server by hundreds of MiB", async () => {
    // Every Rreaddir is encoded into a fresh buffer (unlike Rread, see above): were the replies
    // queued without bound while the client does not read, the server would hold up to 1.5 GiB.
    // How long the client does not read is counted in the server's own work, not on a clock:
    // meanwhile a second connection has 300 of the same listings made for it, one at a time.
    // A server that queued without bound would have made at least as many for the flood (it has
    // 16 in flight to the probe's one) and grown by 300 MiB or more; a bounded one makes none
    // once its queue is full. Peak RSS (VmHWM) counts, so a collection afterwards hides nothing.
    const msize = MiB + 24;
    const c = await Conn.open(msize);
    const probe = await Conn.open(msize);
    try {
      expect((await c.ask(T.mkdir, [{ u32: 0 }, { s: "wide" }, { u32: 0o755 }, { u32: 0 }])).type).toBe(T.mkdir + 1);
      expect((await c.ask(...walk(0, 1, ["wide"]))).type).toBe(T.walk + 1);
      // 4,400 entries of 24 + 230 bytes: a listing of over 1 MiB, so each reply is about 1 MiB.
      const names = Array.from({ length: 4400 }, (_, i) => `${String(i).padStart(6, "0")}${"x".repeat(224)}`);
      let n = c.replies.length;
      c.send(names.map((name, i) => frame(T.mkdir, 10 + i, [{ u32: 1 }, { s: name }, { u32: 0o755 }, { u32: 0 }])));
      await c.until(n + names.length);
      expect(c.replies.slice(n).every((r) => r.type === T.mkdir + 1)).toBe(true);
      expect((await c.ask(T.lopen, [{ u32: 1 }, { u32: 0 }], 2)).type).toBe(T.lopen + 1);
      expect((await probe.ask(...walk(0, 1, ["wide"]))).type).toBe(T.walk + 1);
      expect((await probe.ask(T.lopen, [{ u32: 1 }, { u32: 0 }], 2)).type).toBe(T.lopen + 1);
      const one = await probe.ask(T.readdir, [{ u32: 1 }, { u64: 0 }, { u32: MiB }], 2);
      expect(one.type).toBe(T.readdir + 1);
      expect(one.head.readUInt32LE(0)).toBeGreaterThan(1_000_000);

      const before = rss(true);
      c.socket.pause();
      n = c.replies.length;
      const listingsBefore = sentCount("Rreaddir");
      c.send(Array.from({ length: 1500 }, (_, i) => frame(T.readdir, 10 + i, [{ u32: 1 }, { u64: 0 }, { u32: MiB }])));
      // Its queue is full (8 MiB of replies sent into the socket)...
      await untilSent("Rreaddir", listingsBefore + 8);
      // ...and the server has done the work of 300 more listings for someone else.
      for (let i = 0; i < 300; i++) expect((await probe.ask(T.readdir, [{ u32: 1 }, { u64: 0 }, { u32: MiB }], 2)).type).toBe(T.readdir + 1);
      const during = rss();
      expect(c.closed).toBe(false);
      c.socket.resume();
      await c.until(n + 1500);
      expect(c.replies.slice(n).every((r) => r.type === T.readdir + 1)).toBe(true);
      const grown = Math.max(during.peak, during.now) - before.now;
      expect(grown, `server RSS ${before.now / MiB | 0} MiB → ${during.now / MiB | 0} MiB (peak ${during.peak / MiB | 0})`).toBeLessThan(200 * MiB);
    } finally {
      c.close();
      probe.close();
    }
  }, 300_000);

  it("10,000 pending 64 KiB Txattrcreate do not grow the server by hundreds of MiB; their data is bounded per session", async () => {
    // Before issue 8.6 each Txattrcreate allocated its declared size at once: 10,000 × 64 KiB
    // was ~640 MiB of resident memory, so this check fails on that server.
    const c = await Conn.open(128 * 1024);
    try {
      const before = rss(true);
      let n = c.replies.length;
      const frames: Buffer[] = [];
      for (let i = 0; i < 10_000; i++) {
        frames.push(frame(T.walk, 10 + 2 * i, [{ u32: 0 }, { u32: 100 + i }, { u16: 0 }]));
        frames.push(frame(T.xattrcreate, 11 + 2 * i, [{ u32: 100 + i }, { s: "user.big" }, { u64: 65536 }, { u32: 0 }]));
      }
      c.send(frames);
      await c.until(n + 20_000);
      const got = c.replies.slice(n);
      expect(got.filter((r) => r.type === T.xattrcreate + 1).length).toBe(10_000);
      const after = rss();
      const grown = Math.max(after.peak, after.now) - before.now;
      expect(grown, `server RSS ${before.now / MiB | 0} MiB → ${after.now / MiB | 0} MiB (peak ${after.peak / MiB | 0})`).toBeLessThan(200 * MiB);
      // Data for them, 64 KiB each for 100 of them: past the session's bound (4 MiB), ENOSPC.
      n = c.replies.length;
      const value = new Uint8Array(65536).fill(5);
      c.send(Array.from({ length: 100 }, (_, i) => twrite(20 + i, 100 + i, 0n, value)));
      await c.until(n + 100);
      const writes = c.replies.slice(n);
      const ok = writes.filter((r) => r.type === T.write + 1).length;
      expect(ok).toBeGreaterThan(0);
      expect(ok).toBeLessThan(100);
      expect(writes.filter((r) => r.type === T.lerror).map(errno)).toEqual(Array(100 - ok).fill(28)); // ENOSPC
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  }, 120_000);

  it("400 sessions at once work", async () => {
    const conns = await Promise.all(Array.from({ length: 400 }, () => Conn.open()));
    try {
      const answers = await Promise.all(conns.map((c) => c.ask(T.getattr, getattr(0), 2)));
      expect(answers.every((r) => r.type === T.getattr + 1)).toBe(true);
      expect(conns.every((c) => !c.closed)).toBe(true);
    } finally {
      for (const c of conns) c.close();
    }
  }, 120_000);
});
