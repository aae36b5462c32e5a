// Issue 8.6: memory through xattrs. Pending values are allocated as data arrives and bounded per
// session; one inode's xattrs are bounded; values live apart from the inode record.
import { describe, expect, it, vi } from "vitest";
import { Errno } from "../protocol/errno.js";
import { XATTR_SIZE_MAX } from "../fs/constants.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { rawSession, type RawSession } from "./test-harness.js";
import { SESSION_XATTR_BYTES_MAX, xattrBufferBytes } from "./xattr-buffers.js";

const MiB = 1024 * 1024;

type Request = Parameters<RawSession["send"]>[0];

/** Send requests 500 at a time (pipelined), and answer every one's type. */
async function all(rs: RawSession, msgs: Request[]): Promise<string[]> {
  const types: string[] = [];
  for (let i = 0; i < msgs.length; i += 500) {
    const part = msgs.slice(i, i + 500);
    for (const m of part) rs.send(m);
    await rs.reply(part[part.length - 1]!.tag); // one waiter: each reply wakes every waiter
    const got = new Map(rs.replies().map((r) => [r.tag, r.type]));
    for (const m of part) types.push(got.get(m.tag) ?? (await rs.reply(m.tag)).type);
    rs.events.length = 0;
  }
  return types;
}

/** A whole value in 32 KiB Twrites (a 64 KiB one would not fit the test session's msize). */
async function writeValue(rs: RawSession, fid: number, data: Uint8Array, tag: number): Promise<Request["type"] | string> {
  for (let at = 0; at < data.length; at += 32768) {
    rs.send({ type: "Twrite", tag, fid, offset: at, data: data.subarray(at, at + 32768) });
    const r = await rs.reply(tag);
    rs.events.length = 0;
    if (r.type !== "Rwrite") return r.type === "Rlerror" ? `Rlerror ${r.ecode}` : r.type;
  }
  return "Rwrite";
}

