// Frames lent by a transport that recycles their buffers (transport/frame-pool.ts, R1 and R2):
// when the session gives each back, and that the tree keeps no view of one.
import { describe, expect, it } from "vitest";
import { allocTwrite, decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOFID, NOTAG, OpenFlags } from "../protocol/constants.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server } from "./server.js";
import type { Session } from "./session.js";

/** A session whose sink records, in order, replies, frames given back and reply buffers asked for. */
async function lentSession(opts: { latencyMs?: number; chunkSize?: number } = {}) {
  const fs = await FileSystem.open(new MemoryStore(opts.chunkSize ? { chunkSize: opts.chunkSize } : {}), { latencyMs: opts.latencyMs ?? 0 });
  const server = new Server(fs, { onInternalError: (e) => { throw e; } });
  const log: string[] = [];
  const waiters = new Map<number, (m: RMessage) => void>();
  const session: Session = server.connect({
    send(frame) {
      const m = decodeMessage(frame) as RMessage;
      log.push(`reply ${m.type} ${m.tag}`);
      waiters.get(m.tag)?.(m);
    },
    alloc(size) {
      log.push("alloc");
      return new Uint8Array(size);
    },
    discard(tag) {
      log.push(`discard ${tag}`);
    },
    close(reason) {
      log.push(`close ${reason}`);
    },
  });
  /** Send `frame` lent (its release logged as "release <name>"); resolves with the reply to `tag`. */
  const lend = (frame: Uint8Array, name: string): void => session.receive(frame, () => log.push(`release ${name}`));
  const reply = (tag: number) => new Promise<RMessage>((resolve) => waiters.set(tag, resolve));
  const request = async (msg: TMessage): Promise<RMessage> => {
    const r = reply(msg.tag);
    session.receive(encodeMessage(msg));
    return r;
  };
  await request({ type: "Tversion", tag: NOTAG, msize: 1024 * 1024, version: "9P2000.L" });
  await request({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
  await request({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
  expect(await request({ type: "Tlcreate", tag: 3, fid: 1, name: "slowfile", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 })).toMatchObject({ type: "Rlcreate" });
  log.length = 0;
  const contents = async (length: number): Promise<Uint8Array> => {
    const ctx = { signal: new AbortController().signal };
    const w = await fs.walk(fs.rootIno, ["slowfile"], ctx);
    const buf = new Uint8Array(length);
    return buf.subarray(0, await fs.readInto(w.ino, 0, buf, ctx));
  };
  return { session, log, lend, reply, contents };
}

describe("lent request frames (R1, R2)", () => {
  it("a completed request's frame is given back before its reply is built, so the reply can reuse it", async () => {
    const s = await lentSession();
    const { frame, data } = allocTwrite(20, 1, 0, 5);
    data.set([1, 2, 3, 4, 5]);
    const r = s.reply(20);
    s.lend(frame, "twrite");
    expect(await r).toEqual({ type: "Rwrite", tag: 20, count: 5 });
    expect(s.log).toEqual(["release twrite", "alloc", "reply Rwrite 20"]);
  });

  it("a flushed Twrite's frame is never given back: not before its Rflush, nor with it", async () => {
    const s = await lentSession({ latencyMs: 60_000 }); // abortable: the Tflush ends the wait
    const { frame, data } = allocTwrite(30, 1, 0, 8);
    data.fill(7);
    s.lend(frame, "twrite");
    const rflush = s.reply(31);
    s.lend(encodeMessage({ type: "Tflush", tag: 31, oldtag: 30 }), "tflush");
    expect(await rflush).toEqual({ type: "Rflush", tag: 31 });
    // The flushed request settled before its Rflush went out: nothing is left to give its frame back later.
    expect(s.log).toEqual(["release tflush", "discard 30", "alloc", "reply Rflush 31"]);
    expect((await s.contents(8)).length).toBe(0);
  });

  it("the memory store keeps no view of a lent Twrite's data, even a whole chunk in a buffer it would otherwise keep", async () => {
    // A 62 KiB chunk in a 64 KiB buffer: within chunkSize + 4 KiB, so a frame given away would be kept as a view.
    const chunk = 62 * 1024;
    const s = await lentSession({ chunkSize: chunk });
    const buffer = new ArrayBuffer(64 * 1024);
    const { frame, data } = allocTwrite(40, 1, 0, chunk, (size) => new Uint8Array(buffer, 0, size));
    for (let i = 0; i < chunk; i++) data[i] = i % 251;
    const r = s.reply(40);
    s.lend(frame, "twrite");
    expect(await r).toMatchObject({ type: "Rwrite", count: chunk });
    new Uint8Array(buffer).fill(0xee); // the transport reuses the buffer
    const got = await s.contents(chunk);
    expect(got.length).toBe(chunk);
    expect(got.every((b, i) => b === i % 251)).toBe(true);
  });
});
