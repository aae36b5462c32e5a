import { beforeEach, describe, expect, it } from "vitest";
import { AT_REMOVEDIR, DirentType, GetattrMask, Mode, OpenFlags, QidType, SetattrMask, XattrFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { SetattrRequest } from "../protocol/messages.js";
import { MemoryStore } from "../storage/memory.js";
import { ROOT_INO, XATTR_SIZE_MAX } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";
import { countingStore, errnoOf } from "./test-helpers.js";

const ctx: OpContext = { signal: new AbortController().signal };
const R = ROOT_INO;


function setattrReq(valid: number, extra: Partial<SetattrRequest> = {}): SetattrRequest {
  return { valid, mode: 0, uid: 0, gid: 0, size: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ...extra };
}

let store: MemoryStore;
let fs: FileSystem;

beforeEach(async () => {
  store = new MemoryStore({ chunkSize: 16 });
  fs = await FileSystem.open(store, { uid: 1000, gid: 100 });
});

async function mkfile(dir: number, name: string): Promise<number> {
  const { ino } = await fs.create(dir, name, OpenFlags.RDWR | OpenFlags.CREAT, 0o644, 1, 2, ctx);
  await fs.release(ino); // create's reference, as a Tclunk drops it
  return ino;
}

async function lookup(dir: number, name: string): Promise<number> {
  return (await fs.walk(dir, [name], ctx)).ino;
}

async function names(dir: number): Promise<string[]> {
  return (await fs.readdir(dir, 0, 1000, ctx)).map((e) => e.name);
}

describe("mount", () => {
  it("creates the root directory on an empty store", async () => {
    const a = await fs.getattr(R, ctx);
    expect(a.mode).toBe(Mode.IFDIR | 0o755);
    expect([a.uid, a.gid, a.nlink]).toEqual([1000, 100, 2]);
    expect(a.qid).toEqual({ type: QidType.DIR, version: 0, path: R });
    expect(a.valid).toBe(GetattrMask.ALL);
    expect(a.blksize).toBe(4096);
  });

  it("reopens an existing store without recreating the root", async () => {
    await fs.mkdir(R, "d", 0o700, 0, 0, ctx);
    const again = await FileSystem.open(store);
    expect(await names(R)).toEqual([".", "..", "d"]);
    expect((await again.getattr(R, ctx)).uid).toBe(1000);
    // Inode numbers keep counting from where they were.
    const q = await again.mkdir(R, "e", 0o700, 0, 0, ctx);
    expect(q.path).toBe(3);
  });
});

describe("walk", () => {
  it("walks names and '..', staying at the root above it", async () => {
    const d = await fs.mkdir(R, "a", 0o755, 0, 0, ctx);
    const f = await mkfile(d.path, "f");
    const w = await fs.walk(R, ["a", "f"], ctx);
    expect(w.qids.map((q) => q.path)).toEqual([d.path, f]);
    expect(w).toMatchObject({ ino: f, parent: d.path, name: "f" });
    expect((await fs.walk(R, ["..", "..", "a", ".."], ctx)).ino).toBe(R);
    expect((await fs.walk(d.path, ["."], ctx)).ino).toBe(d.path);
  });

  it("returns the qids of the prefix that worked, and fails only on the first name", async () => {
    const d = await fs.mkdir(R, "a", 0o755, 0, 0, ctx);
    const f = await mkfile(d.path, "f");
    const w = await fs.walk(R, ["a", "nope", "x"], ctx);
    expect(w.qids.map((q) => q.path)).toEqual([d.path]);
    const w2 = await fs.walk(R, ["a", "f", "x"], ctx);
    expect(w2.qids.map((q) => q.path)).toEqual([d.path, f]);
    expect(await errnoOf(fs.walk(R, ["nope"], ctx))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.walk(f, ["x"], ctx))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.walk(R, ["x".repeat(256)], ctx))).toBe(Errno.ENAMETOOLONG);
  });

  it("clones with no names", async () => {
    const w = await fs.walk(R, [], ctx);
    expect(w).toEqual({ qids: [], ino: R, parent: R, name: "" });
    expect(await errnoOf(fs.walk(999, [], ctx))).toBe(Errno.ENOENT);
  });
});

