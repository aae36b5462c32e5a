// A fid names the file it reached (issue 8 item 8), and walking a fid onto itself leaves no
// locks behind on the file it left (issue 8 item 11).
import { describe, expect, it } from "vitest";
import { Client } from "../client/client.js";
import { inProcessTransport } from "../client/transports.js";
import { LockStatus, LockType, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import { Server } from "./server.js";
import { memoryFs } from "./test-harness.js";

async function setup(): Promise<{ a: Client; b: Client }> {
  const server = new Server(await memoryFs(), { onInternalError: (e) => { throw e; } });
  const a = await Client.connect(inProcessTransport(server));
  const b = await Client.connect(inProcessTransport(server));
  return { a, b };
}

async function names(c: Client, path: string): Promise<string[]> {
  return (await c.readdir(path)).map((e) => e.name).filter((n) => n !== "." && n !== "..").sort();
}

let nextFid = 1000;
async function walkFid(c: Client, names: string[], from = c.root): Promise<number> {
  const fid = nextFid++;
  const r = await c.request({ type: "Twalk", fid: from, newfid: fid, names });
  expect(r.qids).toHaveLength(names.length);
  return fid;
}

describe("a fid reached through '.' or '..' names the file it reached", () => {
  it("a fid from d/e/.. removes d (Tremove)", async () => {
    const { a } = await setup();
    await a.mkdir("d");
    await a.mkdir("d/e");
    const fid = await walkFid(a, ["d", "e", ".."]);
    await a.unlink("d/e", 0x200);
    await a.request({ type: "Tremove", fid });
    expect(await names(a, "")).toEqual([]);
  });

  it("a fid from d/e/.. renames d (Trename), and d/. and d/e/../e name d and e", async () => {
    const { a } = await setup();
    await a.mkdir("d");
    await a.mkdir("d/e");
    await a.mkdir("t");
    const t = await walkFid(a, ["t"]);
    await a.request({ type: "Trename", fid: await walkFid(a, ["d", "e", ".."]), dfid: a.root, name: "d2" });
    expect(await names(a, "")).toEqual(["d2", "t"]);
    expect(await names(a, "d2")).toEqual(["e"]);
    await a.request({ type: "Trename", fid: await walkFid(a, ["d2", "."]), dfid: a.root, name: "d3" });
    await a.request({ type: "Trename", fid: await walkFid(a, ["d3", "e", "..", "e", "."]), dfid: t, name: "e2" });
    expect(await names(a, "")).toEqual(["d3", "t"]);
    expect(await names(a, "t")).toEqual(["e2"]);
  });

  it("'..' above where the walk started finds the parent's own name; '.' keeps the fid's", async () => {
    const { a } = await setup();
    await a.mkdir("p");
    await a.mkdir("p/d");
    await a.mkdir("p/d/e");
    for (let i = 0; i < 300; i++) await a.mkdir(`p/x${i}`); // d's entry is not on the first page of p
    await a.mkdir("p/z");
    const e = await walkFid(a, ["p", "d", "e"]);
    const d = await walkFid(a, [".."], e);
    await a.request({ type: "Trename", fid: d, dfid: a.root, name: "moved" });
    expect(await names(a, "moved")).toEqual(["e"]);
    const z = await walkFid(a, ["p", "z"]);
    const zAgain = await walkFid(a, ["."], z);
    await a.request({ type: "Tremove", fid: zAgain });
    expect((await names(a, "p")).includes("z")).toBe(false);
  });

  it("at the root '..' stays at the root: removing or renaming that fid is EBUSY", async () => {
    const { a } = await setup();
    await a.mkdir("d");
    const root = await walkFid(a, ["d", "..", ".."]);
    await expect(a.request({ type: "Trename", fid: root, dfid: a.root, name: "x" })).rejects.toMatchObject({ errno: Errno.EBUSY });
    await expect(a.request({ type: "Tremove", fid: await walkFid(a, [".."]) })).rejects.toMatchObject({ errno: Errno.EBUSY });
    expect(await names(a, "")).toEqual(["d"]);
  });
});

describe("walking a fid onto itself (newfid == fid)", () => {
  const lock = (type: number, procId: number) => ({ type, flags: 0, start: 0, length: 0, procId, clientId: "host" });

  it("releases the locks taken through it on the file it left, so another owner can take them", async () => {
    const { a, b } = await setup();
    await a.mkdir("d");
    await a.writeFile("d/f", "x");
    // Only a directory fid can walk on (from a file, every name is ENOTDIR): lock d through it.
    const fa = await walkFid(a, ["d"]);
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.RDLCK, 1) })).status).toBe(LockStatus.SUCCESS);
    const fb = await b.open("d", OpenFlags.RDONLY);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2) })).status).toBe(LockStatus.BLOCKED);
    // fa now names d/f: the lock on d it took is gone, as a clunk of the old fid would have done.
    await a.request({ type: "Twalk", fid: fa, newfid: fa, names: ["f"] });
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2) })).status).toBe(LockStatus.SUCCESS);
    // and clunking fa later releases nothing of b's
    await a.clunk(fa);
    const g = await a.request({ type: "Tgetlock", fid: await walkFid(a, ["d"]), lock: lock(LockType.WRLCK, 1) });
    expect(g.lock).toMatchObject({ type: LockType.WRLCK, procId: 2 });
  });

  it("onto the same file ('.') keeps the locks, and the clunk releases them", async () => {
    const { a, b } = await setup();
    await a.writeFile("f", "x");
    const fa = await walkFid(a, ["f"]);
    const fb = await b.open("f", OpenFlags.RDWR);
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.WRLCK, 1) })).status).toBe(LockStatus.SUCCESS);
    await expect(a.request({ type: "Twalk", fid: fa, newfid: fa, names: ["."] })).rejects.toMatchObject({ errno: Errno.ENOTDIR });
    const d = await walkFid(a, []);
    expect((await a.request({ type: "Tlock", fid: d, lock: lock(LockType.WRLCK, 3) })).status).toBe(LockStatus.SUCCESS);
    await a.request({ type: "Twalk", fid: d, newfid: d, names: ["."] });
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2) })).status).toBe(LockStatus.BLOCKED);
    await a.clunk(fa);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2) })).status).toBe(LockStatus.SUCCESS);
    const rootLock = await b.request({ type: "Tgetlock", fid: await walkFid(b, []), lock: lock(LockType.WRLCK, 9) });
    expect(rootLock.lock).toMatchObject({ type: LockType.WRLCK, procId: 3 });
    await a.clunk(d);
    expect((await b.request({ type: "Tgetlock", fid: await walkFid(b, []), lock: lock(LockType.WRLCK, 9) })).lock.type).toBe(LockType.UNLCK);
  });

  it("an open fid cannot be walked onto itself (EINVAL, as QEMU answers) and keeps its locks", async () => {
    const { a, b } = await setup();
    await a.writeFile("f", "x");
    const fa = await a.open("f", OpenFlags.RDWR);
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.WRLCK, 1) })).status).toBe(LockStatus.SUCCESS);
    await expect(a.request({ type: "Twalk", fid: fa, newfid: fa, names: [".."] })).rejects.toMatchObject({ errno: Errno.EINVAL });
    const fb = await b.open("f", OpenFlags.RDWR);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2) })).status).toBe(LockStatus.BLOCKED);
    expect(new TextDecoder().decode(await a.read(fa, 0, 10))).toBe("x");
  });
});
