import { randomBytes } from "node:crypto";
import * as nodefs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ROOT_INO } from "../../fs/constants.js";
import { FileSystem } from "../../fs/filesystem.js";
import type { OpContext } from "../../fs/types.js";
import { OpenFlags } from "../../protocol/constants.js";
import { MemoryImageCache } from "../image/cache.js";
import { BaseImage } from "../image/reader.js";
import { serveImageDir, type ImageTestServer } from "../image/test-server.js";
import { writeImage } from "../image/writer.js";
import { MemoryStore } from "../memory.js";
import { assertNotALayer, LayeredStore } from "./layered-store.js";

// A user's layer made over one base image, opened over a newer one built into
// the same folder: the user's layer wins, untouched files follow the new base.
const ctx: OpContext = { signal: new AbortController().signal };
let src: string;
let out: string;
let server: ImageTestServer;
beforeAll(async () => {
  src = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-rebase-src-"));
  out = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-rebase-img-"));
  server = await serveImageDir(out);
});
afterAll(async () => {
  await server.close();
  nodefs.rmSync(src, { recursive: true, force: true });
  nodefs.rmSync(out, { recursive: true, force: true });
});

function put(p: string, data: string | Buffer): void {
  nodefs.mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
  nodefs.writeFileSync(path.join(src, p), data);
}

it("a newer base keeps the user's changes; untouched files show the new base", async () => {
  const toolV1 = randomBytes(20_000);
  put("etc/motd", "motd v1\n");
  put("etc/keep", "keep v1\n");
  put("etc/gone", "gone\n");
  put("etc/d1/x", "x");
  put("usr/bin/tool", toolV1);
  await writeImage(src, out, { pieceSize: 8192 });

  const cache = new MemoryImageCache();
  const upper = new MemoryStore({ chunkSize: 4096 });
  let fs = await FileSystem.open(await LayeredStore.open(upper, await BaseImage.open(server.url, { cache })));
  const walk = async (p: string): Promise<number> => {
    const parts = p.split("/").filter(Boolean);
    const w = await fs.walk(ROOT_INO, parts, ctx);
    return w.qids.length === parts.length ? w.ino : -1;
  };
  const read = async (p: string): Promise<Buffer> => {
    const ino = await walk(p);
    const buf = new Uint8Array((await fs.getattr(ino, ctx)).size);
    return Buffer.from(buf.subarray(0, await fs.readInto(ino, 0, buf, ctx)));
  };
  const toolIno = await walk("usr/bin/tool");
  expect((await read("usr/bin/tool")).equals(toolV1)).toBe(true);
  await fs.write(await walk("etc/motd"), 0, Buffer.from("mine\n"), false, ctx);
  await fs.setattr(await walk("etc/motd"), { valid: 8, mode: 0, uid: 0, gid: 0, size: 5, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 } }, ctx);
  await fs.write(toolIno, 5000, Buffer.from("PATCH"), false, ctx);
  await fs.unlink(await walk("etc"), "gone", 0, ctx);
  const created = await fs.create(await walk("etc"), "new", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
  await fs.write(created.ino, 0, Buffer.from("user's\n"), false, ctx);

  // The newer base: every file changed, one added, a directory added.
  put("etc/motd", "motd v2, longer\n");
  put("etc/keep", "keep v2\n");
  put("etc/gone", "gone v2\n");
  put("etc/added", "added\n");
  put("etc/d2/y", "y");
  put("usr/bin/tool", randomBytes(30_000));
  await writeImage(src, out, { pieceSize: 8192 });

  const logged: string[] = [];
  fs = await FileSystem.open(await LayeredStore.open(upper, await BaseImage.open(server.url, { cache }), { log: (m) => logged.push(m) }));
  expect((await read("etc/motd")).toString()).toBe("mine\n");
  const want = Buffer.from(toolV1);
  want.write("PATCH", 5000);
  expect(await walk("usr/bin/tool")).toBe(toolIno);
  expect((await read("usr/bin/tool")).equals(want)).toBe(true);
  expect((await read("etc/keep")).toString()).toBe("keep v2\n");
  expect(await walk("etc/gone")).toBe(-1);
  expect((await read("etc/added")).toString()).toBe("added\n");
  expect((await read("etc/new")).toString()).toBe("user's\n");
  expect((await read("etc/d2/y")).toString()).toBe("y");
  expect(logged.join("\n")).toMatch(/kept 2 changed files/);
  expect((await fs.fsck()).problems).toEqual([]);
});

it("a tree made without a base image is refused as a layer over one (a busybox home is no Debian root)", async () => {
  put("etc/motd", "base\n");
  await writeImage(src, out, { pieceSize: 8192 });
  const upper = new MemoryStore({ chunkSize: 4096 });
  const plain = await FileSystem.open(upper);
  await plain.create(ROOT_INO, "notes.txt", OpenFlags.RDWR, 0o644, 0, 0, ctx);
  const image = await BaseImage.open(server.url, { cache: new MemoryImageCache() });
  await expect(LayeredStore.open(upper, image)).rejects.toThrow(/made without a base image/);
});

it("a user's layer is refused as a plain tree (without its base it is dangling references)", async () => {
  put("etc/motd", "base\n");
  await writeImage(src, out, { pieceSize: 8192 });
  const upper = new MemoryStore({ chunkSize: 4096 });
  await FileSystem.open(await LayeredStore.open(upper, await BaseImage.open(server.url, { cache: new MemoryImageCache() })));
  await expect(assertNotALayer(upper)).rejects.toThrow(/layer over a base image/);
  await expect(assertNotALayer(new MemoryStore())).resolves.toBeUndefined();
});