describe("create and open", () => {
  it("creates a regular file whatever type bits the mode carries, and touches the parent", async () => {
    const before = await fs.getattr(R, ctx);
    const r = await fs.create(R, "f", OpenFlags.WRONLY | OpenFlags.CREAT, Mode.IFDIR | 0o640, 5, 6, ctx);
    expect(r.iounit).toBe(0);
    const a = await fs.getattr(r.ino, ctx);
    expect(a.mode).toBe(Mode.IFREG | 0o640);
    expect([a.uid, a.gid, a.nlink, a.size]).toEqual([5, 6, 1, 0]);
    expect(r.qid).toEqual({ type: QidType.FILE, version: 0, path: r.ino });
    const after = await fs.getattr(R, ctx);
    expect(after.qid.version).toBeGreaterThan(before.qid.version);
    expect(after.mtime).toEqual(after.ctime);
  });

  it("O_EXCL on an existing name is EEXIST; without it the file is opened (and O_TRUNC applies)", async () => {
    const ino = await mkfile(R, "f");
    await fs.write(ino, 0, new Uint8Array([1, 2, 3]), false, ctx);
    expect(await errnoOf(fs.create(R, "f", OpenFlags.CREAT | OpenFlags.EXCL | OpenFlags.RDWR, 0o644, 0, 0, ctx))).toBe(Errno.EEXIST);
    const r = await fs.create(R, "f", OpenFlags.CREAT | OpenFlags.RDWR, 0o600, 0, 0, ctx);
    expect(r.ino).toBe(ino);
    expect((await fs.getattr(ino, ctx)).size).toBe(3);
    await fs.create(R, "f", OpenFlags.CREAT | OpenFlags.WRONLY | OpenFlags.TRUNC, 0o600, 0, 0, ctx);
    expect((await fs.getattr(ino, ctx)).size).toBe(0);
  });

  it("create over a directory or a dot name fails as Linux does", async () => {
    await fs.mkdir(R, "d", 0o755, 0, 0, ctx);
    expect(await errnoOf(fs.create(R, "d", OpenFlags.CREAT | OpenFlags.RDONLY, 0o644, 0, 0, ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.create(R, ".", OpenFlags.CREAT, 0o644, 0, 0, ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.create(R, "..", OpenFlags.CREAT | OpenFlags.EXCL, 0o644, 0, 0, ctx))).toBe(Errno.EEXIST);
    const f = await mkfile(R, "f");
    expect(await errnoOf(fs.create(f, "x", OpenFlags.CREAT, 0o644, 0, 0, ctx))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.create(999, "x", OpenFlags.CREAT, 0o644, 0, 0, ctx))).toBe(Errno.ENOENT);
  });

  it("validates new names", async () => {
    const c = (name: string): Promise<unknown> => fs.create(R, name, OpenFlags.CREAT, 0o644, 0, 0, ctx);
    expect(await errnoOf(c("a/b"))).toBe(Errno.EINVAL);
    expect(await errnoOf(c("a\0b"))).toBe(Errno.EINVAL);
    expect(await errnoOf(c("x".repeat(256)))).toBe(Errno.ENAMETOOLONG);
    expect(await errnoOf(c("é".repeat(128)))).toBe(Errno.ENAMETOOLONG); // 256 bytes in UTF-8
    await c("é".repeat(127));
    await c("x".repeat(255));
    expect(await errnoOf(c(""))).toBe(Errno.ENOENT);
  });

  it("open checks the flags against the file type", async () => {
    const d = await fs.mkdir(R, "d", 0o755, 0, 0, ctx);
    const f = await mkfile(R, "f");
    expect((await fs.open(d.path, OpenFlags.RDONLY | OpenFlags.DIRECTORY, ctx)).qid.type).toBe(QidType.DIR);
    expect(await errnoOf(fs.open(d.path, OpenFlags.WRONLY, ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.open(d.path, OpenFlags.RDWR, ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.open(f, OpenFlags.RDONLY | OpenFlags.DIRECTORY, ctx))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.open(999, OpenFlags.RDONLY, ctx))).toBe(Errno.ENOENT);
  });

  it("O_TRUNC truncates only when opened for writing, and bumps mtime/ctime", async () => {
    const f = await mkfile(R, "f");
    await fs.write(f, 0, new Uint8Array(40).fill(7), false, ctx);
    await fs.open(f, OpenFlags.RDONLY | OpenFlags.TRUNC, ctx);
    expect((await fs.getattr(f, ctx)).size).toBe(40);
    const before = await fs.getattr(f, ctx);
    await fs.open(f, OpenFlags.WRONLY | OpenFlags.TRUNC, ctx);
    const after = await fs.getattr(f, ctx);
    expect([after.size, after.blocks]).toEqual([0, 0]);
    expect(after.qid.version).toBeGreaterThan(before.qid.version);
    expect(after.mtime.sec * 1e9 + after.mtime.nsec).toBeGreaterThanOrEqual(before.mtime.sec * 1e9 + before.mtime.nsec);
    expect(store.debugChunkIndices(f)).toEqual([]);
  });
});

describe("directories", () => {
  it("mkdir counts links: parent nlink = 2 + subdirectories", async () => {
    const a = await fs.mkdir(R, "a", 0o1777, 3, 4, ctx);
    await fs.mkdir(R, "b", 0o755, 0, 0, ctx);
    await mkfile(R, "f");
    const attr = await fs.getattr(a.path, ctx);
    expect(attr.mode).toBe(Mode.IFDIR | 0o1777);
    expect(attr.nlink).toBe(2);
    expect((await fs.getattr(R, ctx)).nlink).toBe(4);
    expect(a.type).toBe(QidType.DIR);
  });

  it("mkdir refuses taken and dot names", async () => {
    await mkfile(R, "f");
    expect(await errnoOf(fs.mkdir(R, "f", 0o755, 0, 0, ctx))).toBe(Errno.EEXIST);
    expect(await errnoOf(fs.mkdir(R, "..", 0o755, 0, 0, ctx))).toBe(Errno.EEXIST);
    expect(await errnoOf(fs.mkdir(R, ".", 0o755, 0, 0, ctx))).toBe(Errno.EEXIST);
  });

  it("rmdir: ENOTEMPTY, ENOTDIR, ENOENT, and success drops the parent's link", async () => {
    const a = await fs.mkdir(R, "a", 0o755, 0, 0, ctx);
    await mkfile(a.path, "f");
    await mkfile(R, "g");
    expect(await errnoOf(fs.unlink(R, "a", AT_REMOVEDIR, ctx))).toBe(Errno.ENOTEMPTY);
    expect(await errnoOf(fs.unlink(R, "g", AT_REMOVEDIR, ctx))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.unlink(R, "zz", AT_REMOVEDIR, ctx))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.unlink(R, "a", 0, ctx))).toBe(Errno.EISDIR);
    await fs.unlink(a.path, "f", 0, ctx);
    await fs.unlink(R, "a", AT_REMOVEDIR, ctx);
    expect((await fs.getattr(R, ctx)).nlink).toBe(2);
    expect(await names(R)).toEqual([".", "..", "g"]);
    expect(await errnoOf(fs.getattr(a.path, ctx))).toBe(Errno.ENOENT);
  });

  it("unlink and rmdir of dot names answer as Linux's VFS does", async () => {
    expect(await errnoOf(fs.unlink(R, ".", AT_REMOVEDIR, ctx))).toBe(Errno.EINVAL);
    expect(await errnoOf(fs.unlink(R, "..", AT_REMOVEDIR, ctx))).toBe(Errno.ENOTEMPTY);
    expect(await errnoOf(fs.unlink(R, ".", 0, ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.unlink(R, "..", 0, ctx))).toBe(Errno.EISDIR);
  });

  it("unlink touches the parent and frees the file", async () => {
    const f = await mkfile(R, "f");
    await fs.write(f, 0, new Uint8Array(50), false, ctx);
    const before = await fs.getattr(R, ctx);
    await fs.unlink(R, "f", 0, ctx);
    const after = await fs.getattr(R, ctx);
    expect(after.qid.version).toBeGreaterThan(before.qid.version);
    expect(store.debugInodeNumbers()).toEqual([R]);
    expect(store.debugStats().chunks).toBe(0);
    expect(await errnoOf(fs.unlink(R, "f", 0, ctx))).toBe(Errno.ENOENT);
  });

  it("cannot create inside a removed directory", async () => {
    const a = await fs.mkdir(R, "a", 0o755, 0, 0, ctx);
    fs.retain(a.path); // a fid still points at it (a process's cwd)
    await fs.unlink(R, "a", AT_REMOVEDIR, ctx);
    expect((await fs.getattr(a.path, ctx)).nlink).toBe(0);
    expect(await errnoOf(fs.create(a.path, "x", OpenFlags.CREAT, 0o644, 0, 0, ctx))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.mkdir(a.path, "x", 0o755, 0, 0, ctx))).toBe(Errno.ENOENT);
    expect(await names(a.path)).toEqual([".", ".."]);
    await fs.release(a.path);
    expect(store.debugInodeNumbers()).toEqual([R]);
  });
});

