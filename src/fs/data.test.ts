import { beforeEach, describe, expect, it } from "vitest";
import { Mode, OpenFlags, SetattrMask } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { SetattrRequest } from "../protocol/messages.js";
import { MemoryStore } from "../storage/memory.js";
import type { StoreTx } from "../storage/store.js";
import { MAX_FILE_SIZE, ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";
import { errnoOf } from "./test-helpers.js";

const ctx: OpContext = { signal: new AbortController().signal };
const CS = 16;

let store: MemoryStore;
let fs: FileSystem;
let f: number;

beforeEach(async () => {
  store = new MemoryStore({ chunkSize: CS });
  fs = await FileSystem.open(store);
  f = (await fs.create(ROOT_INO, "f", OpenFlags.RDWR | OpenFlags.CREAT, 0o644, 0, 0, ctx)).ino;
});

const bytes = (n: number, start = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

async function read(offset: number, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n).fill(0xee); // stale garbage must be overwritten
  const got = await fs.readInto(f, offset, buf, ctx);
  return buf.subarray(0, got);
}


function truncate(size: number): Promise<void> {
  const req: SetattrRequest = { valid: SetattrMask.SIZE, mode: 0, uid: 0, gid: 0, size, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } };
  return fs.setattr(f, req, ctx);
}

