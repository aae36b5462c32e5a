import { randomBytes } from "node:crypto";
import * as nodefs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ROOT_INO } from "../../fs/constants.js";
import { FileSystem } from "../../fs/filesystem.js";
import { errnoOf } from "../../fs/test-helpers.js";
import type { OpContext } from "../../fs/types.js";
import { OpenFlags } from "../../protocol/constants.js";
import { Errno } from "../../protocol/errno.js";
import type { ImageCache } from "../image/cache.js";
import { BaseImage } from "../image/reader.js";
import { serveImageDir, type ImageTestServer } from "../image/test-server.js";
import { writeImage } from "../image/writer.js";
import { MemoryStore } from "../memory.js";
import { LayeredStore } from "./layered-store.js";

// C1 in layered-store.ts: the base cache and the user's layer share one quota (as IndexedDB and
// OPFS share an origin's); a user's write that finds it full makes the cache give way.
const ctx: OpContext = { signal: new AbortController().signal };
const BASE_BYTES = 400_000;

/** A memory cache whose bytes count against the shared quota, and which gives room back oldest first. */
class SharedQuotaCache implements ImageCache {
  private readonly entries = new Map<string, Uint8Array>();
  bytes = 0;
  madeRoom = 0;
  private yielded = false;
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.entries.get(key);
  }
  async put(key: string, data: Uint8Array): Promise<void> {
    if (this.yielded || this.entries.has(key)) return;
    this.entries.set(key, data);
    this.bytes += data.length;
  }
  async keys(): Promise<string[]> {
    return [...this.entries.keys()];
  }
  async clear(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
  }
  async makeRoom(bytes: number): Promise<number> {
    this.madeRoom++;
    this.yielded = true;
    let freed = 0;
    for (const [key, data] of this.entries) {
      if (freed >= bytes) break;
      this.entries.delete(key);
      freed += data.length;
    }
    this.bytes -= freed;
    return freed;
  }
}

let src: string;
let out: string;
let server: ImageTestServer;

beforeAll(async () => {
  src = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-lquota-src-"));
  out = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-lquota-img-"));
  // Incompressible: the cache holds about as many bytes as the base file has.
  nodefs.writeFileSync(path.join(src, "data"), randomBytes(BASE_BYTES));
  await writeImage(src, out, { pieceSize: 16384 });
  server = await serveImageDir(out);
});
afterAll(async () => {
  await server.close();
  nodefs.rmSync(src, { recursive: true, force: true });
  nodefs.rmSync(out, { recursive: true, force: true });
});

let cache: SharedQuotaCache;
let upper: MemoryStore;
let fs: FileSystem;
let image: BaseImage;
/** The origin's quota: what the user's layer may use is what the cache leaves. */
let originQuota = Infinity;

beforeEach(async () => {
  cache = new SharedQuotaCache();
  upper = new MemoryStore({ chunkSize: 4096 });
  originQuota = Infinity;
  Object.defineProperty(upper, "quotaBytes", { get: () => originQuota - cache.bytes });
  image = await BaseImage.open(server.url, { cache });
  fs = await FileSystem.open(await LayeredStore.open(upper, image));
});

async function readBase(): Promise<void> {
  const w = await fs.walk(ROOT_INO, ["data"], ctx);
  const buf = new Uint8Array(BASE_BYTES);
  expect(await fs.readInto(w.ino, 0, buf, ctx)).toBe(BASE_BYTES);
}

async function createFile(name: string, bytes: number): Promise<number> {
  const { ino } = await fs.create(ROOT_INO, name, OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
  await fs.write(ino, 0, new Uint8Array(bytes).fill(7), false, ctx);
  return ino;
}

describe("a user's layer over a base image, sharing one quota with the base cache", () => {
  it("a write that finds the quota full of cached base data evicts the cache and succeeds; the user's files stay", async () => {
    const mine = await createFile("mine-1", 20_000);
    await readBase();
    await image.settled();
    expect(cache.bytes).toBeGreaterThan(BASE_BYTES / 2);
    // Full: room for the layer as it is and a little more, not for another 100 kB file.
    originQuota = (await upper.usage()).used + cache.bytes + 10_000;
    const second = await createFile("mine-2", 100_000);
    expect(cache.madeRoom).toBeGreaterThan(0);
    expect(cache.bytes).toBeLessThan(BASE_BYTES / 2);
    const back = new Uint8Array(100_000);
    expect(await fs.readInto(second, 0, back, ctx)).toBe(100_000);
    expect(back.every((b) => b === 7)).toBe(true);
    const first = new Uint8Array(20_000);
    expect(await fs.readInto(mine, 0, first, ctx)).toBe(20_000);
    // The base still reads (from the network or memory), and the tree is sound.
    await readBase();
    expect((await fs.fsck()).problems).toEqual([]);
  });

  it("when the cache has nothing to give, the user's write fails with ENOSPC and leaves no trace", async () => {
    const used = (await upper.usage()).used;
    originQuota = used + 10_000;
    const { ino } = await fs.create(ROOT_INO, "big", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx).catch(() => ({ ino: 0 }));
    expect(ino).not.toBe(0);
    expect(await errnoOf(fs.write(ino, 0, new Uint8Array(100_000), false, ctx))).toBe(Errno.ENOSPC);
    expect((await fs.getattr(ino, ctx)).size).toBe(0);
    expect((await fs.fsck()).problems).toEqual([]);
  });
});