describe("readdir", () => {
  it("lists '.' and '..' first with cookies 1 and 2, then entries with their own cookies", async () => {
    const d = await fs.mkdir(R, "d", 0o755, 0, 0, ctx);
    const f = await mkfile(R, "f");
    await fs.symlink(R, "l", "f", 0, 0, ctx);
    const all = await fs.readdir(R, 0, 100, ctx);
    expect(all.map((e) => [e.name, e.offset, e.type])).toEqual([
      [".", 1, DirentType.DIR],
      ["..", 2, DirentType.DIR],
      ["d", 3, DirentType.DIR],
      ["f", 4, DirentType.REG],
      ["l", 5, DirentType.LNK],
    ]);
    expect(all[2]!.qid).toEqual({ type: QidType.DIR, version: 0, path: d.path });
    expect(all[3]!.qid).toEqual({ type: QidType.FILE, version: 0, path: f });
    expect(all[4]!.qid.type).toBe(QidType.SYMLINK);
    const sub = await fs.readdir(d.path, 0, 100, ctx);
    expect(sub.map((e) => [e.name, e.qid.path])).toEqual([[".", d.path], ["..", R]]);
  });

  it("continues from any cookie, in pages of any size", async () => {
    for (let i = 0; i < 7; i++) await mkfile(R, `f${i}`);
    const seen: string[] = [];
    let offset = 0;
    for (;;) {
      const page = await fs.readdir(R, offset, 2, ctx);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.name));
      offset = page[page.length - 1]!.offset;
    }
    expect(seen).toEqual([".", "..", "f0", "f1", "f2", "f3", "f4", "f5", "f6"]);
    expect(await fs.readdir(R, 0, 0, ctx)).toEqual([]);
  });

  it("keeps cookies stable while entries come and go during a listing", async () => {
    for (let i = 0; i < 30; i++) await mkfile(R, `f${i}`);
    const seen: string[] = [];
    let offset = 0;
    let round = 0;
    for (;;) {
      const page = await fs.readdir(R, offset, 4, ctx);
      if (page.length === 0) break;
      seen.push(...page.map((e) => e.name));
      offset = page[page.length - 1]!.offset;
      // Churn for a while: remove an already-listed and a not-yet-listed odd entry, add a new one.
      if (round < 7) {
        await fs.unlink(R, `f${round * 2 + 1}`, 0, ctx);
        await fs.unlink(R, `f${29 - round * 2}`, 0, ctx);
        await mkfile(R, `new${round}`);
      }
      round++;
    }
    // Entries present throughout (even ones never removed) appear exactly once.
    const stable = Array.from({ length: 30 }, (_, i) => `f${i}`).filter((n, i) => i % 2 === 0);
    for (const n of stable) expect(seen.filter((s) => s === n)).toHaveLength(1);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it("refuses non-directories", async () => {
    const f = await mkfile(R, "f");
    expect(await errnoOf(fs.readdir(f, 0, 10, ctx))).toBe(Errno.ENOTDIR);
  });

  it("pages a directory of 10k entries, each page asking the store for about a page of entries", async () => {
    // Counted work, not time: a readdir that listed the directory from its start (or whole) for
    // every page would make the store hand over ~N²/page entries instead of ~N.
    const s = countingStore(new MemoryStore());
    const big = await FileSystem.open(s);
    const d = await big.mkdir(R, "big", 0o755, 0, 0, ctx);
    for (let i = 0; i < 10000; i++) await big.create(d.path, `file-${i}`, OpenFlags.CREAT, 0o644, 0, 0, ctx);
    s.reset();
    let offset = 0;
    let n = 0;
    let pages = 0;
    for (;;) {
      const page = await big.readdir(d.path, offset, 200, ctx);
      if (page.length === 0) break;
      n += page.length;
      pages++;
      offset = page[page.length - 1]!.offset;
    }
    expect(n).toBe(10002);
    // Every entry once, plus at most a page's worth of look-ahead per page.
    const handedOver = s.calls.get("entries listed") ?? 0;
    expect(handedOver).toBeGreaterThanOrEqual(10000);
    expect(handedOver).toBeLessThan(10000 + (pages + 1) * 200);
  });
});