describe("read and write", () => {
  it("round-trips data across chunk boundaries", async () => {
    const data = bytes(100);
    expect(await fs.write(f, 0, data, false, ctx)).toBe(100);
    expect(await read(0, 200)).toEqual(data);
    expect(await read(10, 20)).toEqual(data.subarray(10, 30));
    const a = await fs.getattr(f, ctx);
    expect(a.size).toBe(100);
    expect(store.debugChunkIndices(f)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(a.blocks).toBe(1);
  });

  it("reads 0 bytes at or past EOF, even at absurd offsets", async () => {
    await fs.write(f, 0, bytes(5), false, ctx);
    expect((await read(5, 10)).length).toBe(0);
    expect((await read(2 ** 60, 10)).length).toBe(0);
  });

  it("leaves holes that read as zeros and are not stored", async () => {
    await fs.write(f, 3 * CS + 2, bytes(4), false, ctx);
    const a = await fs.getattr(f, ctx);
    expect(a.size).toBe(3 * CS + 6);
    expect(store.debugChunkIndices(f)).toEqual([3]);
    const all = await read(0, 100);
    expect(all.length).toBe(3 * CS + 6);
    expect(all.subarray(0, 3 * CS + 2).every((b) => b === 0)).toBe(true);
    expect(all.subarray(3 * CS + 2)).toEqual(bytes(4));
  });

  it("overwrites in the middle, touching only the chunks it covers", async () => {
    await fs.write(f, 0, new Uint8Array(4 * CS).fill(1), false, ctx);
    const touched: string[] = [];
    const spy = spyChunks(touched);
    await fs.write(f, CS + 4, new Uint8Array(CS).fill(2), false, ctx);
    spy.restore();
    expect(touched.sort()).toEqual(["get1", "get2", "put1", "put2"].sort());
    const all = await read(0, 4 * CS);
    expect(all.subarray(CS + 4, 2 * CS + 4).every((b) => b === 2)).toBe(true);
    expect(all[CS + 3]).toBe(1);
    expect(all[2 * CS + 4]).toBe(1);
  });

  it("does not read a chunk a write covers entirely", async () => {
    await fs.write(f, 0, new Uint8Array(3 * CS).fill(1), false, ctx);
    const touched: string[] = [];
    const spy = spyChunks(touched);
    await fs.write(f, CS, new Uint8Array(CS).fill(3), false, ctx);
    spy.restore();
    expect(touched).toEqual(["put1"]);
  });

  it("never lets the store keep the caller's buffer", async () => {
    const frame = new Uint8Array(64).fill(9);
    const view = frame.subarray(8, 8 + 2 * CS); // exactly two whole chunks
    await fs.write(f, 0, view, false, ctx);
    frame.fill(0);
    expect(await read(0, 2 * CS)).toEqual(new Uint8Array(2 * CS).fill(9));
  });

  it("append writes at EOF whatever the offset says", async () => {
    await fs.write(f, 0, bytes(10), false, ctx);
    await fs.write(f, 0, bytes(3, 100), true, ctx);
    expect(await read(0, 20)).toEqual(Uint8Array.from([...bytes(10), ...bytes(3, 100)]));
  });

  it("updates size, mtime/ctime, version and chunk counts", async () => {
    const before = await fs.getattr(f, ctx);
    await fs.write(f, 0, bytes(20), false, ctx);
    const after = await fs.getattr(f, ctx);
    expect(after.qid.version).toBeGreaterThan(before.qid.version);
    expect(after.dataVersion).toBe(after.qid.version);
    expect(after.mtime).toEqual(after.ctime);
    expect(after.blocks).toBe(1);
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("EFBIG past the maximum file size; empty writes change nothing", async () => {
    expect(await errnoOf(fs.write(f, MAX_FILE_SIZE, bytes(1), false, ctx))).toBe(Errno.EFBIG);
    expect(await errnoOf(fs.write(f, 2 ** 63, bytes(1), false, ctx))).toBe(Errno.EFBIG);
    const v = (await fs.getattr(f, ctx)).qid.version;
    expect(await fs.write(f, 5, new Uint8Array(), false, ctx)).toBe(0);
    expect((await fs.getattr(f, ctx)).qid.version).toBe(v);
  });

  it("a huge sparse write offset stores one chunk", async () => {
    await fs.write(f, 2 ** 40, bytes(3), false, ctx);
    expect(store.debugChunkIndices(f)).toEqual([2 ** 40 / CS]);
    expect((await fs.getattr(f, ctx)).blocks).toBe(1);
    const got = new Uint8Array(8);
    expect(await fs.readInto(f, 2 ** 40 - 5, got, ctx)).toBe(8);
    expect(got).toEqual(Uint8Array.from([0, 0, 0, 0, 0, 1, 2, 3]));
  });

  it("directories and other non-files cannot be read or written", async () => {
    expect(await errnoOf(fs.readInto(ROOT_INO, 0, new Uint8Array(4), ctx))).toBe(Errno.EISDIR);
    expect(await errnoOf(fs.write(ROOT_INO, 0, bytes(4), false, ctx))).toBe(Errno.EISDIR);
    const p = await fs.mknod(ROOT_INO, "p", Mode.IFIFO | 0o644, 0, 0, 0, 0, ctx);
    expect(await errnoOf(fs.write(p.path, 0, bytes(4), false, ctx))).toBe(Errno.EINVAL);
  });
});

describe("quota", () => {
  it("a write that does not fit fails with ENOSPC and leaves the file as it was", async () => {
    const small = new MemoryStore({ chunkSize: CS, quotaBytes: 16384 });
    const sfs = await FileSystem.open(small);
    const g = (await sfs.create(ROOT_INO, "g", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx)).ino;
    await sfs.write(g, 0, bytes(5000), false, ctx);
    expect(await errnoOf(sfs.write(g, 50, bytes(20000), false, ctx))).toBe(Errno.ENOSPC);
    const a = await sfs.getattr(g, ctx);
    expect(a.size).toBe(5000);
    const buf = new Uint8Array(5000);
    await sfs.readInto(g, 0, buf, ctx);
    expect(buf).toEqual(bytes(5000));
    const st = await sfs.statfs(ctx);
    expect(st.bfree).toBeLessThan(st.blocks);
    expect((await sfs.fsck()).ok).toBe(true);
  });
});

describe("truncate", () => {
  it("shrinks: drops chunks past the end and zeroes the tail of the last one", async () => {
    await fs.write(f, 0, new Uint8Array(5 * CS).fill(7), false, ctx);
    await truncate(CS + 5);
    expect(store.debugChunkIndices(f)).toEqual([0, 1]);
    await truncate(4 * CS);
    const all = await read(0, 4 * CS);
    expect(all.subarray(0, CS + 5).every((b) => b === 7)).toBe(true);
    expect(all.subarray(CS + 5).every((b) => b === 0)).toBe(true);
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("grows with a hole, bumping mtime and ctime", async () => {
    await fs.write(f, 0, bytes(4), false, ctx);
    const before = await fs.getattr(f, ctx);
    await truncate(10 * CS);
    const a = await fs.getattr(f, ctx);
    expect(a.size).toBe(10 * CS);
    expect(store.debugChunkIndices(f)).toEqual([0]);
    expect(a.qid.version).toBeGreaterThan(before.qid.version);
    const all = await read(0, 10 * CS);
    expect(all.subarray(0, 4)).toEqual(bytes(4));
    expect(all.subarray(4).every((b) => b === 0)).toBe(true);
  });

  it("keeps chunk counts exact when shrinking sparse files", async () => {
    await fs.write(f, 0, bytes(3), false, ctx);
    await fs.write(f, 5 * CS, bytes(3), false, ctx);
    await fs.write(f, 9 * CS, bytes(3), false, ctx);
    await truncate(6 * CS);
    expect(store.debugChunkIndices(f)).toEqual([0, 5]);
    expect((await fs.fsck()).ok).toBe(true);
    await truncate(2);
    expect(store.debugChunkIndices(f)).toEqual([0]);
    expect(await read(0, 10)).toEqual(bytes(2));
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("to zero frees all chunks", async () => {
    await fs.write(f, 0, bytes(100), false, ctx);
    await truncate(0);
    expect(store.debugChunkIndices(f)).toEqual([]);
    expect((await fs.getattr(f, ctx)).blocks).toBe(0);
  });

  it("EFBIG past the maximum size", async () => {
    expect(await errnoOf(truncate(MAX_FILE_SIZE + 2))).toBe(Errno.EFBIG);
  });
});

/** Record getChunk/putChunk calls on `f` made through the store's transactions. */
function spyChunks(log: unknown[]): { restore(): void } {
  const original = store.transaction.bind(store);
  store.transaction = ((mode, body, options) =>
    original(mode, (tx: StoreTx) => body(wrapTx(tx, log)), options)) as typeof store.transaction;
  return { restore: () => void (store.transaction = original) };
}

function wrapTx(tx: StoreTx, log: unknown[]): StoreTx {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === "getChunk" || prop === "putChunk") {
        return (ino: number, index: number, ...rest: unknown[]) => {
          if (ino === f) log.push(`${prop === "getChunk" ? "get" : "put"}${index}`);
          return (v as (...a: unknown[]) => unknown).call(target, ino, index, ...rest);
        };
      }
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
