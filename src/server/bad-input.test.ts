import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { encodeMessage } from "../protocol/codec.js";
import { NOFID } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import { rawSession } from "./test-harness.js";

function frame(type: number, tag: number, body: number[]): Uint8Array {
  const size = 7 + body.length;
  return new Uint8Array([size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, size >>> 24, type, tag & 0xff, tag >> 8, ...body]);
}

describe("malformed but well-framed requests get Rlerror for their tag", () => {
  it("short body", async () => {
    const rs = await rawSession();
    rs.sendRaw(frame(24, 3, [0, 0])); // Tgetattr with a 2-byte body
    expect(await rs.reply(3)).toEqual({ type: "Rlerror", tag: 3, ecode: Errno.EINVAL });
  });

  it("string running past the end", async () => {
    const rs = await rawSession();
    rs.sendRaw(frame(76, 4, [0, 0, 0, 0, 200, 0, 65, 65])); // Tunlinkat name len 200, 2 bytes
    expect(await rs.reply(4)).toEqual({ type: "Rlerror", tag: 4, ecode: Errno.EINVAL });
  });

  it("unknown type and R-types sent as requests", async () => {
    const rs = await rawSession();
    rs.sendRaw(frame(200, 5, []));
    expect(await rs.reply(5)).toEqual({ type: "Rlerror", tag: 5, ecode: Errno.EOPNOTSUPP });
    rs.sendRaw(encodeMessage({ type: "Rclunk", tag: 6 }));
    expect(await rs.reply(6)).toEqual({ type: "Rlerror", tag: 6, ecode: Errno.EINVAL });
    // 9P2000 (non-.L) Tstat/Tcreate/Topen are not part of 9P2000.L
    rs.sendRaw(frame(112, 7, [0, 0, 0, 0, 0]));
    expect(await rs.reply(7)).toEqual({ type: "Rlerror", tag: 7, ecode: Errno.EOPNOTSUPP });
  });

  it("bad fids", async () => {
    const rs = await rawSession();
    rs.send({ type: "Tgetattr", tag: 8, fid: 1234, mask: 1 });
    expect(await rs.reply(8)).toEqual({ type: "Rlerror", tag: 8, ecode: Errno.EBADF });
    rs.send({ type: "Twalk", tag: 9, fid: 0, newfid: 0xffffffff, names: [] });
    expect(await rs.reply(9)).toEqual({ type: "Rlerror", tag: 9, ecode: Errno.EBADF });
    rs.send({ type: "Tattach", tag: 10, fid: 0, afid: NOFID, uname: "", aname: "", nuname: 0 });
    expect(await rs.reply(10)).toEqual({ type: "Rlerror", tag: 10, ecode: Errno.EBADF });
    rs.send({ type: "Tread", tag: 11, fid: 0, offset: 0, count: 10 });
    expect(await rs.reply(11)).toEqual({ type: "Rlerror", tag: 11, ecode: Errno.EBADF });
  });

  it("counts over msize", async () => {
    const rs = await rawSession();
    rs.send({ type: "Tlopen", tag: 12, fid: 0, flags: 0 });
    await rs.reply(12);
    rs.send({ type: "Treaddir", tag: 13, fid: 0, offset: 0, count: 1 << 24 });
    expect(await rs.reply(13)).toEqual({ type: "Rlerror", tag: 13, ecode: Errno.EINVAL });
  });

  it("Tauth is refused, attach to an unknown tree is ENOENT", async () => {
    const rs = await rawSession();
    rs.send({ type: "Tauth", tag: 14, afid: 5, uname: "u", aname: "", nuname: 0 });
    expect(await rs.reply(14)).toMatchObject({ type: "Rlerror" });
    rs.send({ type: "Tattach", tag: 15, fid: 7, afid: NOFID, uname: "u", aname: "/nope", nuname: 0 });
    expect(await rs.reply(15)).toEqual({ type: "Rlerror", tag: 15, ecode: Errno.ENOENT });
    rs.send({ type: "Tattach", tag: 16, fid: 7, afid: NOFID, uname: "u", aname: "/", nuname: 0 });
    expect((await rs.reply(16)).type).toBe("Rattach");
  });

  it("fid floods stop at the limit with EMFILE", async () => {
    const rs = await rawSession({ server: { maxFids: 50 } });
    let last;
    for (let i = 1; i <= 60; i++) {
      rs.send({ type: "Twalk", tag: 100 + i, fid: 0, newfid: 1000 + i, names: [] });
      last = await rs.reply(100 + i);
    }
    expect(last).toEqual({ type: "Rlerror", tag: 160, ecode: Errno.EMFILE });
    expect(rs.session.fids.size).toBe(50);
  });
});

describe("broken framing closes the connection", () => {
  it("size < 7", async () => {
    const rs = await rawSession();
    rs.sendRaw(new Uint8Array([5, 0, 0, 0, 24]));
    expect(rs.events[0]).toMatchObject({ kind: "close" });
  });

  it("size > msize", async () => {
    const rs = await rawSession();
    const f = encodeMessage({ type: "Twrite", tag: 1, fid: 0, offset: 0, data: new Uint8Array(70_000) });
    rs.sendRaw(f);
    expect(rs.events[0]).toMatchObject({ kind: "close" });
  });

  it("a tag reused while in flight", async () => {
    const rs = await rawSession({ latencyMs: 200 });
    rs.send({ type: "Tflush", tag: 3, oldtag: 999 });
    await rs.reply(3);
    rs.send({ type: "Twalk", tag: 10, fid: 0, newfid: 1, names: [] });
    await rs.reply(10);
    rs.send({ type: "Tlcreate", tag: 11, fid: 1, name: "slowx", flags: 2, mode: 0o644, gid: 0 });
    await rs.reply(11);
    rs.send({ type: "Tread", tag: 12, fid: 1, offset: 0, count: 5 });
    rs.send({ type: "Tread", tag: 12, fid: 1, offset: 0, count: 5 });
    expect(rs.events.some((e) => e.kind === "close")).toBe(true);
  });
});

describe("fuzz", () => {
  it("random frames never crash or hang the session, and other sessions keep working", async () => {
    const rs = await rawSession();
    const other = await rawSession({ fs: rs.fs });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfffe }), fc.uint8Array({ maxLength: 64 }), async (type, tag, body) => {
        const before = rs.events.length;
        rs.sendRaw(frame(type, tag, [...body]));
        await new Promise((r) => setTimeout(r, 0));
        await new Promise((r) => setTimeout(r, 0));
        // Either it answered that tag, or it is still working on a valid request, or it closed — never threw.
        expect(rs.events.length).toBeGreaterThanOrEqual(before);
      }),
      { numRuns: 400 },
    );
    other.send({ type: "Tgetattr", tag: 1, fid: 0, mask: 0x7ff });
    expect((await other.reply(1)).type).toBe("Rgetattr");
  });
});
