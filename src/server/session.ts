import { HEADER_SIZE, VERSION_9P2000L, VERSION_UNKNOWN } from "../protocol/constants.js";
import { concatBytes } from "../protocol/bytes.js";
import { DecodeError, decodeMessage, peekHeader, type FrameAlloc } from "../protocol/codec.js";
import { Errno, FsError, isCancellation, isFsError, isQuotaError } from "../protocol/errno.js";
import type { Message, TMessage, TOf } from "../protocol/messages.js";
import type { FileSystemApi } from "../fs/types.js";
import type { Connection, FrameSink } from "./connection.js";
import { FidTable } from "./fid-table.js";
import { handlers, releaseFid, type HandlerResult, type HandlerScope } from "./handlers.js";
import { emptyStats, type SessionStats } from "./stats.js";
import { HeldFrames } from "./held-frames.js";
import { wireReply } from "./reply-frame.js";
import { TFLUSH, TVERSION, decodesAsTversion, describe, replyBound, requestTag } from "./request-frame.js";

export interface SessionLimits {
  /** Largest msize we agree to. */
  maxMsize: number;
  /** Fids one session may hold; more fail with EMFILE. */
  maxFids: number;
  /** Requests one session runs at once; later ones wait, held, until one finishes (see Back-pressure). */
  maxInFlight: number;
  /** Reply bytes the requests in flight may produce (Tread/Treaddir counts) before later ones wait. */
  maxReplyBytes: number;
  /**
   * Frames one session may hold unstarted. Transports that can stop reading
   * never come near it; past it (a port that cannot be paused, flooded), the
   * session is closed with a clear reason.
   */
  maxHeldFrames: number;
  maxHeldBytes: number;
}

export interface SessionHooks {
  /** After a rename: fids of every session naming the old place now name the new one. */
  renamed(oldDir: number, oldName: string, newDir: number, newName: string): void;
  /** A failure that is a server bug, not a POSIX error (reported once, answered with EIO). */
  internalError(err: unknown): void;
  trace?: (line: string) => void;
  closed(session: Session): void;
}

interface InFlight {
  type: TMessage["type"];
  controller: AbortController;
  /** Resolves once the request is fully done: its reply sent, or discarded. */
  settled: Promise<void>;
  /** A Tflush named this request. */
  flushed: boolean;
}

/** Smallest msize that still carries every non-data message we send. */
const MIN_MSIZE = 4096;

/**
 * One 9P session: a fid table, the requests in flight by tag, and the
 * Tflush/Tversion rules that tie them together. Frames held unstarted are a
 * HeldFrames (held-frames.ts); what is read from a frame before decoding it,
 * request-frame.ts; a result as it goes on the wire, reply-frame.ts.
 *
 * Back-pressure. A client may pipeline as much as it likes; the session never
 * cuts it off for that. A frame starts at once only while (1) fewer than
 * maxInFlight requests run, (2) the replies they may produce stay within
 * maxReplyBytes, (3) the transport's reply queue is not congested, and (4) no
 * Tversion is resetting the session; otherwise it is held, in arrival order,
 * and started as requests finish (or as the transport's queue drains: resume()).
 * Held frames count in `pending`, and their bytes with those of the requests
 * in flight in `pendingBytes`, which transports watch to stop reading: a
 * client pipelining large Twrites is stopped by bytes, not only by count.
 * A Tflush is never held behind the requests it may be needed to cancel, nor
 * a Tversion behind those it aborts (the held ones are dropped).
 */
export class Session implements Connection {
  readonly fids: FidTable;
  readonly stats: SessionStats = emptyStats();
  onDrain?: () => void;

  private msize = 0;
  private readonly inflight = new Map<number, InFlight>();
  /** Reply bytes the requests in flight may produce. */
  private replyBytes = 0;
  /** Request frame bytes of the requests in flight (a Twrite's data lives in its frame until done). */
  private inflightFrameBytes = 0;
  /** Frames not started yet, oldest first (see Back-pressure). */
  private readonly held = new HeldFrames((frame) => this.weight(frame));
  /** A Tversion is resetting the session: every frame is held until it is done. */
  private versioning = false;
  private pumping = false;
  private closed = false;
  private readonly scope: HandlerScope;
  /** Frames lent by the transport: how to give each back (transport/frame-pool.ts, R1). */
  private readonly lent = new WeakMap<Uint8Array, () => void>();
  /** Frames that arrived in a buffer larger than themselves (a port message with slack): the memory they pin. */
  private readonly pinned = new WeakMap<Uint8Array, number>();
  private readonly alloc: FrameAlloc | undefined;

