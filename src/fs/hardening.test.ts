// Issue 8 items owned by fs/: qid.version wraps to u32 (8.2), fsck of a huge sparse file costs what is stored (8.10),
// writes at offsets no file can reach are an Rlerror (8, "writes at offsets ≥ 2^63").
import { describe, expect, it } from "vitest";
import { encodeMessage } from "../protocol/codec.js";
import { OpenFlags, SetattrMask } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { SetattrRequest } from "../protocol/messages.js";
import { MemoryStore } from "../storage/memory.js";
import type { Store } from "../storage/store.js";
import { rawSession } from "../server/test-harness.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";

const ctx: OpContext = { signal: new AbortController().signal };
const PIB = 2 ** 50;

function sizeTo(size: number): SetattrRequest {
  const t = { sec: 0, nsec: 0 };
  return { valid: SetattrMask.SIZE, mode: 0, uid: 0, gid: 0, size, atime: t, mtime: t };
}

/**
 * The Store interface alone, with the memory store's debug listing hidden:
 * fsck then sees the store as it sees IndexedDB and OPFS. Counts the chunk
 * reads it serves.
 */
function plainStore(inner: MemoryStore): Store & { chunkReads: number } {
  const s = {
    kind: inner.kind,
    chunkSize: inner.chunkSize,
    keepsChunkBuffers: inner.keepsChunkBuffers,
    chunkReads: 0,
    usage: () => inner.usage(),
    close: () => inner.close(),
    transaction: ((mode, body, options) =>
      inner.transaction(mode, (tx) => body(new Proxy(tx, {
        get(target, prop) {
          if (prop === "getChunk") {
            return (ino: number, index: number) => {
              s.chunkReads++;
              return target.getChunk(ino, index);
            };
          }
          const v: unknown = Reflect.get(target, prop);
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      })), options)) as Store["transaction"],
  };
  return s;
}

describe("qid.version wraps to u32 (issue 8.2)", () => {
  it("an inode changed more than 2^32 times still encodes in Rattach, Rwalk and Rgetattr", async () => {
    const store = new MemoryStore();
    const fs = await FileSystem.open(store);
    // Stand-in for 2^32 + 5 changes to the root (a long-lived tree): set the counter directly.
    await store.transaction("readwrite", async (tx) => {
      const root = (await tx.getInode(ROOT_INO))!;
      await tx.putInode({ ...root, version: 2 ** 32 + 5 });
    });
    const fresh = await FileSystem.open(store);
    expect((await fresh.qid(ROOT_INO, ctx)).version).toBe(5);
    const attr = await fresh.getattr(ROOT_INO, ctx);
    expect(attr.qid.version).toBe(5);
    expect(() => encodeMessage({ type: "Rgetattr", tag: 1, attr })).not.toThrow();

    // Through a session: the tree still mounts, and changes keep counting.
    const rs = await rawSession({ fs: fresh });
    rs.send({ type: "Tmkdir", tag: 2, dfid: 0, name: "d", mode: 0o755, gid: 0 });
    expect((await rs.reply(2)).type).toBe("Rmkdir");
    rs.send({ type: "Tgetattr", tag: 3, fid: 0, mask: 0x3fff });
    const r = await rs.reply(3);
    expect(r).toMatchObject({ type: "Rgetattr", attr: { qid: { version: 6 } } });
    void fs;
  });
});

describe("fsck of a huge sparse file (issue 8.10)", () => {
  it("checks a 1 PiB sparse file on a store without a chunk listing, reading only what is stored", async () => {
    const store = plainStore(new MemoryStore({ chunkSize: 4096 }));
    const fs = await FileSystem.open(store);
    const f = await fs.create(ROOT_INO, "big", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    await fs.write(f.ino, 0, new Uint8Array(100).fill(1), false, ctx);
    await fs.write(f.ino, 2 ** 40, new Uint8Array(100).fill(2), false, ctx);
    await fs.setattr(f.ino, sizeTo(PIB), ctx);
    store.chunkReads = 0;
    const report = await fs.fsck();
    expect(report.problems).toEqual([]);
    expect(store.chunkReads).toBeLessThanOrEqual(4);
  });

  it("still finds a wrong chunk count and a chunk past EOF on such a store", async () => {
    const inner = new MemoryStore({ chunkSize: 4096 });
    const store = plainStore(inner);
    const fs = await FileSystem.open(store);
    const f = await fs.create(ROOT_INO, "big", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    await fs.setattr(f.ino, sizeTo(PIB), ctx);
    await inner.transaction("readwrite", async (tx) => {
      await tx.putChunk(f.ino, 7, new Uint8Array(10));
      await tx.putChunk(f.ino, PIB / 4096 + 3, new Uint8Array(10));
    });
    const { problems } = await fs.fsck();
    expect(problems).toContain(`inode ${f.ino} has a chunk past EOF`);
    expect(problems).toContain(`inode ${f.ino} counts 0 chunks, 1 stored`);
  });
});

describe("writes no file can take (issue 8)", () => {
  it("offsets at or past 2^63 and offset+count past the largest size are Rlerror, and the session lives on", async () => {
    const rs = await rawSession();
    rs.send({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    await rs.reply(2);
    rs.send({ type: "Tlcreate", tag: 3, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    expect((await rs.reply(3)).type).toBe("Rlcreate");
    const data = new Uint8Array(16).fill(7);
    const offsets = [2 ** 63, 2 ** 64 - 1, 2 ** 63 - 1, 2 ** 53 - 8];
    for (const [i, offset] of offsets.entries()) {
      rs.send({ type: "Twrite", tag: 10 + i, fid: 1, offset, data });
      expect(await rs.reply(10 + i)).toMatchObject({ type: "Rlerror", ecode: Errno.EFBIG });
    }
    rs.send({ type: "Tgetattr", tag: 20, fid: 1, mask: 0x3fff });
    expect(await rs.reply(20)).toMatchObject({ type: "Rgetattr", attr: { size: 0 } });
    expect(rs.events.filter((e) => e.kind === "close")).toEqual([]);
  });

  it("an xattr fid written at a huge offset is EINVAL, not a crash", async () => {
    const rs = await rawSession();
    rs.send({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    await rs.reply(2);
    rs.send({ type: "Txattrcreate", tag: 3, fid: 1, name: "user.x", size: 8, flags: 0 });
    expect((await rs.reply(3)).type).toBe("Rxattrcreate");
    for (const [i, offset] of [2 ** 63, 2 ** 64 - 1, 2 ** 53].entries()) {
      rs.send({ type: "Twrite", tag: 4 + i, fid: 1, offset, data: new Uint8Array(4) });
      expect(await rs.reply(4 + i)).toMatchObject({ type: "Rlerror", ecode: Errno.EINVAL });
    }
  });
});
