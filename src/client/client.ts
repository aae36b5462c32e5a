import { NOFID, NOTAG, OpenFlags, VERSION_9P2000L } from "../protocol/constants.js";
import { concatBytes } from "../protocol/bytes.js";
import { allocTwrite, decodeDirEntries, decodeMessage, encodeMessage, encodeTwriteHead, type FrameAlloc } from "../protocol/codec.js";
import { Errno, FsError, abortError } from "../protocol/errno.js";
import type { Attr, DirEntry, Qid, RMessage, SetattrRequest, TMessage } from "../protocol/messages.js";

/** A byte pipe carrying whole frames; see transports.ts. */
export interface ClientTransport {
  send(frame: Uint8Array): void;
  /**
   * Send one frame given as parts back to back (a Twrite head and the caller's
   * data) without joining them: a stream writes them with one writev. Only for
   * transports that serialize the bytes (never hand the parts themselves to a
   * server that may keep views of them); parts are read until the request settles.
   */
  sendParts?(parts: Uint8Array[]): void;
  /** Where request frames are built (a transport's recycled buffers: transport/frame-pool.ts); default fresh. */
  alloc?: FrameAlloc;
  /**
   * The frame handed to onFrame is only lent: its buffer is reused once
   * onFrame returns, so the client copies out every byte payload (R1).
   */
  lendsFrames?: boolean;
  /** Installed by the client: each whole R-frame received. */
  onFrame: (frame: Uint8Array) => void;
  /** Installed by the client: the connection ended. */
  onClose: (reason?: string) => void;
  close(): void;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** A request without its tag: the client assigns one. */
export type Request = DistributiveOmit<TMessage, "tag">;
type ReplyName<K extends string> = K extends `T${infer Rest}` ? `R${Rest}` : never;
/** The reply type the server sends for request type K. */
export type ReplyTo<K extends TMessage["type"]> = Extract<RMessage, { type: ReplyName<K> }>;

interface Pending {
  resolve(m: RMessage): void;
  reject(e: Error): void;
  /** A Tflush was sent for this tag: the tag stays taken until its Rflush. */
  flushing: boolean;
  answered: boolean;
}

export interface ClientOptions {
  msize?: number;
  uname?: string;
  aname?: string;
  /** n_uname: numeric uid for the attach (default 0). */
  uid?: number;
}

/**
 * A 9P2000.L client: tag allocation, any number of requests in flight, and
 * cancellation — aborting a request's signal sends Tflush and settles the
 * request as the server decides: with its reply if that came first (it took
 * effect), else with an AbortError.
 */
export class Client {
  msize = 0;
  /** The root fid after attach. */
  readonly root = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly freeTags: number[] = [];
  private nextTag = 0;
  private nextFid = 1;
  private readonly freeFids: number[] = [];
  private closedReason: string | undefined;

  private constructor(private readonly transport: ClientTransport) {
    transport.onFrame = (f) => this.onFrame(f);
    transport.onClose = (reason) => this.onClose(reason ?? "connection closed");
  }

  /** Tversion + Tattach on the root fid. */
  static async connect(transport: ClientTransport, options: ClientOptions = {}): Promise<Client> {
    const c = new Client(transport);
    const r = await c.versionRaw(options.msize ?? 1024 * 1024 + 24);
    if (r.version !== VERSION_9P2000L) throw new Error(`server speaks ${r.version}, not 9P2000.L`);
    await c.request({ type: "Tattach", fid: c.root, afid: NOFID, uname: options.uname ?? "root", aname: options.aname ?? "", nuname: options.uid ?? 0 });
    return c;
  }

  /** Send Tversion (tag NOTAG) and adopt the msize the server answers. */
  async versionRaw(msize: number, version = VERSION_9P2000L): Promise<Extract<RMessage, { type: "Rversion" }>> {
    const r = await this.send({ type: "Tversion", tag: NOTAG, msize, version }, NOTAG);
    if (r.type !== "Rversion") throw new Error(`unexpected ${r.type} to Tversion`);
    this.msize = r.msize;
    return r;
  }

