import { describe, expect, it } from "vitest";
import { NOTAG, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { FileSystemApi } from "../fs/types.js";
import { memoryFs, rawSession, type RawSession } from "./test-harness.js";

const LATENCY = 400;

/** fid 1 = an open (RDWR) file "slowfile" in the root holding "original". */
async function slowFile(rs: RawSession, name = "slowfile"): Promise<void> {
  rs.send({ type: "Twalk", tag: 10, fid: 0, newfid: 1, names: [] });
  await rs.reply(10);
  rs.send({ type: "Tlcreate", tag: 11, fid: 1, name, flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
  expect((await rs.reply(11)).type).toBe("Rlcreate");
  rs.send({ type: "Twrite", tag: 12, fid: 1, offset: 0, data: new TextEncoder().encode("original") });
  expect(await rs.reply(12, LATENCY * 3)).toMatchObject({ type: "Rwrite", count: 8 });
  rs.events.length = 0;
}

async function contents(fs: FileSystemApi, name: string): Promise<string> {
  const ctx = { signal: new AbortController().signal };
  const w = await fs.walk(fs.rootIno, [name], ctx);
  const buf = new Uint8Array(64);
  const n = await fs.readInto(w.ino, 0, buf, ctx);
  return new TextDecoder().decode(buf.subarray(0, n));
}

describe("Tflush", () => {
  it("answers a flush of an unknown tag at once and counts it", async () => {
    const rs = await rawSession();
    rs.send({ type: "Tflush", tag: 5, oldtag: 77 });
    expect(await rs.reply(5)).toEqual({ type: "Rflush", tag: 5 });
    expect(rs.session.stats.flushUnknownTag).toBe(1);
  });

  it("aborts a slow write before its commit: no reply, discard(tag), then Rflush, file unchanged", async () => {
    const rs = await rawSession({ latencyMs: LATENCY });
    await slowFile(rs);
    const started = Date.now();
    rs.send({ type: "Twrite", tag: 20, fid: 1, offset: 0, data: new TextEncoder().encode("CHANGED!") });
    await rs.settle(30);
    rs.send({ type: "Tflush", tag: 21, oldtag: 20 });
    expect(await rs.reply(21)).toEqual({ type: "Rflush", tag: 21 });
    expect(Date.now() - started).toBeLessThan(LATENCY / 2);
    await rs.settle(LATENCY + 50);
    expect(rs.events).toEqual([
      { kind: "discard", tag: 20 },
      { kind: "reply", msg: { type: "Rflush", tag: 21 } },
    ]);
    expect(rs.session.stats.flushedBeforeCommit).toBe(1);
    expect(await contents(rs.fs, "slowfile")).toBe("original");
  });

  it("aborts a slow create-then-write sequence leaving no partial data", async () => {
    const rs = await rawSession({ latencyMs: LATENCY });
    await slowFile(rs);
    rs.send({ type: "Twrite", tag: 30, fid: 1, offset: 4, data: new Uint8Array(60_000).fill(65) });
    await rs.settle(10);
    rs.send({ type: "Tflush", tag: 31, oldtag: 30 });
    await rs.reply(31);
    const attr = await rs.fs.getattr((await rs.fs.walk(rs.fs.rootIno, ["slowfile"], { signal: new AbortController().signal })).ino, { signal: new AbortController().signal });
    expect(attr.size).toBe(8);
  });

  it("sends the reply of a request that committed before the Rflush", async () => {
    // A tree whose getattr ignores cancellation: the request finishes after the flush arrived.
    const inner = await memoryFs();
    const stubborn: FileSystemApi = Object.create(inner) as FileSystemApi;
    stubborn.getattr = async (ino, ctx) => {
      await new Promise((r) => setTimeout(r, 50));
      return inner.getattr(ino, { ...ctx, signal: new AbortController().signal });
    };
    const rs = await rawSession({ fs: stubborn });
    rs.send({ type: "Tgetattr", tag: 40, fid: 0, mask: 0x7ff });
    await rs.settle(5);
    rs.send({ type: "Tflush", tag: 41, oldtag: 40 });
    await rs.reply(41);
    const kinds = rs.replies().map((m) => `${m.type}:${m.tag}`);
    expect(kinds).toEqual(["Rgetattr:40", "Rflush:41"]);
    expect(rs.session.stats.flushedAfterCommit).toBe(1);
  });

  it("answers several Tflush for one tag, each in order, after the old request settled", async () => {
    const rs = await rawSession({ latencyMs: LATENCY });
    await slowFile(rs);
    rs.send({ type: "Tread", tag: 50, fid: 1, offset: 0, count: 100 });
    await rs.settle(5);
    rs.send({ type: "Tflush", tag: 51, oldtag: 50 });
    rs.send({ type: "Tflush", tag: 52, oldtag: 50 });
    rs.send({ type: "Tflush", tag: 53, oldtag: 50 });
    await rs.reply(53);
    expect(rs.events.map((e) => (e.kind === "reply" ? `${e.msg.type}:${e.msg.tag}` : `${e.kind}:${"tag" in e ? e.tag : ""}`))).toEqual([
      "discard:50",
      "Rflush:51",
      "Rflush:52",
      "Rflush:53",
    ]);
  });

  it("flushes a slow read without a reply and keeps the session usable", async () => {
    const rs = await rawSession({ latencyMs: LATENCY });
    await slowFile(rs);
    for (let i = 0; i < 40; i++) {
      rs.send({ type: "Tread", tag: 100 + i, fid: 1, offset: 0, count: 10 });
      rs.send({ type: "Tflush", tag: 200 + i, oldtag: 100 + i });
      await rs.reply(200 + i);
    }
    expect(rs.replies().every((m) => m.type === "Rflush")).toBe(true);
    rs.send({ type: "Tgetattr", tag: 300, fid: 1, mask: 0x7ff });
    expect((await rs.reply(300)).type).toBe("Rgetattr");
    expect(rs.session.stats.flushedBeforeCommit).toBe(40);
  });

  it("a flushed walk creates no fid and a flushed create leaves no name", async () => {
    const inner = await memoryFs();
    const slow: FileSystemApi = Object.create(inner) as FileSystemApi;
    const delayed = <T>(ctx: { signal: AbortSignal }, f: () => Promise<T>) =>
      new Promise<T>((resolve, reject) => {
        const t = setTimeout(() => f().then(resolve, reject), 200);
        ctx.signal.addEventListener("abort", () => {
          clearTimeout(t);
          reject(Object.assign(new Error("aborted"), { name: "AbortError" }));
        });
      });
    slow.walk = (ino, names, ctx) => delayed(ctx, () => inner.walk(ino, names, ctx));
    slow.mkdir = (d, n, m, u, g, ctx) => delayed(ctx, () => inner.mkdir(d, n, m, u, g, ctx));
    const rs = await rawSession({ fs: slow });
    rs.send({ type: "Tmkdir", tag: 60, dfid: 0, name: "d", mode: 0o755, gid: 0 });
    rs.send({ type: "Tflush", tag: 61, oldtag: 60 });
    await rs.reply(61);
    rs.send({ type: "Twalk", tag: 62, fid: 0, newfid: 9, names: ["d"] });
    expect(await rs.reply(62, 2000)).toEqual({ type: "Rlerror", tag: 62, ecode: Errno.ENOENT });
    rs.send({ type: "Twalk", tag: 63, fid: 0, newfid: 9, names: [] });
    expect((await rs.reply(63)).type).toBe("Rwalk");
    rs.events.length = 0;
    rs.send({ type: "Twalk", tag: 64, fid: 9, newfid: 10, names: [".."] });
    rs.send({ type: "Tflush", tag: 65, oldtag: 64 });
    await rs.reply(65);
    rs.send({ type: "Tclunk", tag: 66, fid: 10 });
    expect(await rs.reply(66)).toEqual({ type: "Rlerror", tag: 66, ecode: Errno.EBADF });
  });
});

describe("Tversion", () => {
  it("negotiates msize as the minimum and answers unknown versions with 'unknown'", async () => {
    const rs = await rawSession({ version: false, server: { maxMsize: 200_000 } });
    rs.send({ type: "Tversion", tag: NOTAG, msize: 1 << 20, version: "9P2000.L" });
    expect(await rs.reply(NOTAG)).toEqual({ type: "Rversion", tag: NOTAG, msize: 200_000, version: "9P2000.L" });
    rs.events.length = 0;
    rs.send({ type: "Tversion", tag: NOTAG, msize: 8192, version: "9P2000.u" });
    expect(await rs.reply(NOTAG)).toMatchObject({ type: "Rversion", version: "unknown" });
    rs.send({ type: "Tgetattr", tag: 1, fid: 0, mask: 1 });
    expect(await rs.reply(1)).toEqual({ type: "Rlerror", tag: 1, ecode: Errno.EPROTO });
  });

  it("aborts everything in flight and clunks every fid before answering", async () => {
    const rs = await rawSession({ latencyMs: LATENCY });
    await slowFile(rs);
    rs.send({ type: "Twrite", tag: 70, fid: 1, offset: 0, data: new TextEncoder().encode("CHANGED!") });
    await rs.settle(10);
    const t0 = Date.now();
    rs.send({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" });
    expect((await rs.reply(NOTAG)).type).toBe("Rversion");
    expect(Date.now() - t0).toBeLessThan(LATENCY / 2);
    await rs.settle(LATENCY + 50);
    expect(rs.replies().map((m) => m.type)).toEqual(["Rversion"]);
    expect(rs.session.fids.size).toBe(0);
    rs.send({ type: "Tgetattr", tag: 71, fid: 1, mask: 1 });
    expect(await rs.reply(71)).toEqual({ type: "Rlerror", tag: 71, ecode: Errno.EBADF });
    expect(await contents(rs.fs, "slowfile")).toBe("original");
  });
});
