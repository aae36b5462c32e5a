import { beforeEach, describe, expect, it } from "vitest";
import { AT_REMOVEDIR, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import { MemoryStore } from "../storage/memory.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";
import { errnoOf } from "./test-helpers.js";

const ctx: OpContext = { signal: new AbortController().signal };
const R = ROOT_INO;

let store: MemoryStore;
let fs: FileSystem;

beforeEach(async () => {
  store = new MemoryStore({ chunkSize: 16 });
  fs = await FileSystem.open(store);
});


const mkfile = async (dir: number, name: string): Promise<number> => {
  const { ino } = await fs.create(dir, name, OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
  await fs.release(ino); // create's reference, as a Tclunk drops it
  return ino;
};
const mkdir = async (dir: number, name: string): Promise<number> => (await fs.mkdir(dir, name, 0o755, 0, 0, ctx)).path;
const names = async (dir: number): Promise<string[]> => (await fs.readdir(dir, 2, 1000, ctx)).map((e) => e.name);
const nlink = async (ino: number): Promise<number> => (await fs.getattr(ino, ctx)).nlink;
const lookup = async (dir: number, name: string): Promise<number> => (await fs.walk(dir, [name], ctx)).ino;

async function expectClean(): Promise<void> {
  const r = await fs.fsck();
  expect(r.problems).toEqual([]);
}

describe("rename", () => {
  it("renames within a directory", async () => {
    const f = await mkfile(R, "a");
    await fs.rename(R, "a", R, "b", ctx);
    expect(await names(R)).toEqual(["b"]);
    expect(await lookup(R, "b")).toBe(f);
    await expectClean();
  });

  it("moves a file between directories, touching both", async () => {
    const d1 = await mkdir(R, "d1");
    const d2 = await mkdir(R, "d2");
    const f = await mkfile(d1, "f");
    const v1 = (await fs.getattr(d1, ctx)).qid.version;
    const v2 = (await fs.getattr(d2, ctx)).qid.version;
    const fc = (await fs.getattr(f, ctx)).qid.version;
    await fs.rename(d1, "f", d2, "g", ctx);
    expect(await names(d1)).toEqual([]);
    expect(await lookup(d2, "g")).toBe(f);
    expect((await fs.getattr(d1, ctx)).qid.version).toBeGreaterThan(v1);
    expect((await fs.getattr(d2, ctx)).qid.version).toBeGreaterThan(v2);
    expect((await fs.getattr(f, ctx)).qid.version).toBe(fc);
    await expectClean();
  });

  it("moves a directory: parent link and both link counts follow", async () => {
    const d1 = await mkdir(R, "d1");
    const d2 = await mkdir(R, "d2");
    const sub = await mkdir(d1, "sub");
    expect([await nlink(d1), await nlink(d2)]).toEqual([3, 2]);
    await fs.rename(d1, "sub", d2, "moved", ctx);
    expect([await nlink(d1), await nlink(d2)]).toEqual([2, 3]);
    expect((await fs.walk(sub, [".."], ctx)).ino).toBe(d2);
    await expectClean();
  });

  it("replaces a file atomically and frees the replaced one", async () => {
    const a = await mkfile(R, "a");
    const b = await mkfile(R, "b");
    await fs.write(b, 0, new Uint8Array(40), false, ctx);
    await fs.rename(R, "a", R, "b", ctx);
    expect(await names(R)).toEqual(["b"]);
    expect(await lookup(R, "b")).toBe(a);
    expect(store.debugInodeNumbers().sort()).toEqual([R, a].sort());
    expect(store.debugChunkIndices(b)).toEqual([]);
    await expectClean();
  });

  it("replacing one of several hard links only drops a link", async () => {
    const a = await mkfile(R, "a");
    const b = await mkfile(R, "b");
    await fs.link(R, "b2", b, ctx);
    await fs.rename(R, "a", R, "b", ctx);
    expect(await nlink(b)).toBe(1);
    expect(await lookup(R, "b2")).toBe(b);
    expect(await lookup(R, "b")).toBe(a);
    await expectClean();
  });

  it("replaces an empty directory, not a non-empty one", async () => {
    const src = await mkdir(R, "src");
    const empty = await mkdir(R, "empty");
    const full = await mkdir(R, "full");
    await mkfile(full, "x");
    expect(await errnoOf(fs.rename(R, "src", R, "full", ctx))).toBe(Errno.ENOTEMPTY);
    await fs.rename(R, "src", R, "empty", ctx);
    expect(await lookup(R, "empty")).toBe(src);
    expect(await errnoOf(fs.getattr(empty, ctx))).toBe(Errno.ENOENT);
    expect(await nlink(R)).toBe(4);
    await expectClean();
  });

  it("type mismatches: dir over non-dir ENOTDIR, non-dir over dir EISDIR", async () => {
    await mkdir(R, "d");
    await mkfile(R, "f");
    expect(await errnoOf(fs.rename(R, "d", R, "f", ctx))).toBe(Errno.ENOTDIR);
    expect(await errnoOf(fs.rename(R, "f", R, "d", ctx))).toBe(Errno.EISDIR);
    await expectClean();
  });

  it("refuses to move a directory into itself or a descendant", async () => {
    const a = await mkdir(R, "a");
    const b = await mkdir(a, "b");
    const c = await mkdir(b, "c");
    expect(await errnoOf(fs.rename(R, "a", a, "x", ctx))).toBe(Errno.EINVAL);
    expect(await errnoOf(fs.rename(R, "a", c, "x", ctx))).toBe(Errno.EINVAL);
    // Onto an ancestor of itself: the target contains the source, so it is not empty.
    expect(await errnoOf(fs.rename(b, "c", R, "a", ctx))).toBe(Errno.ENOTEMPTY);
    // Up the tree is fine.
    await fs.rename(b, "c", R, "c", ctx);
    expect((await fs.walk(c, [".."], ctx)).ino).toBe(R);
    await expectClean();
  });

  it("renaming onto another name of the same inode is a no-op", async () => {
    const f = await mkfile(R, "a");
    await fs.link(R, "b", f, ctx);
    const v = (await fs.getattr(R, ctx)).qid.version;
    await fs.rename(R, "a", R, "b", ctx);
    await fs.rename(R, "a", R, "a", ctx);
    expect(await names(R)).toEqual(["a", "b"]);
    expect(await nlink(f)).toBe(2);
    expect((await fs.getattr(R, ctx)).qid.version).toBe(v);
  });

  it("dot names are EBUSY; missing source ENOENT; bad target names rejected", async () => {
    await mkfile(R, "a");
    const d = await mkdir(R, "d");
    expect(await errnoOf(fs.rename(R, ".", R, "x", ctx))).toBe(Errno.EBUSY);
    expect(await errnoOf(fs.rename(R, "a", R, "..", ctx))).toBe(Errno.EBUSY);
    expect(await errnoOf(fs.rename(R, "zz", R, "x", ctx))).toBe(Errno.ENOENT);
    expect(await errnoOf(fs.rename(R, "a", R, "x/y", ctx))).toBe(Errno.EINVAL);
    expect(await errnoOf(fs.rename(R, "a", R, "x".repeat(256), ctx))).toBe(Errno.ENAMETOOLONG);
    const f = await lookup(R, "a");
    expect(await errnoOf(fs.rename(f, "a", R, "x", ctx))).toBe(Errno.ENOTDIR);
    fs.retain(d);
    await fs.unlink(R, "d", AT_REMOVEDIR, ctx);
    expect(await errnoOf(fs.rename(R, "a", d, "x", ctx))).toBe(Errno.ENOENT);
  });

  it("a replaced file that is still open survives until released", async () => {
    const a = await mkfile(R, "a");
    const b = await mkfile(R, "b");
    await fs.write(b, 0, new Uint8Array([1, 2, 3]), false, ctx);
    fs.retain(b);
    await fs.rename(R, "a", R, "b", ctx);
    expect(await nlink(b)).toBe(0);
    const buf = new Uint8Array(3);
    await fs.readInto(b, 0, buf, ctx);
    expect(buf).toEqual(new Uint8Array([1, 2, 3]));
    await expectClean();
    await fs.release(b);
    expect(store.debugInodeNumbers().sort()).toEqual([R, a].sort());
    await expectClean();
  });
});