describe("links, symlinks, device nodes", () => {
  it("link adds a name and a link count; directories refuse", async () => {
    const f = await mkfile(R, "f");
    const d = await fs.mkdir(R, "d", 0o755, 0, 0, ctx);
    await fs.link(d.path, "g", f, ctx);
    expect((await fs.getattr(f, ctx)).nlink).toBe(2);
    expect(await lookup(d.path, "g")).toBe(f);
    expect(await errnoOf(fs.link(R, "dd", d.path, ctx))).toBe(Errno.EPERM);
    expect(await errnoOf(fs.link(R, "f", f, ctx))).toBe(Errno.EEXIST);
    expect(await errnoOf(fs.link(R, "..", f, ctx))).toBe(Errno.EEXIST);
    await fs.unlink(R, "f", 0, ctx);
    expect((await fs.getattr(f, ctx)).nlink).toBe(1);
  });

  it("symlink stores the target; readlink of anything else is EINVAL", async () => {
    const q = await fs.symlink(R, "l", "some/where/é", 7, 8, ctx);
    expect(q.type).toBe(QidType.SYMLINK);
    expect(await fs.readlink(q.path, ctx)).toBe("some/where/é");
    const a = await fs.getattr(q.path, ctx);
    expect(a.mode).toBe(Mode.IFLNK | 0o777);
    expect(a.size).toBe(13);
    const f = await mkfile(R, "f");
    expect(await errnoOf(fs.readlink(f, ctx))).toBe(Errno.EINVAL);
    expect(await errnoOf(fs.symlink(R, "e", "", 0, 0, ctx))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.symlink(R, "l", "x", 0, 0, ctx))).toBe(Errno.EEXIST);
  });

  it("mknod stores type and rdev with Linux's encoding", async () => {
    const c = await fs.mknod(R, "tty", Mode.IFCHR | 0o620, 4, 1, 0, 5, ctx);
    const a = await fs.getattr(c.path, ctx);
    expect(a.mode).toBe(Mode.IFCHR | 0o620);
    expect(a.rdev).toBe((4 << 8) | 1);
    const b = await fs.mknod(R, "blk", Mode.IFBLK | 0o600, 0x1234, 0x56789, 0, 0, ctx);
    // (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
    expect((await fs.getattr(b.path, ctx)).rdev).toBe(0x89 + 0x234 * 0x100 + 0x56700 * 0x1000 + 0x1000 * 2 ** 32);
    const p = await fs.mknod(R, "fifo", Mode.IFIFO | 0o644, 9, 9, 0, 0, ctx);
    expect((await fs.getattr(p.path, ctx)).rdev).toBe(0);
    const r = await fs.mknod(R, "plain", 0o644, 0, 0, 0, 0, ctx);
    expect((await fs.getattr(r.path, ctx)).mode).toBe(Mode.IFREG | 0o644);
    expect(await errnoOf(fs.mknod(R, "d", Mode.IFDIR | 0o755, 0, 0, 0, 0, ctx))).toBe(Errno.EPERM);
    expect((await fs.readdir(R, 0, 10, ctx)).map((e) => e.type)).toEqual([
      DirentType.DIR, DirentType.DIR, DirentType.CHR, DirentType.BLK, DirentType.FIFO, DirentType.REG,
    ]);
  });
});