  constructor(
    readonly id: number,
    private readonly fs: FileSystemApi,
    private readonly sink: FrameSink,
    private readonly limits: SessionLimits,
    private readonly hooks: SessionHooks,
  ) {
    this.fids = new FidTable(limits.maxFids);
    this.alloc = sink.alloc?.bind(sink);
    const session = this;
    this.scope = {
      fs,
      fids: this.fids,
      sessionId: id,
      sendsParts: sink.sendParts !== undefined,
      alloc: this.alloc,
      get msize() {
        return session.msize;
      },
      renamed: (a, b, c, d) => hooks.renamed(a, b, c, d),
      report: (e) => hooks.internalError(e),
    };
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** Requests in flight plus frames held unstarted: what a transport watches to stop reading. */
  get pending(): number {
    return this.inflight.size + this.held.count;
  }

  /** Bytes of the frames counted in `pending`. */
  get pendingBytes(): number {
    return this.inflightFrameBytes + this.held.bytes;
  }

  /** The msize agreed by Tversion (0 before). */
  get negotiatedMsize(): number {
    return this.msize;
  }

  /** Connection.receive (connection.ts). */
  receive(frame: Uint8Array, release?: () => void, bytes = frame.length): void {
    if (this.closed) return;
    if (release) this.lent.set(frame, release);
    if (bytes > frame.length) this.pinned.set(frame, bytes);
    if (this.mustHold(frame)) {
      if (!this.versioning && frame.length >= 9 && frame[4] === TFLUSH) {
        this.flushNow(frame);
        return;
      }
      if (!this.versioning && frame.length >= 7 && frame[4] === TVERSION) {
        this.versionNow(frame);
        return;
      }
      this.hold(frame);
      return;
    }
    this.start(frame);
  }

  /** The transport's reply queue drained: start what was held for it. */
  resume(): void {
    this.pump();
  }

  private weight(frame: Uint8Array): number {
    return this.pinned.get(frame) ?? frame.length;
  }

  private mustHold(frame: Uint8Array): boolean {
    return this.versioning || this.held.count > 0 || !this.mayStart(frame);
  }

  /**
   * Rules (1)–(3) of Back-pressure. A congested transport holds everything,
   * even with nothing in flight: its queue drains only as the peer reads, and
   * then it calls resume().
   */
  private mayStart(frame: Uint8Array): boolean {
    if (this.sink.congested?.() === true) return false;
    if (this.inflight.size === 0) return true;
    if (this.inflight.size >= this.limits.maxInFlight) return false;
    return this.replyBytes + replyBound(frame, this.msize || this.limits.maxMsize) <= this.limits.maxReplyBytes;
  }

  private hold(frame: Uint8Array): void {
    this.held.push(frame);
    const { count, bytes } = this.held;
    if (count > this.limits.maxHeldFrames || bytes > this.limits.maxHeldBytes) {
      this.fail(`${count} requests (${bytes} bytes) sent ahead of their replies: more than this session holds`);
    }
  }

  /** Start held frames while the rules of Back-pressure let them. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let frame = this.held.peek(); frame && !this.closed && !this.versioning; frame = this.held.peek()) {
        if (!this.mayStart(frame)) break;
        this.start(this.held.shift());
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * A Tflush that arrived while requests are held: it must not wait behind
   * them (the requests in flight it may cancel could be what they wait for).
   * A held target never started, so it is dropped without a reply.
   */
  private flushNow(frame: Uint8Array): void {
    const header = peekHeader(frame);
    if (!header || header.size !== frame.length || frame.length !== 9) {
      this.hold(frame); // malformed: answered in order, like any frame
      return;
    }
    const oldtag = frame[7]! | (frame[8]! << 8);
    if (this.held.takeTag(oldtag)) {
      // Held, so it never ran: it leaves no trace, and the transport frees its tag.
      this.stats.requests++;
      this.stats.flushedBeforeCommit++;
      this.trace(() => `s${this.id} -- tag ${oldtag} cancelled before it started`);
      this.sink.discard?.(oldtag);
    }
    this.start(frame);
  }

  /**
   * A Tversion that arrived while requests are held: it resets the session,
   * aborting what is in flight, so it must not wait behind requests that wait
   * for those (a held Tversion behind a request stuck until aborted would
   * never be answered). The held ones never started: like flushed requests
   * they are dropped without a reply, their tags freed.
   */
  private versionNow(frame: Uint8Array): void {
    if (!decodesAsTversion(frame)) {
      this.hold(frame); // malformed: answered in order, like any frame, and resets nothing
      return;
    }
    for (const h of this.held.clear()) {
      const tag = requestTag(h);
      if (tag === undefined) continue;
      this.stats.requests++;
      this.trace(() => `s${this.id} -- tag ${tag} dropped: a Tversion came before it started`);
      this.sink.discard?.(tag);
    }
    this.start(frame);
  }

  private start(frame: Uint8Array): void {
    const header = peekHeader(frame);
    const limit = this.msize || this.limits.maxMsize;
    if (!header || header.size !== frame.length || header.size < HEADER_SIZE || header.size > limit) {
      this.fail(`broken framing (size field ${header?.size ?? "unreadable"}, frame ${frame.length} bytes, msize ${limit})`);
      return;
    }
    if (this.inflight.has(header.tag)) {
      this.fail(`tag ${header.tag} reused while its request is in flight`);
      return;
    }
    const release = this.lent.get(frame) ?? noop;
    let msg: Message;
    try {
      msg = decodeMessage(frame);
    } catch (e) {
      if (e instanceof DecodeError) {
        this.stats.requests++;
        this.trace(() => `s${this.id} <- bad frame type ${header.type} tag ${header.tag}: ${e.message}`);
        release();
        this.sendError(header.tag, e.errno);
        return;
      }
      throw e;
    }
    this.stats.requests++;
    if (msg.type[0] !== "T") {
      this.trace(() => `s${this.id} <- ${msg.type} tag ${msg.tag}: not a request`);
      release();
      this.sendError(msg.tag, Errno.EINVAL);
      return;
    }
    const req = msg as TMessage;
    this.trace(() => `s${this.id} <- ${describe(req)}`);
    if (req.type === "Tversion") {
      void this.version(req, release);
    } else if (this.msize === 0) {
      release();
      this.sendError(req.tag, Errno.EPROTO);
    } else if (req.type === "Tflush") {
      this.flush(req, release);
    } else {
      this.run(req, replyBound(frame, this.msize), this.weight(frame), this.lent.has(frame) ? release : undefined);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held.clear();
    for (const r of this.inflight.values()) r.controller.abort();
    const settled = [...this.inflight.values()].map((r) => r.settled);
    void Promise.all(settled)
      .then(() => this.releaseAllFids())
      .catch((e: unknown) => this.hooks.internalError(e))
      .finally(() => {
        this.fs.releaseSessionLocks(this.id);
        this.hooks.closed(this);
      });
  }

  private fail(reason: string): void {
    this.hooks.trace?.(`s${this.id} closed: ${reason}`);
    this.sink.close(reason);
    this.close();
  }

  /** Register a request under its tag and run its handler. */
  private track(tag: number, type: TMessage["type"], replyBytes = 0, frameBytes = 0): { entry: InFlight; done: () => void } {
    let settle!: () => void;
    const entry: InFlight = {
      type,
      controller: new AbortController(),
      settled: new Promise<void>((r) => (settle = r)),
      flushed: false,
    };
    this.inflight.set(tag, entry);
    this.replyBytes += replyBytes;
    this.inflightFrameBytes += frameBytes;
    this.stats.inFlight = this.inflight.size;
    return {
      entry,
      done: () => {
        if (this.inflight.get(tag) !== entry) return;
        this.inflight.delete(tag);
        this.replyBytes -= replyBytes;
        this.inflightFrameBytes -= frameBytes;
        this.stats.inFlight = this.inflight.size;
        settle();
        this.pump();
        this.onDrain?.();
      },
    };
  }

  /** `release`: the request's frame is lent (R1), given back when the request completes unaborted. */
  private run(req: TMessage, replyBytes: number, frameBytes: number, release: (() => void) | undefined): void {
    const handler = handlers[req.type] as ((s: HandlerScope, m: TMessage, signal: AbortSignal, lent: boolean) => Promise<HandlerResult>) | undefined;
    const { entry, done } = this.track(req.tag, req.type, replyBytes, frameBytes);
    const signal = entry.controller.signal;
    const work = handler ? handler(this.scope, req, signal, release !== undefined) : Promise.reject(new FsError(Errno.EOPNOTSUPP, `${req.type} is not supported`));
    // R1, R2: an unaborted request that settled reads its frame no more, and its result holds no view of it,
    // so the frame goes back before the reply is built — which may then reuse its buffer.
    const giveBack = () => {
      if (!signal.aborted) release?.();
    };
    // The tag is freed in the same turn as its reply goes out: a client may reuse it the moment it sees the reply.
    work.then(
      (result) => {
        // It finished: whatever it changed is committed, so the reply goes out even if a Tflush came meanwhile.
        if (entry.flushed) this.stats.flushedAfterCommit++;
        try {
          giveBack();
          this.send(req.tag, result);
        } finally {
          done();
        }
      },
      (err: unknown) => {
        try {
          if (isCancellation(err, signal)) {
            // Aborted before its commit, so it took no effect: no reply; the transport frees the tag's resources.
            // (Any other failure ran to its end, and may have changed state — a clunked fid — so it is answered.)
            if (entry.flushed) this.stats.flushedBeforeCommit++;
            this.trace(() => `s${this.id} -- tag ${req.tag} ${req.type} cancelled`);
            if (!this.closed) this.sink.discard?.(req.tag);
            return;
          }
          giveBack();
          this.sendError(req.tag, this.errnoOf(err));
        } finally {
          done();
        }
      },
    ).catch((e: unknown) => this.hooks.internalError(e));
  }

  private flush(req: TOf<"Tflush">, release: () => void): void {
    const target = this.inflight.get(req.oldtag);
    const { done } = this.track(req.tag, req.type);
    // A Tflush's frame holds nothing but oldtag, read above (R1).
    release();
    if (!target) {
      this.stats.flushUnknownTag++;
      this.send(req.tag, { type: "Rflush", tag: req.tag });
      done();
      return;
    }
    target.flushed = true;
    target.controller.abort();
    // Rflush only once the old request settled: its reply (if it committed) has gone out first.
    void target.settled.then(() => {
      try {
        this.send(req.tag, { type: "Rflush", tag: req.tag });
      } finally {
        done();
      }
    });
  }

  private async version(req: TOf<"Tversion">, release: () => void): Promise<void> {
    this.versioning = true;
    const { done } = this.track(req.tag, req.type);
    // Decoded into numbers and a string: nothing reads the frame any more (R1).
    release();
    try {
      const others = [...this.inflight.entries()].filter(([tag]) => tag !== req.tag).map(([, r]) => r);
      for (const r of others) r.controller.abort();
      await Promise.all(others.map((r) => r.settled));
      await this.releaseAllFids();
      const accepted = req.version === VERSION_9P2000L || req.version.startsWith(`${VERSION_9P2000L}.`);
      if (accepted && req.msize < MIN_MSIZE) {
        this.msize = 0;
        this.sendError(req.tag, Errno.EINVAL);
        return;
      }
      this.msize = accepted ? Math.min(req.msize, this.limits.maxMsize) : 0;
      this.send(req.tag, {
        type: "Rversion",
        tag: req.tag,
        msize: accepted ? this.msize : Math.min(req.msize, this.limits.maxMsize),
        version: accepted ? VERSION_9P2000L : VERSION_UNKNOWN,
      });
    } catch (e) {
      this.hooks.internalError(e);
    } finally {
      this.versioning = false;
      done();
    }
  }

  private async releaseAllFids(): Promise<void> {
    for (const f of this.fids.drain()) await releaseFid(this.fs, this.id, f);
  }

  private errnoOf(err: unknown): number {
    if (isFsError(err) || err instanceof DecodeError) return err.errno;
    if (isQuotaError(err)) return Errno.ENOSPC;
    this.hooks.internalError(err);
    return Errno.EIO;
  }

  private sendError(tag: number, errno: number): void {
    this.stats.errors++;
    this.send(tag, { type: "Rlerror", tag, ecode: errno });
  }

  private send(tag: number, result: HandlerResult): void {
    if (this.closed) return;
    const reply = wireReply(tag, result, this.msize || this.limits.maxMsize, this.alloc, (e) => this.hooks.internalError(e));
    this.stats.replies++;
    if (reply.kind === "parts") {
      this.trace(() => `s${this.id} -> Rread tag ${tag} (${reply.size} bytes)`);
      if (this.sink.sendParts) this.sink.sendParts(reply.parts);
      else this.sink.send(concatBytes(reply.parts, reply.size));
      return;
    }
    this.stats.errors += reply.errors;
    const { frame, shown } = reply;
    this.trace(() => `s${this.id} -> ${shown instanceof Uint8Array ? `frame tag ${tag} (${frame.length} bytes)` : describe(shown)}`);
    this.sink.send(frame);
  }

  private trace(line: () => string): void {
    if (this.hooks.trace) this.hooks.trace(line());
  }
}

const noop = () => {};
