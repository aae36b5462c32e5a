// Session robustness: every request gets exactly one answer even when its reply cannot be encoded or its store fails oddly.
import { describe, expect, it } from "vitest";
import { Errno } from "../protocol/errno.js";
import type { FileSystemApi } from "../fs/types.js";
import { memoryFs, rawSession } from "./test-harness.js";

/** The memory tree with some methods replaced. */
async function patchedFs(patch: Partial<FileSystemApi>): Promise<FileSystemApi> {
  const fs = await memoryFs();
  return new Proxy(fs, {
    get(target, key, receiver) {
      if (key in patch) return patch[key as keyof FileSystemApi];
      const v: unknown = Reflect.get(target, key, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** A session with one in-flight place, and a getattr that only ends when it is aborted: a Tgetattr holds that place. */
async function sessionHeldByGetattr(): Promise<Awaited<ReturnType<typeof rawSession>>> {
  const fs = await patchedFs({
    getattr: (ino, ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason as Error), { once: true })),
  });
  return rawSession({ fs, server: { maxInFlight: 1 } });
}

function quotaError(): Error {
  // What IndexedDB and OPFS reject with when the origin's quota is used up.
  const e = new Error("The quota has been exceeded.");
  e.name = "QuotaExceededError";
  return e;
}

/** An AbortError that no Tflush caused: an IndexedDB request aborted because its transaction failed. */
function strayAbortError(): Error {
  const e = new Error("The transaction was aborted.");
  e.name = "AbortError";
  return e;
}

describe("a reply that cannot be encoded", () => {
  it("is answered with Rlerror(EIO), and the session goes on", async () => {
    const internal: unknown[] = [];
    let version = 2 ** 32; // one past u32: an Rgetattr that cannot be encoded
    const base = await memoryFs();
    const fs = await patchedFs({
      getattr: async (ino, ctx) => ({ ...(await base.getattr(ino, ctx)), qid: { type: 0x80, version, path: ino } }),
    });
    const rs = await rawSession({ fs, server: { onInternalError: (e) => internal.push(e) } });
    rs.send({ type: "Tgetattr", tag: 5, fid: 0, mask: 0x7ff });
    expect(await rs.reply(5)).toEqual({ type: "Rlerror", tag: 5, ecode: Errno.EIO });
    expect(internal).toHaveLength(1);
    version = 7;
    rs.send({ type: "Tgetattr", tag: 6, fid: 0, mask: 0x7ff });
    await rs.reply(6);
    expect(rs.replies().map((r) => r.type)).toEqual(["Rlerror", "Rgetattr"]);
  });
});

describe("store failures that are not a Tflush", () => {
  it("a quota error becomes ENOSPC, not EIO", async () => {
    const fs = await patchedFs({ mkdir: () => Promise.reject(quotaError()) });
    const rs = await rawSession({ fs, server: { onInternalError: () => {} } });
    rs.send({ type: "Tmkdir", tag: 2, dfid: 0, name: "d", mode: 0o755, gid: 0 });
    expect(await rs.reply(2)).toEqual({ type: "Rlerror", tag: 2, ecode: Errno.ENOSPC });
  });

  it("an AbortError no Tflush asked for is answered (EIO) and Tremove still clunks its fid", async () => {
    const internal: unknown[] = [];
    const fs = await patchedFs({ unlink: () => Promise.reject(strayAbortError()) });
    const rs = await rawSession({ fs, server: { onInternalError: (e) => internal.push(e) } });
    rs.send({ type: "Tmkdir", tag: 2, dfid: 0, name: "d", mode: 0o755, gid: 0 });
    await rs.reply(2);
    rs.send({ type: "Twalk", tag: 3, fid: 0, newfid: 1, names: ["d"] });
    await rs.reply(3);
    rs.send({ type: "Tremove", tag: 4, fid: 1 });
    expect(await rs.reply(4)).toEqual({ type: "Rlerror", tag: 4, ecode: Errno.EIO });
    // remove(5): the fid is clunked whether or not the remove succeeded.
    expect(rs.session.fids.has(1)).toBe(false);
  });
});

describe("Treaddir", () => {
  it("whose count cannot hold the first entry is EINVAL, not an empty (end-of-directory) reply", async () => {
    const rs = await rawSession();
    rs.send({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    rs.send({ type: "Tlopen", tag: 3, fid: 1, flags: 0 });
    await rs.reply(3);
    rs.send({ type: "Treaddir", tag: 4, fid: 1, offset: 0, count: 20 });
    expect(await rs.reply(4)).toEqual({ type: "Rlerror", tag: 4, ecode: Errno.EINVAL });
    // Past the last entry an empty reply is the right answer, whatever the count.
    rs.send({ type: "Treaddir", tag: 5, fid: 1, offset: 0, count: 4096 });
    const all = await rs.reply(5);
    expect(all.type).toBe("Rreaddir");
    rs.send({ type: "Treaddir", tag: 6, fid: 1, offset: 2, count: 20 });
    expect(await rs.reply(6)).toMatchObject({ type: "Rreaddir", data: new Uint8Array(0) });
  });
});

describe("frames held while a Tversion resets the session", () => {
  it("count as pending (transports stop reading) and are bounded: past maxHeldFrames the session closes with a reason", async () => {
    const base = await memoryFs();
    // A Tgetattr that ignores its abort signal keeps the Tversion waiting for it.
    let release!: () => void;
    const stuck = new Promise<void>((r) => (release = r));
    const fs = await patchedFs({ getattr: async (ino, ctx) => (await stuck, base.getattr(ino, ctx)) });
    const rs = await rawSession({ fs, server: { maxHeldFrames: 100 } });
    rs.send({ type: "Tgetattr", tag: 2, fid: 0, mask: 1 });
    rs.send({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    for (let i = 0; i < 100; i++) rs.send({ type: "Tclunk", tag: 10 + i, fid: 99 });
    expect(rs.session.pending).toBe(2 + 100);
    expect(rs.events.filter((e) => e.kind === "close")).toEqual([]);
    rs.send({ type: "Tclunk", tag: 200, fid: 99 });
    expect(rs.events.filter((e) => e.kind === "close").map((e) => (e as { reason: string }).reason).join()).toMatch(/101 requests .* sent ahead/);
    release();
  });

  it("are all answered once the Tversion is done, after its Rversion", async () => {
    const rs = await rawSession();
    rs.send({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    rs.send({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 });
    for (let i = 0; i < 50; i++) rs.send({ type: "Tmkdir", tag: 10 + i, dfid: 0, name: `d${i}`, mode: 0o755, gid: 0 });
    for (let i = 0; i < 51; i++) await rs.reply(i === 50 ? 1 : 10 + i);
    const replies = rs.replies();
    expect(replies[0]!.type).toBe("Rversion");
    expect(replies.filter((r) => r.type === "Rattach")).toHaveLength(1);
    // The Tmkdirs ran after the Tattach started: each found fid 0 (attached) or not yet (EBADF), none was lost.
    expect(replies.filter((r) => r.tag >= 10 && r.tag < 60)).toHaveLength(50);
  });
});

describe("Tflush while requests are held", () => {
  it("drops a held request (no reply, its tag discarded) and cancels one in flight without waiting behind the held ones", async () => {
    const rs = await sessionHeldByGetattr();
    rs.send({ type: "Tgetattr", tag: 2, fid: 0, mask: 1 });
    rs.send({ type: "Tgetattr", tag: 3, fid: 0, mask: 1 });
    expect(rs.session.pending).toBe(2);
    rs.send({ type: "Tflush", tag: 4, oldtag: 3 });
    expect(await rs.reply(4)).toEqual({ type: "Rflush", tag: 4 });
    rs.send({ type: "Tflush", tag: 5, oldtag: 2 });
    expect(await rs.reply(5)).toEqual({ type: "Rflush", tag: 5 });
    expect(rs.events).toEqual([
      { kind: "discard", tag: 3 },
      { kind: "reply", msg: { type: "Rflush", tag: 4 } },
      { kind: "discard", tag: 2 },
      { kind: "reply", msg: { type: "Rflush", tag: 5 } },
    ]);
    expect(rs.session.pending).toBe(0);
  });
});

describe("Tversion while requests are held", () => {
  it("is not held behind them: the held ones are dropped (tags discarded), the one in flight is aborted, and Rversion comes", async () => {
    // Were the Tversion held behind the Tgetattr waiting for the one in-flight place, it would never be answered.
    const rs = await sessionHeldByGetattr();
    rs.send({ type: "Tgetattr", tag: 2, fid: 0, mask: 1 });
    rs.send({ type: "Tgetattr", tag: 3, fid: 0, mask: 1 });
    rs.send({ type: "Tclunk", tag: 4, fid: 0 });
    expect(rs.session.pending).toBe(3);
    rs.send({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    expect(await rs.reply(0xffff)).toEqual({ type: "Rversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    expect(rs.events).toEqual([
      { kind: "discard", tag: 3 },
      { kind: "discard", tag: 4 },
      { kind: "discard", tag: 2 },
      { kind: "reply", msg: { type: "Rversion", tag: 0xffff, msize: 65536, version: "9P2000.L" } },
    ]);
    expect(rs.session.pending).toBe(0);
    // The session is new: fid 0 is gone, and a new attach works.
    rs.send({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 });
    expect(await rs.reply(1)).toMatchObject({ type: "Rattach" });
  });

  it("a malformed Tversion resets nothing: the held requests stay and are answered in order", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const base = await memoryFs();
    const fs = await patchedFs({ getattr: async (ino, ctx) => (await gate, base.getattr(ino, ctx)) });
    const rs = await rawSession({ fs, server: { maxInFlight: 1 } });
    rs.send({ type: "Tgetattr", tag: 2, fid: 0, mask: 1 });
    rs.send({ type: "Tgetattr", tag: 3, fid: 0, mask: 1 });
    // size[4] Tversion tag[2] msize[4] and a version string cut short
    rs.sendRaw(new Uint8Array([13, 0, 0, 0, 100, 0xff, 0xff, 0, 0, 1, 0, 9, 0]));
    release();
    expect(await rs.reply(3)).toMatchObject({ type: "Rgetattr", tag: 3 });
    expect(await rs.reply(0xffff)).toMatchObject({ type: "Rlerror", tag: 0xffff });
    expect(rs.replies().map((r) => r.tag)).toEqual([2, 3, 0xffff]);
  });
});
