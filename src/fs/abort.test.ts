import { describe, expect, it } from "vitest";
import { OpenFlags, SetattrMask } from "../protocol/constants.js";
import { isAbortError } from "../protocol/errno.js";
import { MemoryStore } from "../storage/memory.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import { latencyFor, STUCK_MS } from "./latency.js";
import type { OpContext } from "./types.js";

const R = ROOT_INO;
const live: OpContext = { signal: new AbortController().signal };

async function setup(latencyMs = 0): Promise<{ store: MemoryStore; fs: FileSystem; f: number }> {
  const store = new MemoryStore({ chunkSize: 16 });
  const fs = await FileSystem.open(store, { latencyMs });
  const f = (await fs.create(R, "slowfile", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, live)).ino;
  await fs.write(f, 0, new Uint8Array([1, 2, 3]), false, live);
  return { store, fs, f };
}

function aborted(): OpContext {
  const ac = new AbortController();
  ac.abort();
  return { signal: ac.signal, name: "x" };
}

describe("aborted operations have no effect", () => {
  it("every mutating op rejects with AbortError and changes nothing", async () => {
    const { store, fs, f } = await setup();
    const before = store.debugStats();
    const attr = await fs.getattr(f, live);
    const c = aborted();
    const ops: Promise<unknown>[] = [
      fs.mkdir(R, "d", 0o755, 0, 0, c),
      fs.create(R, "n", OpenFlags.CREAT, 0o644, 0, 0, c),
      fs.write(f, 0, new Uint8Array([9]), false, c),
      fs.setattr(f, { valid: SetattrMask.SIZE, mode: 0, uid: 0, gid: 0, size: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }, c),
      fs.unlink(R, "slowfile", 0, c),
      fs.rename(R, "slowfile", R, "other", c),
      fs.link(R, "l", f, c),
      fs.symlink(R, "s", "t", 0, 0, c),
      fs.setxattr(f, "user.x", new Uint8Array([1]), 0, c),
      fs.open(f, OpenFlags.WRONLY | OpenFlags.TRUNC, c),
      fs.readdir(R, 0, 10, c),
      fs.fsync(f, c),
    ];
    for (const p of ops) await expect(p).rejects.toSatisfy(isAbortError);
    expect(store.debugStats()).toEqual(before);
    expect(await fs.getattr(f, live)).toEqual(attr);
  });
});

describe("latency injection", () => {
  it("is off by default, takes latencyMs for slow* names and waits until aborted for stuck* names", () => {
    const at = (latencyMs: number, name?: string) => latencyFor(latencyMs, { signal: live.signal, name });
    expect([at(200, "fast"), at(200), at(0, "slowfile"), at(0, "stuckfile")]).toEqual([0, 0, 0, 0]);
    expect(at(200, "slowfile")).toBe(200);
    expect(at(200, "stuckfile")).toBe(STUCK_MS);
  });

  it("delays reads and writes of slow* files", async () => {
    const { fs, f } = await setup(60);
    const t0 = performance.now();
    await fs.write(f, 0, new Uint8Array([7]), false, { signal: live.signal, name: "slowfile" });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    const buf = new Uint8Array(1);
    await fs.readInto(f, 0, buf, { signal: live.signal, name: "slowfile" });
    expect(buf[0]).toBe(7);
  });

  // A stuck* request ends only by its abort: that it ends at all is the check, with no clock in it.
  it("an aborted stuck write rejects and leaves the file unchanged", async () => {
    const { fs, f } = await setup(10);
    const ac = new AbortController();
    const p = fs.write(f, 0, new Uint8Array([9, 9, 9, 9]), false, { signal: ac.signal, name: "stuckfile" });
    await Promise.resolve();
    ac.abort();
    await expect(p).rejects.toSatisfy(isAbortError);
    const buf = new Uint8Array(4);
    expect(await fs.readInto(f, 0, buf, live)).toBe(3);
    expect(buf.subarray(0, 3)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it("an aborted stuck read rejects", async () => {
    const { fs, f } = await setup(10);
    const ac = new AbortController();
    const p = fs.readInto(f, 0, new Uint8Array(3), { signal: ac.signal, name: "stuckfile" });
    await Promise.resolve();
    ac.abort();
    await expect(p).rejects.toSatisfy(isAbortError);
  });
});
