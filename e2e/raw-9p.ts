// A 9P2000.L client over TCP that shares no code with worker9p: frames are built and replies
// read byte by byte here, so what it checks is what is on the wire (names as raw bytes).
import type { ChildProcess } from "node:child_process";
import net from "node:net";

export type Field = { u8: number } | { u16: number } | { u32: number } | { u64: number } | { s: Uint8Array | string };

/** Message types (9P2000.L); a reply is its request's type + 1. */
export const T = {
  lerror: 7, lopen: 12, lcreate: 14, symlink: 16, rename: 20, getattr: 24, xattrcreate: 32, readdir: 40, mkdir: 72,
  renameat: 74, unlinkat: 76, version: 100, attach: 104, walk: 110, read: 116, write: 118, clunk: 120, remove: 122,
} as const;
export const NOTAG = 0xffff;
export const NOFID = 0xffffffff;

export interface RawReply {
  type: number;
  /** The body after size[4] type[1] tag[2]. */
  body: Buffer;
}

/**
 * The address a `worker9p serve` child prints once it listens on TCP. Rejects if the child exits
 * first; `detail` (e.g. its stderr so far) goes into that error.
 */
export function listeningAddress(child: ChildProcess, detail: () => string = () => ""): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /worker9p listening on tcp:\/\/([\d.]+):(\d+)/.exec(out);
      if (m) resolve({ host: m[1]!, port: Number(m[2]) });
    });
    child.once("exit", (code) => {
      const more = detail();
      reject(new Error(`server exited ${code}${more ? `: ${more}` : ""}`));
    });
  });
}

/** Rlerror's errno, or 0 for any other reply. */
export const errnoOf = (r: RawReply): number => (r.type === T.lerror ? r.body.readUInt32LE(0) : 0);

export function frame(type: number, tag: number, fields: Field[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    if ("u8" in f) parts.push(Buffer.from([f.u8]));
    else if ("u16" in f) { const b = Buffer.alloc(2); b.writeUInt16LE(f.u16); parts.push(b); }
    else if ("u32" in f) { const b = Buffer.alloc(4); b.writeUInt32LE(f.u32); parts.push(b); }
    else if ("u64" in f) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(f.u64)); parts.push(b); }
    else {
      const s = typeof f.s === "string" ? Buffer.from(f.s, "latin1") : Buffer.from(f.s);
      const len = Buffer.alloc(2);
      len.writeUInt16LE(s.length);
      parts.push(len, s);
    }
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(7);
  head.writeUInt32LE(7 + body.length);
  head[4] = type;
  head.writeUInt16LE(tag, 5);
  return Buffer.concat([head, body]);
}

/** Names in an Rreaddir body, as latin1 strings (one char per byte), "." and ".." left out. */
export function direntNames(r: RawReply): string[] {
  const count = r.body.readUInt32LE(0);
  const d = r.body.subarray(4, 4 + count);
  const out: string[] = [];
  // qid[13] offset[8] type[1] name[s]
  for (let p = 0; p < d.length;) {
    const len = d.readUInt16LE(p + 22);
    out.push(d.subarray(p + 24, p + 24 + len).toString("latin1"));
    p += 24 + len;
  }
  return out.filter((n) => n !== "." && n !== "..");
}

export class RawClient {
  private buf = Buffer.alloc(0);
  private readonly waiting = new Map<number, (r: RawReply) => void>();
  private nextTag = 1;

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 7 && this.buf.readUInt32LE(0) <= this.buf.length) {
        const size = this.buf.readUInt32LE(0);
        const f = this.buf.subarray(0, size);
        this.buf = this.buf.subarray(size);
        const tag = f.readUInt16LE(5);
        this.waiting.get(tag)?.({ type: f[4]!, body: Buffer.from(f.subarray(7)) });
        this.waiting.delete(tag);
      }
    });
  }

  /** Connect, agree on 9P2000.L and attach fid 0 to the root. */
  static async connect(host: string, port: number): Promise<RawClient> {
    const socket = net.createConnection({ host, port });
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    const c = new RawClient(socket);
    const v = await c.request(T.version, [{ u32: 65536 }, { s: "9P2000.L" }], 0xffff);
    if (v.type !== T.version + 1) throw new Error(`Tversion answered ${v.type}`);
    const a = await c.request(T.attach, [{ u32: 0 }, { u32: NOFID }, { s: "root" }, { s: "" }, { u32: 0 }]);
    if (a.type !== T.attach + 1) throw new Error(`Tattach answered ${a.type}`);
    return c;
  }

  request(type: number, fields: Field[], tag = this.nextTag++): Promise<RawReply> {
    return new Promise((resolve) => {
      this.waiting.set(tag, resolve);
      this.socket.write(frame(type, tag, fields));
    });
  }

  walk(fid: number, newfid: number, names: (string | Uint8Array)[]): Promise<RawReply> {
    return this.request(T.walk, [{ u32: fid }, { u32: newfid }, { u16: names.length }, ...names.map((s) => ({ s }))]);
  }

  /** Names in directory `fid` (it uses fid 999 of its own). */
  async list(fid: number): Promise<string[]> {
    await this.walk(fid, 999, []);
    await this.request(T.lopen, [{ u32: 999 }, { u32: 0 }]);
    const r = await this.request(T.readdir, [{ u32: 999 }, { u64: 0 }, { u32: 60000 }]);
    await this.request(T.clunk, [{ u32: 999 }]);
    if (r.type !== T.readdir + 1) throw new Error(`Treaddir answered ${r.type} errno ${errnoOf(r)}`);
    return direntNames(r).sort();
  }

  close(): void {
    this.socket.destroy();
  }
}
