// Issue 10.2/10.6: what one create, lookup, readdir page and unlink cost does not grow with the
// directory. Asserted on store operations counted per request (a benchmark's figure, not a time).
import { describe, expect, it } from "vitest";
import { DirentType, Mode, OpenFlags } from "../protocol/constants.js";
import { MemoryStore } from "../storage/memory.js";
import { newInode, nowTimespec } from "./attr.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import { META_NEXT_INO } from "./meta.js";
import { countingStore } from "./test-helpers.js";

const ctx = { signal: new AbortController().signal };

/** A directory of `n` files put straight into the store (what n creates would leave). */
async function bigDir(inner: MemoryStore, fs: FileSystem, n: number): Promise<number> {
  const dir = (await fs.mkdir(ROOT_INO, `d${n}`, 0o755, 0, 0, ctx)).path;
  await inner.transaction("readwrite", async (tx) => {
    let ino = (await tx.getMeta<number>(META_NEXT_INO))!;
    const t = nowTimespec();
    for (let i = 0; i < n; i++, ino++) {
      await tx.putInode(newInode(ino, Mode.IFREG | 0o644, 0, 0, t));
      await tx.putEntry({ dir, name: `file-${i}`, ino, cookie: 3 + i, dtype: DirentType.REG });
    }
    await tx.putMeta(META_NEXT_INO, ino);
    const d = (await tx.getInode(dir))!;
    await tx.putInode({ ...d, nextCookie: 3 + n });
  });
  return dir;
}

/** Store calls of one create, lookup, readdir page from the middle, and unlink in `dir` of `n` entries. */
async function costs(store: ReturnType<typeof countingStore>, fs: FileSystem, dir: number, n: number) {
  const out: Record<string, Record<string, number>> = {};
  const measure = async (what: string, op: () => Promise<unknown>) => {
    store.reset();
    await op();
    out[what] = Object.fromEntries(store.calls);
  };
  await measure("create", async () => fs.release((await fs.create(dir, "new", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx)).ino));
  await measure("lookup", () => fs.walk(dir, [`file-${n >> 1}`], ctx));
  await measure("readdir page", () => fs.readdir(dir, 3 + (n >> 1), 64, ctx));
  await measure("unlink", () => fs.unlink(dir, `file-${n >> 1}`, 0, ctx));
  return out;
}

describe("cost per operation in a directory of 100,000 entries (issue 10.2, 10.6)", () => {
  it("create, lookup, readdir page and unlink make the same store calls as in a directory of 200", async () => {
    const inner = new MemoryStore();
    const store = countingStore(inner);
    const fs = await FileSystem.open(store);
    const small = await costs(store, fs, await bigDir(inner, fs, 200), 200);
    const large = await costs(store, fs, await bigDir(inner, fs, 100_000), 100_000);
    expect(large).toEqual(small);
    // And what they are: a create is one transaction of a few small records, each looked up once.
    expect(large.create).toEqual({ "readwrite transactions": 1, getEntry: 1, getInode: 1, getMeta: 1, putMeta: 1, putEntry: 1, putInode: 2 });
    expect(large.lookup).toEqual({ "readonly transactions": 1, getInode: 2, getEntry: 1 });
    expect(large["readdir page"]!["entries listed"]).toBe(64);
    expect((await fs.fsck()).problems).toEqual([]);
  }, 60_000);
});