  /** Send one request; rejects with FsError on Rlerror, AbortError if flushed before it took effect. */
  request<K extends TMessage["type"]>(req: Extract<Request, { type: K }>, signal?: AbortSignal): Promise<ReplyTo<K>> {
    const tag = this.allocTag();
    return this.send({ ...req, tag } as TMessage, tag, signal) as Promise<ReplyTo<K>>;
  }

  /** Send an already encoded T-frame (its tag bytes are overwritten). */
  requestFrame(frame: Uint8Array, signal?: AbortSignal): Promise<RMessage> {
    const tag = this.allocTag();
    frame[5] = tag & 0xff;
    frame[6] = tag >>> 8;
    return this.sendFrame(frame, tag, signal);
  }

  /** Like requestFrame, for a frame given as parts (the tag bytes of the first are overwritten); needs transport.sendParts. */
  private requestParts(parts: Uint8Array[], signal?: AbortSignal): Promise<RMessage> {
    const tag = this.allocTag();
    parts[0]![5] = tag & 0xff;
    parts[0]![6] = tag >>> 8;
    return this.dispatch(tag, signal, () => this.transport.sendParts!(parts));
  }

  get inFlight(): number {
    return this.pending.size;
  }

  close(): void {
    this.transport.close();
    this.onClose("closed by client");
  }

  // ---- fids -------------------------------------------------------------

  allocFid(): number {
    return this.freeFids.pop() ?? this.nextFid++;
  }

  async clunk(fid: number): Promise<void> {
    try {
      await this.request({ type: "Tclunk", fid });
    } finally {
      this.freeFids.push(fid);
    }
  }

  /** Walk from the root (or `from`) to a slash-separated path; returns a new fid. */
  async walk(path: string, from = this.root, signal?: AbortSignal): Promise<{ fid: number; qids: Qid[] }> {
    const names = path.split("/").filter((p) => p !== "");
    const fid = this.allocFid();
    const qids: Qid[] = [];
    let cur = from;
    try {
      if (names.length === 0) {
        await this.request({ type: "Twalk", fid: cur, newfid: fid, names: [] }, signal);
        return { fid, qids };
      }
      for (let i = 0; i < names.length; i += 16) {
        const part = names.slice(i, i + 16);
        const r = await this.request({ type: "Twalk", fid: cur, newfid: fid, names: part }, signal);
        qids.push(...r.qids);
        if (r.qids.length < part.length) {
          if (cur === fid) await this.request({ type: "Tclunk", fid });
          throw new FsError(Errno.ENOENT, `walk ${path}: stopped after ${qids.length} names`);
        }
        cur = fid;
      }
      return { fid, qids };
    } catch (e) {
      this.freeFids.push(fid);
      throw e;
    }
  }

  // ---- path helpers (tests, benchmarks, tools) ------------------------------

  async open(path: string, flags: number = OpenFlags.RDONLY, signal?: AbortSignal): Promise<number> {
    const { fid } = await this.walk(path, this.root, signal);
    try {
      await this.request({ type: "Tlopen", fid, flags }, signal);
    } catch (e) {
      await this.clunk(fid).catch(() => {});
      throw e;
    }
    return fid;
  }

  /** Create (or open, with O_TRUNC semantics as given) `name` in directory `dir`; returns an open fid. */
  async create(path: string, flags: number = OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC, mode = 0o644, signal?: AbortSignal): Promise<{ fid: number; qid: Qid }> {
    const { dir, name } = splitPath(path);
    const { fid } = await this.walk(dir, this.root, signal);
    try {
      const r = await this.request({ type: "Tlcreate", fid, name, flags, mode, gid: 0 }, signal);
      return { fid, qid: r.qid };
    } catch (e) {
      await this.clunk(fid).catch(() => {});
      throw e;
    }
  }

  async read(fid: number, offset: number, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    const r = await this.request({ type: "Tread", fid, offset, count }, signal);
    return r.data;
  }