describe("setattr", () => {
  it("changes mode bits but keeps the type, and owners", async () => {
    const f = await mkfile(R, "f");
    await fs.setattr(f, setattrReq(SetattrMask.MODE | SetattrMask.UID | SetattrMask.GID, { mode: Mode.IFDIR | 0o4711, uid: 9, gid: 10 }), ctx);
    const a = await fs.getattr(f, ctx);
    expect([a.mode, a.uid, a.gid]).toEqual([Mode.IFREG | 0o4711, 9, 10]);
  });

  it("sets times explicitly with *_SET, to now without, and always bumps ctime", async () => {
    const f = await mkfile(R, "f");
    const before = await fs.getattr(f, ctx);
    const atime = { sec: 1000, nsec: 5 };
    const mtime = { sec: 2000, nsec: 6 };
    await fs.setattr(f, setattrReq(SetattrMask.ATIME | SetattrMask.ATIME_SET | SetattrMask.MTIME | SetattrMask.MTIME_SET, { atime, mtime }), ctx);
    const a = await fs.getattr(f, ctx);
    expect(a.atime).toEqual(atime);
    expect(a.mtime).toEqual(mtime);
    expect(a.ctime.sec).toBeGreaterThanOrEqual(before.ctime.sec);
    await fs.setattr(f, setattrReq(SetattrMask.ATIME | SetattrMask.MTIME), ctx);
    const b = await fs.getattr(f, ctx);
    expect(b.atime.sec).toBeGreaterThan(1_600_000_000);
    expect(b.mtime).toEqual(b.atime);
    await fs.setattr(f, setattrReq(SetattrMask.CTIME), ctx);
    // Attribute changes are not data changes: qid.version stays, as Linux's inode lookup expects.
    expect((await fs.getattr(f, ctx)).qid.version).toBe(b.qid.version);
  });

  it("truncating a directory is EISDIR", async () => {
    expect(await errnoOf(fs.setattr(R, setattrReq(SetattrMask.SIZE, { size: 0 }), ctx))).toBe(Errno.EISDIR);
  });
});

