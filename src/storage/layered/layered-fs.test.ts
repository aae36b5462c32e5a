import * as nodefs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ROOT_INO } from "../../fs/constants.js";
import { FileSystem } from "../../fs/filesystem.js";
import { errnoOf } from "../../fs/test-helpers.js";
import type { OpContext } from "../../fs/types.js";
import { AT_REMOVEDIR, OpenFlags } from "../../protocol/constants.js";
import { Errno, FsError } from "../../protocol/errno.js";
import { MemoryImageCache } from "../image/cache.js";
import { BaseImage } from "../image/reader.js";
import { serveImageDir, type ImageTestServer } from "../image/test-server.js";
import { writeImage } from "../image/writer.js";
import { MemoryStore } from "../memory.js";
import type { Store, StoreTx } from "../store.js";
import { firstUserIno, LayeredStore } from "./layered-store.js";

// The merged tree through the file system: a small base image served over
// HTTP, the user's layer in a MemoryStore.
const ctx: OpContext = { signal: new AbortController().signal };
const R = ROOT_INO;
const big = Buffer.alloc(300_000);
for (let i = 0; i < big.length; i++) big[i] = (i * 7919 + (i >> 9)) % 251;

let src: string;
let out: string;
let server: ImageTestServer;

beforeAll(async () => {
  src = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-layer-src-"));
  out = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-layer-img-"));
  const w = (p: string, data: string | Buffer): void => {
    nodefs.mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
    nodefs.writeFileSync(path.join(src, p), data);
  };
  w("etc/motd", "welcome to the base\n");
  w("etc/conf/a.conf", "a=1\n");
  w("etc/conf/b.conf", "b=2\n");
  w("usr/bin/yes", "#!/bin/sh\nwhile :; do echo y; done\n");
  w("usr/bin/big", big);
  nodefs.linkSync(path.join(src, "usr/bin/big"), path.join(src, "usr/bin/big2"));
  w("usr/share/doc/x/readme", "read me\n");
  nodefs.mkdirSync(path.join(src, "root"));
  nodefs.symlinkSync("etc/motd", path.join(src, "lnk"));
  nodefs.chmodSync(path.join(src, "usr/bin/yes"), 0o755);
  // Pieces smaller than the store's chunks, not dividing them: chunks are assembled from several pieces.
  const xattrs = [{ path: "/usr/bin/yes", name: "security.capability", value: Uint8Array.from([1, 0, 0, 2]) }];
  await writeImage(src, out, { pieceSize: 3000, xattrs });
  server = await serveImageDir(out);
});
afterAll(async () => {
  await server.close();
  nodefs.rmSync(src, { recursive: true, force: true });
  nodefs.rmSync(out, { recursive: true, force: true });
});

let cache: MemoryImageCache;
let upper: MemoryStore;
/** Run the suite again over a user's store offering readChunkInto (as OPFS does). */
let intoReads = false;

/** `store`, its transactions offering readChunkInto (built on getChunk). */
function withReadChunkInto(store: Store): Store {
  return {
    kind: store.kind, chunkSize: store.chunkSize, keepsChunkBuffers: store.keepsChunkBuffers,
    usage: () => store.usage(),
    close: () => store.close(),
    transaction: (mode, body, options) =>
      store.transaction(mode, (tx) => {
        // Every method bound to the real transaction (it keeps state in its own fields).
        const wrapped = new Proxy(tx, {
          get: (t, key) => {
            const v = Reflect.get(t, key, t) as unknown;
            return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
          },
        }) as StoreTx & { readChunkInto: NonNullable<StoreTx["readChunkInto"]> };
        wrapped.readChunkInto = async (ino, index, within, dest) => {
          const c = await tx.getChunk(ino, index);
          if (!c) return undefined;
          const part = c.subarray(Math.min(within, c.length), Math.min(c.length, within + dest.length));
          dest.set(part);
          return part.length;
        };
        return body(wrapped);
      }, options),
  };
}
let image: BaseImage;
let fs: FileSystem;

async function mount(): Promise<void> {
  image = await BaseImage.open(server.url, { cache });
  fs = await FileSystem.open(await LayeredStore.open(intoReads ? withReadChunkInto(upper) : upper, image));
}

beforeEach(async () => {
  cache = new MemoryImageCache();
  upper = new MemoryStore({ chunkSize: 4096 });
  await mount();
});