  /**
   * One Twrite of `data` (which must fit msize); returns the count the server
   * wrote. Over a stream the bytes go out from `data` itself, so it must not
   * change until the returned promise settles.
   */
  async write(fid: number, offset: number, data: Uint8Array, signal?: AbortSignal): Promise<number> {
    const r = this.transport.sendParts
      ? await this.requestParts([encodeTwriteHead(0, fid, offset, data.length), data], signal)
      : await this.requestFrame(twriteFrame(fid, offset, data, this.transport.alloc), signal);
    if (r.type !== "Rwrite") throw new Error(`unexpected ${r.type} to Twrite`);
    return r.count;
  }

  get maxIo(): number {
    return this.msize - 24;
  }

  async readAll(fid: number, signal?: AbortSignal): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      const d = await this.read(fid, off, this.maxIo, signal);
      if (d.length === 0) break;
      parts.push(d.slice());
      off += d.length;
    }
    return concatBytes(parts, off);
  }

  async writeAll(fid: number, offset: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    let off = 0;
    while (off < data.length) {
      const n = await this.write(fid, offset + off, data.subarray(off, off + this.maxIo), signal);
      if (n === 0) throw new FsError(Errno.EIO, "short write");
      off += n;
    }
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Uint8Array> {
    const fid = await this.open(path, OpenFlags.RDONLY, signal);
    try {
      return await this.readAll(fid, signal);
    } finally {
      await this.clunk(fid);
    }
  }

  async writeFile(path: string, data: Uint8Array | string, signal?: AbortSignal): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const { fid } = await this.create(path, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC, 0o644, signal);
    try {
      await this.writeAll(fid, 0, bytes, signal);
    } finally {
      await this.clunk(fid);
    }
  }

  async stat(path: string, signal?: AbortSignal): Promise<Attr> {
    const { fid } = await this.walk(path, this.root, signal);
    try {
      return (await this.request({ type: "Tgetattr", fid, mask: 0x3fff }, signal)).attr;
    } finally {
      await this.clunk(fid);
    }
  }

  async setattr(path: string, attr: Partial<SetattrRequest> & { valid: number }): Promise<void> {
    const { fid } = await this.walk(path);
    try {
      await this.request({
        type: "Tsetattr",
        fid,
        attr: { mode: 0, uid: 0, gid: 0, size: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ...attr },
      });
    } finally {
      await this.clunk(fid);
    }
  }

  async mkdir(path: string, mode = 0o755): Promise<Qid> {
    const { dir, name } = splitPath(path);
    const { fid } = await this.walk(dir);
    try {
      return (await this.request({ type: "Tmkdir", dfid: fid, name, mode, gid: 0 })).qid;
    } finally {
      await this.clunk(fid);
    }
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const fid = await this.open(path, OpenFlags.RDONLY | OpenFlags.DIRECTORY);
    const out: DirEntry[] = [];
    try {
      let offset = 0;
      for (;;) {
        const r = await this.request({ type: "Treaddir", fid, offset, count: this.maxIo });
        const entries = decodeDirEntries(r.data);
        if (entries.length === 0) break;
        out.push(...entries);
        offset = entries[entries.length - 1]!.offset;
      }
    } finally {
      await this.clunk(fid);
    }
    return out;
  }

  /** Tunlinkat, falling back to Twalk + Tremove on servers without it (diod), as Linux does. */
  async unlink(path: string, flags = 0): Promise<void> {
    const { dir, name } = splitPath(path);
    const { fid } = await this.walk(dir);
    try {
      await this.request({ type: "Tunlinkat", dirfid: fid, name, flags });
    } catch (e) {
      if (!(e instanceof FsError) || e.errno !== Errno.EOPNOTSUPP) throw e;
      const { fid: target } = await this.walk(name, fid);
      try {
        await this.request({ type: "Tremove", fid: target });
      } finally {
        this.freeFids.push(target);
      }
    } finally {
      await this.clunk(fid);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const a = splitPath(from);
    const b = splitPath(to);
    const { fid: fa } = await this.walk(a.dir);
    try {
      const { fid: fb } = await this.walk(b.dir);
      try {
        await this.request({ type: "Trenameat", olddirfid: fa, oldname: a.name, newdirfid: fb, newname: b.name });
      } finally {
        await this.clunk(fb);
      }
    } finally {
      await this.clunk(fa);
    }
  }

  // ---- plumbing ---------------------------------------------------------

  private allocTag(): number {
    if (this.freeTags.length > 0) return this.freeTags.pop()!;
    if (this.nextTag >= NOTAG) throw new FsError(Errno.EAGAIN, "all 65535 tags are in flight");
    return this.nextTag++;
  }

  private releaseTag(tag: number): void {
    this.pending.delete(tag);
    if (tag !== NOTAG) this.freeTags.push(tag);
  }

  private send(msg: TMessage, tag: number, signal?: AbortSignal): Promise<RMessage> {
    return this.sendFrame(encodeMessage(msg, this.transport.alloc), tag, signal);
  }

  private sendFrame(frame: Uint8Array, tag: number, signal?: AbortSignal): Promise<RMessage> {
    return this.dispatch(tag, signal, () => this.transport.send(frame));
  }

  /** Register `tag` as pending (with Tflush on abort) and `transmit` its request. */
  private dispatch(tag: number, signal: AbortSignal | undefined, transmit: () => void): Promise<RMessage> {
    if (this.closedReason !== undefined) {
      this.releaseTag(tag);
      return Promise.reject(new FsError(Errno.EIO, `9P connection closed: ${this.closedReason}`));
    }
    if (signal?.aborted) {
      this.releaseTag(tag);
      return Promise.reject(abortError());
    }
    return new Promise<RMessage>((resolve, reject) => {
      const p: Pending = { resolve, reject, flushing: false, answered: false };
      this.pending.set(tag, p);
      if (signal) {
        const onAbort = () => this.flushTag(tag, p);
        signal.addEventListener("abort", onAbort, { once: true });
        const cleanup = () => signal.removeEventListener("abort", onAbort);
        p.resolve = (m) => {
          cleanup();
          resolve(m);
        };
        p.reject = (e) => {
          cleanup();
          reject(e);
        };
      }
      transmit();
    });
  }

  /** Tflush `tag`: the old request settles with its reply if the server sent one first, else AbortError. */
  private flushTag(tag: number, p: Pending): void {
    if (p.answered || p.flushing || this.pending.get(tag) !== p) return;
    p.flushing = true;
    const ftag = this.allocTag();
    this.send({ type: "Tflush", tag: ftag, oldtag: tag }, ftag).then(
      () => {
        if (!p.answered) p.reject(abortError());
        this.releaseTag(tag);
      },
      (e: Error) => {
        if (!p.answered) p.reject(e);
      },
    );
  }

  private onFrame(frame: Uint8Array): void {
    let msg: RMessage;
    try {
      msg = decodeMessage(frame) as RMessage;
      // R1: nobody may see a view of a frame the transport reuses once this returns.
      if (this.transport.lendsFrames && (msg.type === "Rread" || msg.type === "Rreaddir")) msg.data = msg.data.slice();
    } catch (e) {
      this.transport.close();
      this.onClose(`undecodable reply: ${(e as Error).message}`);
      return;
    }
    const p = this.pending.get(msg.tag);
    if (!p || p.answered) return;
    p.answered = true;
    // A flushed tag stays reserved until its Rflush: the server may still be using it.
    if (!p.flushing) this.releaseTag(msg.tag);
    if (msg.type === "Rlerror") p.reject(new FsError(msg.ecode));
    else p.resolve(msg);
  }

  private onClose(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const p of this.pending.values()) if (!p.answered) p.reject(new FsError(Errno.EIO, `9P connection closed: ${reason}`));
    this.pending.clear();
  }
}

/** A whole Twrite frame holding a copy of `data` (the server may keep views of the frame it is handed). */
function twriteFrame(fid: number, offset: number, data: Uint8Array, alloc: FrameAlloc | undefined): Uint8Array {
  const { frame, data: payload } = allocTwrite(0, fid, offset, data.length, alloc);
  payload.set(data);
  return frame;
}

export function splitPath(path: string): { dir: string; name: string } {
  const parts = path.split("/").filter((p) => p !== "");
  const name = parts.pop();
  if (name === undefined) throw new FsError(Errno.EINVAL, "path has no last component");
  return { dir: parts.join("/"), name };
}