describe("xattrs", () => {
  const v = (s: string): Uint8Array => new TextEncoder().encode(s);

  it("sets, gets, lists and removes", async () => {
    const f = await mkfile(R, "f");
    expect(await errnoOf(fs.getxattr(f, "user.a", ctx))).toBe(Errno.ENODATA);
    expect(await fs.listxattr(f, ctx)).toEqual(new Uint8Array());
    const before = await fs.getattr(f, ctx);
    await fs.setxattr(f, "user.a", v("one"), 0, ctx);
    await fs.setxattr(f, "user.b", new Uint8Array(), 0, ctx);
    expect((await fs.getattr(f, ctx)).qid.version).toBe(before.qid.version);
    expect(await fs.getxattr(f, "user.a", ctx)).toEqual(v("one"));
    expect(await fs.getxattr(f, "user.b", ctx)).toEqual(new Uint8Array());
    expect(new TextDecoder().decode(await fs.listxattr(f, ctx))).toBe("user.a\0user.b\0");
    await fs.setxattr(f, "user.a", v("two"), 0, ctx);
    expect(await fs.getxattr(f, "user.a", ctx)).toEqual(v("two"));
    await fs.setxattr(f, "user.a", null, 0, ctx);
    expect(await errnoOf(fs.getxattr(f, "user.a", ctx))).toBe(Errno.ENODATA);
    expect(await errnoOf(fs.setxattr(f, "user.a", null, 0, ctx))).toBe(Errno.ENODATA);
  });

  it("honours CREATE and REPLACE, and limits sizes", async () => {
    const f = await mkfile(R, "f");
    expect(await errnoOf(fs.setxattr(f, "user.a", v("x"), XattrFlags.REPLACE, ctx))).toBe(Errno.ENODATA);
    await fs.setxattr(f, "user.a", v("x"), XattrFlags.CREATE, ctx);
    expect(await errnoOf(fs.setxattr(f, "user.a", v("y"), XattrFlags.CREATE, ctx))).toBe(Errno.EEXIST);
    await fs.setxattr(f, "user.a", v("y"), XattrFlags.REPLACE, ctx);
    expect(await fs.getxattr(f, "user.a", ctx)).toEqual(v("y"));
    expect(await errnoOf(fs.setxattr(f, "user.big", new Uint8Array(XATTR_SIZE_MAX + 1), 0, ctx))).toBe(Errno.E2BIG);
    await fs.setxattr(f, "user.max", new Uint8Array(XATTR_SIZE_MAX), 0, ctx);
    expect(await errnoOf(fs.setxattr(f, "", v("x"), 0, ctx))).toBe(Errno.ERANGE);
  });

  it("copies the value it is given", async () => {
    const f = await mkfile(R, "f");
    const frame = v("abc");
    await fs.setxattr(f, "user.a", frame, 0, ctx);
    frame.fill(0);
    expect(await fs.getxattr(f, "user.a", ctx)).toEqual(v("abc"));
  });
});

describe("statfs and fsync", () => {
  it("reports the v9fs magic and space from the store", async () => {
    const s = await fs.statfs(ctx);
    expect(s.type).toBe(0x01021997);
    expect(s.bsize).toBe(4096);
    expect(s.namelen).toBe(255);
    expect(s.blocks).toBe(Math.floor(store.quotaBytes / 4096));
    expect(s.bfree).toBeLessThanOrEqual(s.blocks);
    expect(s.bavail).toBe(s.bfree);
    expect(s.ffree).toBeLessThan(s.files);
  });

  it("fsync succeeds on existing inodes only", async () => {
    const f = await mkfile(R, "f");
    await fs.fsync(f, ctx);
    expect(await errnoOf(fs.fsync(999, ctx))).toBe(Errno.ENOENT);
  });
});