async function lookup(p: string): Promise<number> {
  const parts = p.split("/").filter(Boolean);
  const w = await fs.walk(R, parts, ctx);
  if (w.qids.length < parts.length) throw new FsError(Errno.ENOENT, p);
  return w.ino;
}
const names = async (p: string): Promise<string[]> => (await fs.readdir(await lookup(p), 2, 1000, ctx)).map((e) => e.name);
async function read(p: string): Promise<Buffer> {
  const ino = await lookup(p);
  const size = (await fs.getattr(ino, ctx)).size;
  const buf = new Uint8Array(size);
  const n = await fs.readInto(ino, 0, buf, ctx);
  return Buffer.from(buf.subarray(0, n));
}
async function write(p: string, offset: number, data: string | Buffer): Promise<void> {
  await fs.write(await lookup(p), offset, typeof data === "string" ? Buffer.from(data) : data, false, ctx);
}
async function create(dir: string, name: string, data: string): Promise<number> {
  const { ino } = await fs.create(await lookup(dir), name, OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
  await fs.write(ino, 0, Buffer.from(data), false, ctx);
  return ino;
}
async function expectClean(): Promise<void> {
  expect((await fs.fsck()).problems).toEqual([]);
}

describe.each([false, true])("layered store (user's store with readChunkInto: %s)", (into) => {
beforeEach(() => {
  intoReads = into;
});

describe("reading the base", () => {
  it("shows the base tree: names, contents, modes, links", async () => {
    expect(await names("/")).toEqual(expect.arrayContaining(["etc", "usr", "root", "lnk"]));
    expect((await read("etc/motd")).toString()).toBe("welcome to the base\n");
    expect((await read("usr/bin/big")).equals(big)).toBe(true);
    expect((await fs.getattr(await lookup("usr/bin/yes"), ctx)).mode).toBe(0o100755);
    expect(await fs.readlink(await lookup("lnk"), ctx)).toBe("etc/motd");
    expect(await lookup("usr/bin/big2")).toBe(await lookup("usr/bin/big"));
    expect((await fs.getattr(await lookup("usr/bin/big"), ctx)).nlink).toBe(2);
    await expectClean();
  });

  it("fetches lazily: reading one small file fetches a small part of the image", async () => {
    const before = image.stats.fetchedBytes;
    await read("etc/motd");
    expect(image.stats.requests).toBeGreaterThan(0);
    expect(image.stats.fetchedBytes - before).toBeLessThan(image.manifest.storedBytes / 4);
  });

  it("a second mount over the same cache fetches nothing", async () => {
    await read("usr/bin/big");
    await image.settled();
    await mount();
    expect((await read("usr/bin/big")).equals(big)).toBe(true);
    expect(image.stats.requests).toBe(0);
    expect(image.stats.cacheHits).toBeGreaterThan(0);
  });

  it("numbers new inodes above the base's", async () => {
    expect(await create("/", "new", "x")).toBe(firstUserIno(image.index.inodes.length));
  });
});

describe("the user's layer", () => {
  it("copies up on write without copying a large file's untouched chunks", async () => {
    const ino = await lookup("usr/bin/big");
    await write("usr/bin/big", 200_000, "PATCH");
    const want = Buffer.from(big);
    want.write("PATCH", 200_000);
    expect((await read("usr/bin/big")).equals(want)).toBe(true);
    expect((await read("usr/bin/big2")).equals(want)).toBe(true);
    expect(upper.debugChunkIndices(ino)).toHaveLength(1);
    await expectClean();
    await mount();
    expect(await lookup("usr/bin/big")).toBe(ino);
    expect((await read("usr/bin/big")).equals(want)).toBe(true);
    await expectClean();
  });

  it("truncates and extends a base file: zeros past the cut, the base's bytes gone", async () => {
    const ino = await lookup("usr/bin/big");
    await fs.setattr(ino, { valid: 8, mode: 0, uid: 0, gid: 0, size: 5000, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }, ctx);
    await fs.setattr(ino, { valid: 8, mode: 0, uid: 0, gid: 0, size: 20000, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }, ctx);
    const got = await read("usr/bin/big");
    expect(got.subarray(0, 5000).equals(big.subarray(0, 5000))).toBe(true);
    expect(got.subarray(5000).every((b) => b === 0)).toBe(true);
    await expectClean();
  });

  it("whiteouts: a deleted base file stays deleted across a reload", async () => {
    await fs.unlink(await lookup("usr/bin"), "yes", 0, ctx);
    expect(await errnoOf(lookup("usr/bin/yes"))).toBe(Errno.ENOENT);
    expect(await names("usr/bin")).toEqual(["big", "big2"]);
    await expectClean();
    await mount();
    expect(await names("usr/bin")).toEqual(["big", "big2"]);
    await create("usr/bin", "yes", "mine");
    expect((await read("usr/bin/yes")).toString()).toBe("mine");
    await expectClean();
  });

  it("opaque directories: a base directory removed and made again is empty", async () => {
    await fs.unlink(await lookup("usr/share/doc/x"), "readme", 0, ctx);
    await fs.unlink(await lookup("usr/share/doc"), "x", AT_REMOVEDIR, ctx);
    await fs.mkdir(await lookup("usr/share/doc"), "x", 0o755, 0, 0, ctx);
    expect(await names("usr/share/doc/x")).toEqual([]);
    expect(await errnoOf(fs.unlink(await lookup("/"), "etc", AT_REMOVEDIR, ctx))).toBe(Errno.ENOTEMPTY);
    await expectClean();
  });

  it("renames across layers: base into user, user over base, a base directory moved", async () => {
    await fs.mkdir(R, "home", 0o755, 0, 0, ctx);
    await fs.rename(await lookup("etc"), "motd", await lookup("home"), "motd", ctx);
    expect((await read("home/motd")).toString()).toBe("welcome to the base\n");
    expect(await errnoOf(lookup("etc/motd"))).toBe(Errno.ENOENT);
    await create("home", "new.conf", "a=42\n");
    await fs.rename(await lookup("home"), "new.conf", await lookup("etc/conf"), "a.conf", ctx);
    expect(await names("etc/conf")).toEqual(["b.conf", "a.conf"]);
    expect((await read("etc/conf/a.conf")).toString()).toBe("a=42\n");
    await fs.rename(await lookup("etc"), "conf", R, "conf2", ctx);
    expect((await read("conf2/b.conf")).toString()).toBe("b=2\n");
    expect((await fs.walk(await lookup("conf2"), [".."], ctx)).ino).toBe(R);
    await expectClean();
    await mount();
    expect(await names("etc")).toEqual([]);
    expect((await read("conf2/a.conf")).toString()).toBe("a=42\n");
    await expectClean();
  });

  it("hard links: linking and unlinking base files counts right", async () => {
    const ino = await lookup("usr/bin/big");
    await fs.link(await lookup("root"), "big3", ino, ctx);
    expect((await fs.getattr(ino, ctx)).nlink).toBe(3);
    await fs.unlink(await lookup("usr/bin"), "big2", 0, ctx);
    await fs.unlink(await lookup("usr/bin"), "big", 0, ctx);
    expect((await fs.getattr(ino, ctx)).nlink).toBe(1);
    expect((await read("root/big3")).equals(big)).toBe(true);
    await expectClean();
  });

  it("xattrs: the base's (file capabilities) read, changed and removed in the user's layer", async () => {
    const ino = await lookup("usr/bin/yes");
    expect(Buffer.from(await fs.getxattr(ino, "security.capability", ctx)).toString("hex")).toBe("01000002");
    await fs.setxattr(ino, "user.tag", Buffer.from("t"), 0, ctx);
    expect(Buffer.from(await fs.getxattr(ino, "user.tag", ctx)).toString()).toBe("t");
    expect(Buffer.from(await fs.getxattr(ino, "security.capability", ctx)).toString("hex")).toBe("01000002");
    await fs.setxattr(ino, "security.capability", null, 0, ctx);
    await fs.setxattr(ino, "user.tag", null, 0, ctx);
    await mount();
    expect(await errnoOf(fs.getxattr(ino, "security.capability", ctx))).toBe(Errno.ENODATA);
    await expectClean();
  });

  it("reset drops the user's layer, not the cached base", async () => {
    await write("etc/motd", 0, "CHANGED");
    await fs.unlink(await lookup("usr/bin"), "yes", 0, ctx);
    await read("usr/bin/big");
    await image.settled();
    upper = new MemoryStore({ chunkSize: 4096 });
    await mount();
    expect((await read("etc/motd")).toString()).toBe("welcome to the base\n");
    expect(await names("usr/bin")).toEqual(["big", "big2", "yes"]);
    expect((await read("usr/bin/big")).equals(big)).toBe(true);
    expect(image.stats.requests).toBe(0);
    await expectClean();
  });
});
});
