import { describe, expect, it } from "vitest";
import { NOTAG, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { FileSystemApi, OpContext } from "../fs/types.js";
import { memoryFs, rawSession, type RawSession } from "./test-harness.js";

/**
 * A memory tree with the latency hook on, whose reads and writes through stuck* names wait until
 * their request is aborted (src/fs/latency.ts), and say when they got there: `stuck(n)` resolves
 * once n of them are waiting. A flush test then sends its Tflush when the request is in the file
 * system, and whether the flush finds it there depends on no clock.
 */
async function stuckTree(): Promise<{ fs: FileSystemApi; stuck: (n: number) => Promise<void> }> {
  const inner = await memoryFs(1);
  const fs = Object.create(inner) as FileSystemApi;
  let waiting = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const arrived = (ctx: OpContext): void => {
    if (!ctx.name?.startsWith("stuck")) return;
    waiting++;
    for (const w of waiters.filter((x) => waiting >= x.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  };
  fs.write = (ino, offset, data, append, ctx) => (arrived(ctx), inner.write(ino, offset, data, append, ctx));
  fs.readInto = (ino, offset, dest, ctx) => (arrived(ctx), inner.readInto(ino, offset, dest, ctx));
  fs.readFresh = (ino, offset, count, alloc, ctx) => (arrived(ctx), inner.readFresh(ino, offset, count, alloc, ctx));
  fs.readParts = (ino, offset, count, ctx) => (arrived(ctx), inner.readParts(ino, offset, count, ctx));
  const stuck = (n: number) => (waiting >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { fs, stuck };
}

/** fid 1 = an open (RDWR) file "stuckfile" in the root holding "original": its reads and writes wait until aborted. */
async function stuckFile(rs: RawSession): Promise<void> {
  rs.send({ type: "Twalk", tag: 10, fid: 0, newfid: 1, names: [] });
  await rs.reply(10);
  rs.send({ type: "Tlcreate", tag: 11, fid: 1, name: "stuckfile", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
  expect((await rs.reply(11)).type).toBe("Rlcreate");
  // In through the file system with no name: a Twrite through fid 1 would wait until aborted.
  const ctx = { signal: new AbortController().signal };
  await rs.fs.write((await rs.fs.walk(rs.fs.rootIno, ["stuckfile"], ctx)).ino, 0, new TextEncoder().encode("original"), false, ctx);
  rs.events.length = 0;
}

async function stuckSession(): Promise<RawSession & { stuck: (n: number) => Promise<void> }> {
  const { fs, stuck } = await stuckTree();
  const rs = await rawSession({ fs });
  await stuckFile(rs);
  return Object.assign(rs, { stuck });
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

  // Rflush comes only once the old request settled, so the events are final when it is here.
  it("aborts a write waiting in the file system before its commit: no reply, discard(tag), then Rflush, file unchanged", async () => {
    const rs = await stuckSession();
    rs.send({ type: "Twrite", tag: 20, fid: 1, offset: 0, data: new TextEncoder().encode("CHANGED!") });
    await rs.stuck(1);
    rs.send({ type: "Tflush", tag: 21, oldtag: 20 });
    expect(await rs.reply(21)).toEqual({ type: "Rflush", tag: 21 });
    expect(rs.events).toEqual([
      { kind: "discard", tag: 20 },
      { kind: "reply", msg: { type: "Rflush", tag: 21 } },
    ]);
    expect(rs.session.stats.flushedBeforeCommit).toBe(1);
    expect(await contents(rs.fs, "stuckfile")).toBe("original");
  });

  it("aborts a large write waiting in the file system, leaving no partial data", async () => {
    const rs = await stuckSession();
    rs.send({ type: "Twrite", tag: 30, fid: 1, offset: 4, data: new Uint8Array(60_000).fill(65) });
    await rs.stuck(1);
    rs.send({ type: "Tflush", tag: 31, oldtag: 30 });
    await rs.reply(31);
    const attr = await rs.fs.getattr((await rs.fs.walk(rs.fs.rootIno, ["stuckfile"], { signal: new AbortController().signal })).ino, { signal: new AbortController().signal });
    expect(attr.size).toBe(8);
    expect(await contents(rs.fs, "stuckfile")).toBe("original");
  });

  it("sends the reply of a request that committed before the Rflush", async () => {
    // A tree whose getattr ignores cancellation and goes on when the test opens its gate: the
    // request finishes after the flush arrived.
    const inner = await memoryFs();
    const stubborn: FileSystemApi = Object.create(inner) as FileSystemApi;
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    stubborn.getattr = async (ino, ctx) => {
      entered();
      await gate;
      return inner.getattr(ino, { ...ctx, signal: new AbortController().signal });
    };
    const rs = await rawSession({ fs: stubborn });
    rs.send({ type: "Tgetattr", tag: 40, fid: 0, mask: 0x7ff });
    await inside;
    rs.send({ type: "Tflush", tag: 41, oldtag: 40 });
    open();
    await rs.reply(41);
    const kinds = rs.replies().map((m) => `${m.type}:${m.tag}`);
    expect(kinds).toEqual(["Rgetattr:40", "Rflush:41"]);
    expect(rs.session.stats.flushedAfterCommit).toBe(1);
  });

  it("answers several Tflush for one tag, each in order, after the old request settled", async () => {
    const rs = await stuckSession();
    rs.send({ type: "Tread", tag: 50, fid: 1, offset: 0, count: 100 });
    await rs.stuck(1);
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

  it("flushes reads without a reply and keeps the session usable", async () => {
    const rs = await stuckSession();
    for (let i = 0; i < 40; i++) {
      rs.send({ type: "Tread", tag: 100 + i, fid: 1, offset: 0, count: 10 });
      await rs.stuck(i + 1);
      rs.send({ type: "Tflush", tag: 200 + i, oldtag: 100 + i });
      await rs.reply(200 + i);
    }
    expect(rs.replies().every((m) => m.type === "Rflush")).toBe(true);
    rs.send({ type: "Tgetattr", tag: 300, fid: 1, mask: 0x7ff });
    expect((await rs.reply(300)).type).toBe("Rgetattr");
    expect(rs.session.stats.flushedBeforeCommit).toBe(40);
  });

  it("a flushed walk creates no fid and a flushed create leaves no name", async () => {
    // While `holding`, walk and mkdir wait until their request is aborted, then do nothing: had the
    // flush not aborted them, they would wait for ever and the Rflush (which follows the old
    // request's end) would never come.
    const inner = await memoryFs();
    const slow: FileSystemApi = Object.create(inner) as FileSystemApi;
    let holding = true;
    const held = <T>(ctx: { signal: AbortSignal }, f: () => Promise<T>): Promise<T> =>
      holding
        ? new Promise<T>((_, reject) => ctx.signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })), { once: true }))
        : f();
    slow.walk = (ino, names, ctx, from) => held(ctx, () => inner.walk(ino, names, ctx, from));
    slow.mkdir = (d, n, m, u, g, ctx) => held(ctx, () => inner.mkdir(d, n, m, u, g, ctx));
    const rs = await rawSession({ fs: slow });
    rs.send({ type: "Tmkdir", tag: 60, dfid: 0, name: "d", mode: 0o755, gid: 0 });
    rs.send({ type: "Tflush", tag: 61, oldtag: 60 });
    await rs.reply(61);
    holding = false;
    rs.send({ type: "Twalk", tag: 62, fid: 0, newfid: 9, names: ["d"] });
    expect(await rs.reply(62)).toEqual({ type: "Rlerror", tag: 62, ecode: Errno.ENOENT });
    rs.send({ type: "Twalk", tag: 63, fid: 0, newfid: 9, names: [] });
    expect((await rs.reply(63)).type).toBe("Rwalk");
    rs.events.length = 0;
    holding = true;
    rs.send({ type: "Twalk", tag: 64, fid: 9, newfid: 10, names: [".."] });
    rs.send({ type: "Tflush", tag: 65, oldtag: 64 });
    await rs.reply(65);
    holding = false;
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
    // Rversion comes only once everything in flight settled: the write, waiting until aborted,
    // must have been aborted for it to come at all, and the events are final then.
    const rs = await stuckSession();
    rs.send({ type: "Twrite", tag: 70, fid: 1, offset: 0, data: new TextEncoder().encode("CHANGED!") });
    await rs.stuck(1);
    rs.send({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" });
    expect((await rs.reply(NOTAG)).type).toBe("Rversion");
    expect(rs.replies().map((m) => m.type)).toEqual(["Rversion"]);
    expect(rs.session.fids.size).toBe(0);
    rs.send({ type: "Tgetattr", tag: 71, fid: 1, mask: 1 });
    expect(await rs.reply(71)).toEqual({ type: "Rlerror", tag: 71, ecode: Errno.EBADF });
    expect(await contents(rs.fs, "stuckfile")).toBe("original");
  });
});
