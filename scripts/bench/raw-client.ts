// A bare 9P2000.L client for the benchmark: prebuilt frames on a plain socket,
// replies counted by their size field, nothing decoded that need not be. It
// costs the same against any server, so what it measures is the server's round
// trip: what Linux sees with cache=none (one request in flight at a time).
import net from "node:net";
import { decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { NOFID, NOTAG, OpenFlags } from "../../src/protocol/constants.js";
import type { RMessage, TMessage } from "../../src/protocol/messages.js";
import { nowUs } from "./node-profile.js";

const WANT_MSIZE = 1024 * 1024 + 24;
const IO_HEADER = 24; // Twrite: size[4] type[1] tag[2] fid[4] offset[8] count[4] + a margin Linux keeps too

export interface SequentialIo {
  write: number;
  read: number;
  writeCpuUs: number;
  readCpuUs: number;
  /** Requests per phase. */
  requests: number;
  /** When each phase ran, on the monotonic clock of node-profile.ts's nowUs(). */
  writeWindow: [number, number];
  readWindow: [number, number];
}

export class RawClient {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Wanted: this many whole replies, then resolve. */
  private want = 0;
  private got = 0;
  private wake: (() => void) | undefined;
  msize = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.take(d));
    socket.on("error", () => {});
  }

  static async connect(port: number, aname: string): Promise<RawClient> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const c = new RawClient(socket);
    const v = await c.ask({ type: "Tversion", tag: NOTAG, msize: WANT_MSIZE, version: "9P2000.L" });
    if (v.type !== "Rversion") throw new Error(`Tversion: ${JSON.stringify(v)}`);
    c.msize = v.msize;
    await c.expect({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname, nuname: 0 }, "Rattach");
    return c;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Largest 64 KiB-or-less payload this session's msize carries. */
  get block(): number {
    return Math.min(64 * 1024, this.msize - IO_HEADER);
  }

  async ask(m: TMessage): Promise<RMessage> {
    const frames = await this.roundTrip([encodeMessage(m)], 1, true);
    return decodeMessage(frames[0]!) as RMessage;
  }

  async expect(m: TMessage, type: RMessage["type"]): Promise<RMessage> {
    const r = await this.ask(m);
    if (r.type !== type) throw new Error(`${m.type}: ${JSON.stringify(r)}`);
    return r;
  }

  /**
   * Sequential writes then reads of `bytes` in `block`-byte requests, one in
   * flight: MB/s each, and the server's CPU µs per request when `cpuMs` reads
   * the server's CPU time.
   */
  async sequentialIo(name: string, bytes: number, cpuMs: () => number = () => 0): Promise<SequentialIo> {
    const block = this.block;
    await this.expect({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [] }, "Rwalk");
    await this.expect({ type: "Tlcreate", tag: 1, fid: 1, name, flags: OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC, mode: 0o644, gid: 0 }, "Rlcreate");
    const data = new Uint8Array(block);
    for (let i = 0; i < block; i++) data[i] = (i * 31) & 0xff;
    const twrite = Buffer.from(encodeMessage({ type: "Twrite", tag: 2, fid: 1, offset: 0, data }));
    const tread = Buffer.from(encodeMessage({ type: "Tread", tag: 3, fid: 1, offset: 0, count: block }));
    const n = Math.floor(bytes / block);
    let c0 = cpuMs();
    const writeFrom = nowUs();
    let t0 = performance.now();
    for (let i = 0; i < n; i++) {
      twrite.writeBigUInt64LE(BigInt(i * block), 11);
      await this.roundTrip([twrite], 1, false);
    }
    const write = (n * block) / 1e6 / ((performance.now() - t0) / 1000);
    const writeCpuUs = ((cpuMs() - c0) * 1000) / n;
    const writeTo = nowUs();
    c0 = cpuMs();
    t0 = performance.now();
    for (let i = 0; i < n; i++) {
      tread.writeBigUInt64LE(BigInt(i * block), 11);
      await this.roundTrip([tread], 1, false);
    }
    const read = (n * block) / 1e6 / ((performance.now() - t0) / 1000);
    const readCpuUs = ((cpuMs() - c0) * 1000) / n;
    const readWindow: [number, number] = [writeTo, nowUs()];
    // The last read came back whole (size and type): the file holds what was written.
    const last = await this.ask({ type: "Tread", tag: 3, fid: 1, offset: (n - 1) * block, count: block });
    if (last.type !== "Rread" || last.data.length !== block || last.data[block - 1] !== data[block - 1]) throw new Error("read back the wrong data");
    await this.expect({ type: "Tclunk", tag: 1, fid: 1 }, "Rclunk");
    // Twalk + Tremove: diod answers Tunlinkat with EOPNOTSUPP.
    await this.expect({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [name] }, "Rwalk");
    await this.expect({ type: "Tremove", tag: 1, fid: 1 }, "Rremove");
    return { write, read, writeCpuUs, readCpuUs, requests: n, writeWindow: [writeFrom, writeTo], readWindow };
  }

  /** Tgetattr on the root with `inFlight` requests outstanding for `seconds`: replies per second. */
  async pipelinedGetattr(inFlight: number, seconds: number): Promise<number> {
    const frames = Array.from({ length: inFlight }, (_, i) => Buffer.from(encodeMessage({ type: "Tgetattr", tag: 10 + i, fid: 0, mask: 0x7ff })));
    // Every reply is answered with the same request again (its tag is free now), so `inFlight` stay outstanding.
    const answered: number[] = [];
    this.onTag = (tag) => answered.push(tag);
    this.got = 0;
    const t0 = performance.now();
    const deadline = t0 + seconds * 1000;
    this.socket.write(Buffer.concat(frames));
    let sent = inFlight;
    while (performance.now() < deadline) {
      await this.waitFor(this.got + 1);
      const again = answered.splice(0).map((tag) => frames[tag - 10]!);
      sent += again.length;
      this.socket.write(again.length === 1 ? again[0]! : Buffer.concat(again));
    }
    const done = this.got;
    const secs = (performance.now() - t0) / 1000;
    await this.waitFor(sent);
    this.onTag = undefined;
    this.got = 0;
    return done / secs;
  }

  private onTag: ((tag: number) => void) | undefined;

  private async roundTrip(frames: Buffer[] | Uint8Array[], replies: number, keep: boolean): Promise<Uint8Array[]> {
    this.got = 0;
    this.kept = keep ? [] : undefined;
    for (const f of frames) this.socket.write(f);
    await this.waitFor(replies);
    const out = this.kept ?? [];
    this.kept = undefined;
    this.got = 0;
    return out;
  }

  private kept: Uint8Array[] | undefined;

  private waitFor(n: number): Promise<void> {
    if (this.got >= n) return Promise.resolve();
    this.want = n;
    return new Promise<void>((r) => (this.wake = r));
  }

  private take(d: Buffer): void {
    this.chunks.push(d);
    this.buffered += d.length;
    for (;;) {
      if (this.buffered < 4) break;
      let head = this.chunks[0]!;
      if (head.length < 7) {
        head = Buffer.concat(this.chunks);
        this.chunks = [head];
      }
      const size = head.readUInt32LE(0);
      if (this.buffered < size) break;
      this.onTag?.(head.readUInt16LE(5));
      if (this.kept) {
        const whole = head.length >= size ? head : Buffer.concat(this.chunks);
        this.kept.push(new Uint8Array(whole.subarray(0, size)));
      }
      // Drop `size` bytes from the front.
      let left = size;
      while (left > 0) {
        const c = this.chunks[0]!;
        if (c.length <= left) {
          left -= c.length;
          this.chunks.shift();
        } else {
          this.chunks[0] = c.subarray(left);
          left = 0;
        }
      }
      this.buffered -= size;
      this.got++;
    }
    if (this.wake && this.got >= this.want) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
  }
}
