import { beforeEach, describe, expect, it } from "vitest";
import { AT_REMOVEDIR, LockStatus, LockType, OpenFlags } from "../protocol/constants.js";
import { MemoryStore } from "../storage/memory.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";

const ctx: OpContext = { signal: new AbortController().signal };
const R = ROOT_INO;

let store: MemoryStore;
let fs: FileSystem;

beforeEach(async () => {
  store = new MemoryStore({ chunkSize: 16 });
  fs = await FileSystem.open(store);
});

const mkfile = async (name: string): Promise<number> => {
  const { ino } = await fs.create(R, name, OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
  await fs.release(ino); // create's reference, as a Tclunk drops it
  return ino;
};
const orphanList = (): Promise<number[] | undefined> => store.transaction("readonly", (tx) => tx.getMeta<number[]>("orphans"));

describe("unlinked but open", () => {
  it("stays readable and writable until the last release frees it", async () => {
    const f = await mkfile("f");
    await fs.write(f, 0, new Uint8Array([1, 2, 3]), false, ctx);
    fs.retain(f);
    fs.retain(f);
    await fs.unlink(R, "f", 0, ctx);
    expect((await fs.getattr(f, ctx)).nlink).toBe(0);
    expect(await orphanList()).toEqual([f]);
    await fs.write(f, 3, new Uint8Array(40).fill(4), false, ctx);
    const buf = new Uint8Array(5);
    expect(await fs.readInto(f, 0, buf, ctx)).toBe(5);
    expect(buf).toEqual(new Uint8Array([1, 2, 3, 4, 4]));
    expect((await fs.fsck()).problems).toEqual([]);
    await fs.release(f);
    expect((await fs.getattr(f, ctx)).size).toBe(43);
    await fs.release(f);
    expect(store.debugInodeNumbers()).toEqual([R]);
    expect(store.debugStats().chunks).toBe(0);
    expect(await orphanList()).toEqual([]);
    expect(fs.references(f)).toBe(0);
    expect((await fs.fsck()).problems).toEqual([]);
  });

  it("releasing a linked inode costs nothing and changes nothing", async () => {
    const f = await mkfile("f");
    fs.retain(f);
    await fs.release(f);
    await fs.release(f); // extra releases are ignored
    expect((await fs.getattr(f, ctx)).nlink).toBe(1);
  });

  it("drops the locks of a freed inode", async () => {
    const f = await mkfile("f");
    const owner = { session: 1, clientId: "c", procId: 1 };
    fs.lock(f, owner, { type: LockType.WRLCK, flags: 0, start: 0, length: 0, procId: 1, clientId: "c" });
    fs.retain(f);
    await fs.unlink(R, "f", 0, ctx);
    await fs.release(f);
    const other = { session: 2, clientId: "c", procId: 2 };
    expect(fs.lock(f, other, { type: LockType.WRLCK, flags: 0, start: 0, length: 0, procId: 2, clientId: "c" })).toBe(LockStatus.SUCCESS);
  });

  it("a removed directory still open is freed on release", async () => {
    const d = (await fs.mkdir(R, "d", 0o755, 0, 0, ctx)).path;
    fs.retain(d);
    await fs.unlink(R, "d", AT_REMOVEDIR, ctx);
    expect((await fs.readdir(d, 0, 10, ctx)).map((e) => e.name)).toEqual([".", ".."]);
    await fs.release(d);
    expect(store.debugInodeNumbers()).toEqual([R]);
  });

  it("a later mount reclaims orphans a crash left behind", async () => {
    const f = await mkfile("f");
    await fs.write(f, 0, new Uint8Array(100), false, ctx);
    fs.retain(f);
    await fs.unlink(R, "f", 0, ctx);
    // The server dies without releasing; a new mount of the same store cleans up.
    const again = await FileSystem.open(store);
    expect(store.debugInodeNumbers()).toEqual([R]);
    expect(store.debugStats().chunks).toBe(0);
    expect(await orphanList()).toEqual([]);
    expect((await again.fsck()).problems).toEqual([]);
  });

  it("an aborted unlink leaves no orphan behind", async () => {
    const f = await mkfile("f");
    fs.retain(f);
    const ac = new AbortController();
    ac.abort();
    await expect(fs.unlink(R, "f", 0, { signal: ac.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(await orphanList()).toEqual([]);
    await fs.release(f);
    expect((await fs.getattr(f, ctx)).nlink).toBe(1);
  });
});