describe("pending Txattrcreate values (issue 8.6)", () => {
  it("10,000 pending 64 KiB Txattrcreate allocate nothing until data arrives", async () => {
    const rs = await rawSession({ server: { maxFids: 20_000 } });
    const N = 10_000;
    const before = process.memoryUsage().arrayBuffers;
    const walks = Array.from({ length: N }, (_, i): Request => ({ type: "Twalk", tag: 1 + i, fid: 0, newfid: 100 + i, names: [] }));
    expect(new Set(await all(rs, walks))).toEqual(new Set(["Rwalk"]));
    const creates = Array.from({ length: N }, (_, i): Request => ({ type: "Txattrcreate", tag: 1 + i, fid: 100 + i, name: `user.k${i}`, size: XATTR_SIZE_MAX, flags: 0 }));
    expect(new Set(await all(rs, creates))).toEqual(new Set(["Rxattrcreate"]));
    expect(xattrBufferBytes(rs.session.fids)).toBe(0);
    // Before: 10,000 × 64 KiB = 625 MiB held by the fids (not collectable while they live).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
  });

  it("what arrives is counted, the session's bound is ENOSPC, and a clunk gives the bytes back", async () => {
    const rs = await rawSession();
    const full = new Uint8Array(XATTR_SIZE_MAX).fill(7);
    const fits = SESSION_XATTR_BYTES_MAX / XATTR_SIZE_MAX;
    let tag = 1;
    for (let i = 0; i <= fits; i++) {
      rs.send({ type: "Twalk", tag: ++tag, fid: 0, newfid: 100 + i, names: [] });
      await rs.reply(tag);
      rs.send({ type: "Txattrcreate", tag: ++tag, fid: 100 + i, name: `user.k${i}`, size: XATTR_SIZE_MAX, flags: 0 });
      await rs.reply(tag);
      expect(await writeValue(rs, 100 + i, full, ++tag)).toBe(i < fits ? "Rwrite" : `Rlerror ${Errno.ENOSPC}`);
    }
    expect(xattrBufferBytes(rs.session.fids)).toBe(SESSION_XATTR_BYTES_MAX);
    // One value completes and is stored: its bytes go back.
    rs.send({ type: "Tclunk", tag: ++tag, fid: 100 });
    expect((await rs.reply(tag)).type).toBe("Rclunk");
    expect(xattrBufferBytes(rs.session.fids)).toBe(SESSION_XATTR_BYTES_MAX - XATTR_SIZE_MAX);
    rs.send({ type: "Txattrwalk", tag: ++tag, fid: 0, newfid: 99, name: "user.k0" });
    expect(await rs.reply(tag)).toMatchObject({ type: "Rxattrwalk", size: XATTR_SIZE_MAX });
    expect(xattrBufferBytes(rs.session.fids)).toBe(SESSION_XATTR_BYTES_MAX);
    // A session that ends gives everything back.
    const everyone = xattrBufferBytes();
    rs.session.close();
    await vi.waitFor(() => expect(rs.server.sessionCount).toBe(0)); // its fids are released before it counts as closed
    expect(xattrBufferBytes()).toBe(everyone - SESSION_XATTR_BYTES_MAX);
  });

  it("a value written in pieces out of order is stored whole", async () => {
    const rs = await rawSession();
    rs.send({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    await rs.reply(2);
    rs.send({ type: "Txattrcreate", tag: 3, fid: 1, name: "user.v", size: 10, flags: 0 });
    await rs.reply(3);
    rs.send({ type: "Twrite", tag: 4, fid: 1, offset: 6, data: new Uint8Array([7, 8, 9, 10]) });
    rs.send({ type: "Twrite", tag: 5, fid: 1, offset: 0, data: new Uint8Array([1, 2, 3, 4, 5, 6]) });
    rs.send({ type: "Tclunk", tag: 6, fid: 1 });
    expect((await rs.reply(6)).type).toBe("Rclunk");
    const v = await rs.fs.getxattr(rs.fs.rootIno, "user.v", { signal: new AbortController().signal });
    expect([...v]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe("xattrs of one inode (issue 8.6)", () => {
  const ctx = { signal: new AbortController().signal };

  it("are bounded: past 256 KiB of names and values, ENOSPC; removing one makes room", async () => {
    const store = new MemoryStore();
    const fs = await FileSystem.open(store);
    const R = fs.rootIno;
    const big = new Uint8Array(XATTR_SIZE_MAX - 100);
    for (let i = 0; i < 4; i++) await fs.setxattr(R, `user.k${i}`, big, 0, ctx);
    await expect(fs.setxattr(R, "user.k4", big, 0, ctx)).rejects.toMatchObject({ errno: Errno.ENOSPC });
    await fs.setxattr(R, "user.k0", null, 0, ctx);
    await fs.setxattr(R, "user.k4", big, 0, ctx);
    expect((await fs.fsck()).problems).toEqual([]);
  });

  it("live apart from the inode record, and go with the inode", async () => {
    const store = new MemoryStore();
    const fs = await FileSystem.open(store);
    const R = fs.rootIno;
    const d = (await fs.mkdir(R, "d", 0o755, 0, 0, ctx)).path;
    await fs.setxattr(d, "user.big", new Uint8Array(XATTR_SIZE_MAX).fill(3), 0, ctx);
    const rec = await store.transaction("readonly", (tx) => tx.getInode(d));
    expect(rec?.xattrs).toBeUndefined();
    expect(rec?.xattrBytes).toBe("user.big".length + XATTR_SIZE_MAX);
    expect((await fs.getxattr(d, "user.big", ctx)).length).toBe(XATTR_SIZE_MAX);
    expect(store.debugStats().xattrOwners).toBe(1);
    await fs.unlink(R, "d", 0x200, ctx);
    expect(store.debugStats().xattrOwners).toBe(0);
    expect(store.debugStats().used).toBe(store.debugRecount());
  });

  it("a record written with inline xattrs (older versions) is read, and moved out at its next change", async () => {
    const store = new MemoryStore();
    const fs = await FileSystem.open(store);
    const R = fs.rootIno;
    await store.transaction("readwrite", async (tx) => {
      const root = (await tx.getInode(R))!;
      await tx.putInode({ ...root, xattrs: [["user.old", new Uint8Array([1, 2])]] });
    });
    const again = await FileSystem.open(store);
    expect([...(await again.getxattr(R, "user.old", ctx))]).toEqual([1, 2]);
    await again.setxattr(R, "user.new", new Uint8Array([3]), 0, ctx);
    const rec = await store.transaction("readonly", (tx) => tx.getInode(R));
    expect(rec?.xattrs).toBeUndefined();
    expect(new TextDecoder().decode(await again.listxattr(R, ctx))).toBe("user.old\0user.new\0");
    expect((await again.fsck()).problems).toEqual([]);
  });
});
