import { describe, expect, it } from "vitest";
import { AT_REMOVEDIR, OpenFlags, SetattrMask } from "../protocol/constants.js";
import { FsError } from "../protocol/errno.js";
import { MemoryStore } from "../storage/memory.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import type { OpContext } from "./types.js";

const ctx: OpContext = { signal: new AbortController().signal };
const R = ROOT_INO;
const CS = 8;

/** Small deterministic PRNG so a failure can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** File contents as the model expects them, by inode. */
type Model = Map<number, Uint8Array>;

function modelWrite(m: Model, ino: number, at: number, data: Uint8Array): void {
  if (data.length === 0) return; // write(2) of nothing does not move EOF
  const old = m.get(ino) ?? new Uint8Array();
  const next = new Uint8Array(Math.max(old.length, at + data.length));
  next.set(old);
  next.set(data, at);
  m.set(ino, next);
}

function modelTruncate(m: Model, ino: number, size: number): void {
  const old = m.get(ino) ?? new Uint8Array();
  const next = new Uint8Array(size);
  next.set(old.subarray(0, size));
  m.set(ino, next);
}

async function randomOps(seed: number, count: number): Promise<void> {
  const rnd = mulberry32(seed);
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const store = new MemoryStore({ chunkSize: CS });
  const fs = await FileSystem.open(store);
  const dirs = [R];
  const files: number[] = [];
  const held: number[] = [];
  const model: Model = new Map();
  const names = ["a", "b", "c", "d", "e"];

  const ops: (() => Promise<unknown>)[] = [
    async () => {
      const r = await fs.create(pick(dirs), pick(names), OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
      await fs.release(r.ino);
      if (!model.has(r.ino)) model.set(r.ino, new Uint8Array());
      files.push(r.ino);
    },
    async () => dirs.push((await fs.mkdir(pick(dirs), pick(names), 0o755, 0, 0, ctx)).path),
    async () => {
      const f = pick(files);
      const at = Math.floor(rnd() * 5 * CS);
      const data = Uint8Array.from({ length: Math.floor(rnd() * 3 * CS) }, () => 1 + Math.floor(rnd() * 255));
      const append = rnd() < 0.2;
      const size = (model.get(f) ?? new Uint8Array()).length;
      await fs.write(f, at, data, append, ctx);
      modelWrite(model, f, append ? size : at, data);
    },
    async () => {
      const f = pick(files);
      const size = Math.floor(rnd() * 6 * CS);
      await fs.setattr(f, { valid: SetattrMask.SIZE, mode: 0, uid: 0, gid: 0, size, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }, ctx);
      modelTruncate(model, f, size);
    },
    () => fs.unlink(pick(dirs), pick(names), 0, ctx),
    () => fs.unlink(pick(dirs), pick(names), AT_REMOVEDIR, ctx),
    () => fs.rename(pick(dirs), pick(names), pick(dirs), pick(names), ctx),
    () => fs.link(pick(dirs), pick(names), pick(files), ctx),
    () => fs.symlink(pick(dirs), pick(names), "target", 0, 0, ctx),
    () => fs.setxattr(pick(files), `user.${pick(names)}`, rnd() < 0.3 ? null : new Uint8Array(3), 0, ctx),
    async () => {
      const f = pick(files);
      fs.retain(f);
      held.push(f);
    },
    async () => {
      if (held.length > 0) await fs.release(held.splice(Math.floor(rnd() * held.length), 1)[0]!);
    },
  ];

  await fs.create(R, "a", OpenFlags.CREAT, 0o644, 0, 0, ctx).then((r) => files.push(r.ino));
  await fs.release(files[0]!);
  model.set(files[0]!, new Uint8Array());
  for (let i = 0; i < count; i++) {
    try {
      await pick(ops)();
    } catch (e) {
      if (!(e instanceof FsError)) throw e;
    }
    if (i % 100 === 99) expect((await fs.fsck()).problems, `seed ${seed} op ${i}`).toEqual([]);
  }
  expect((await fs.fsck()).problems, `seed ${seed}`).toEqual([]);
  expect(store.debugStats().used).toBe(store.debugRecount());
  // Every file that still exists holds what the model says.
  for (const [ino, want] of model) {
    const attr = await fs.getattr(ino, ctx).catch(() => undefined);
    if (!attr || attr.qid.type !== 0) continue; // gone, or create opened an existing symlink/dir
    const got = new Uint8Array(want.length + 4);
    const n = await fs.readInto(ino, 0, got, ctx);
    expect(n, `seed ${seed} ino ${ino} size`).toBe(want.length);
    expect(got.subarray(0, n), `seed ${seed} ino ${ino}`).toEqual(want);
  }
  // Releasing everything leaves no orphans and no leaked inodes.
  for (const f of held) await fs.release(f);
  const report = await fs.fsck();
  expect(report.problems).toEqual([]);
  const orphans = await store.transaction("readonly", (tx) => tx.getMeta<number[]>("orphans"));
  expect(orphans).toEqual([]);
}

describe("fsck", () => {
  it("is clean on a fresh file system", async () => {
    const fs = await FileSystem.open(new MemoryStore());
    expect(await fs.fsck()).toEqual({ ok: true, problems: [] });
  });

  it("stays clean through random operation sequences, with contents matching a model", async () => {
    for (let seed = 1; seed <= 12; seed++) await randomOps(seed, 400);
  });

  it("finds dangling entries, wrong link counts, unreachable inodes and stray chunks", async () => {
    const store = new MemoryStore({ chunkSize: CS });
    const fs = await FileSystem.open(store);
    const f = (await fs.create(R, "f", OpenFlags.CREAT, 0o644, 0, 0, ctx)).ino;
    const d = (await fs.mkdir(R, "d", 0o755, 0, 0, ctx)).path;
    await store.transaction("readwrite", async (tx) => {
      await tx.putEntry({ dir: R, name: "ghost", ino: 999, cookie: 5, dtype: 8 });
      await tx.putInode({ ...(await tx.getInode(f))!, nlink: 3 });
      await tx.putChunk(f, 4, new Uint8Array(2)); // past EOF of an empty file
      await tx.putChunk(777, 0, new Uint8Array(2)); // data of no inode
      await tx.deleteEntry(R, "d"); // d becomes unreachable
      await tx.putInode({ ...(await tx.getInode(R))!, nextCookie: 6 });
    });
    const r = await fs.fsck();
    expect(r.ok).toBe(false);
    const text = r.problems.join("\n");
    expect(text).toMatch(/missing inode 999/);
    expect(text).toMatch(new RegExp(`inode ${f} nlink 3, expected 1`));
    expect(text).toMatch(new RegExp(`inode ${f} has a chunk past EOF`));
    expect(text).toMatch(new RegExp(`inode ${d} is unreachable`));
    expect(text).toMatch(/chunks stored for inode 777/);
    expect(text).toMatch(/inode 1 nlink 3, expected 2/);
  });
});
