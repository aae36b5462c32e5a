/**
 * The workspace's guest files as `npm start` serves them (scripts/workspace/guest-files.ts), with
 * a stand-in image source so nothing is built: the index names the default, descriptors and files
 * come back as bytes, and a base image's files answer Range requests as the page's reader needs
 * (206 + Content-Range, 416 past the end), never escaping the image's folder.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { guestMiddleware, parseRange, type ImageSource } from "../scripts/workspace/guest-files.js";

let dir: string;
let server: http.Server;
let base: string;
let v86Made = 0;
const PACK = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-guestfiles-"));
  fs.mkdirSync(path.join(dir, "base"));
  fs.writeFileSync(path.join(dir, "base", "pack-abc.bin"), PACK);
  fs.writeFileSync(path.join(dir, "base", "image.json"), '{"version":1}');
  fs.writeFileSync(path.join(dir, "secret"), "not served");
  fs.mkdirSync(path.join(dir, "v86", "blobs"), { recursive: true });
  fs.writeFileSync(path.join(dir, "v86", "fs.json"), '{"version":3}');
  fs.writeFileSync(path.join(dir, "v86", "blobs", "0123abcd.bin"), "blob bytes");
  const rooted: ImageSource = async () => ({
    descriptor: {
      name: "rooted", title: "t", bios: "bios.bin", vgaBios: "v", kernel: "k", initrd: [], cmdline: "", memoryMb: 64,
      home: "/root", base: "base/", tree: "rooted", homeInTree: "root",
    },
    files: { "bios.bin": new Uint8Array([1, 2, 3]) },
    baseDir: path.join(dir, "base"),
    v86Dir: async () => {
      v86Made++;
      return path.join(dir, "v86");
    },
  });
  const flat: ImageSource = async () => ({
    descriptor: { name: "flat", title: "t", bios: "b", vgaBios: "v", kernel: "k", initrd: [], cmdline: "", memoryMb: 64, home: "/root", tree: "home", homeInTree: "" },
    files: {},
  });
  const handle = guestMiddleware({ images: { flat, rooted }, default: "rooted", log: () => {} });
  server = http.createServer((req, res) => handle(req, res, () => res.writeHead(418).end()));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/__guest/`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("guest files", () => {
  test("the index names the default image; a descriptor says where its base image is", async () => {
    expect(await (await fetch(`${base}images.json`)).json()).toEqual({ default: "rooted", images: ["flat", "rooted"] });
    const d = (await (await fetch(`${base}rooted/image.json`)).json()) as { base: string; homeInTree: string };
    expect(d.base).toBe("base/");
    expect(new Uint8Array(await (await fetch(`${base}rooted/bios.bin`)).arrayBuffer())).toEqual(new Uint8Array([1, 2, 3]));
  });

  test("a base image file answers a Range request with 206 and exactly those bytes", async () => {
    const res = await fetch(`${base}rooted/base/pack-abc.bin`, { headers: { Range: "bytes=100-199" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe("bytes 100-199/1000");
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(PACK.subarray(100, 200));
    const whole = await fetch(`${base}rooted/base/pack-abc.bin`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("accept-ranges")).toBe("bytes");
    expect(new Uint8Array(await whole.arrayBuffer())).toEqual(PACK);
    expect(await (await fetch(`${base}rooted/base/image.json`)).json()).toEqual({ version: 1 });
  });

  test("past the end is 416; a missing file, a base-less image and a path outside the base are 404", async () => {
    const past = await fetch(`${base}rooted/base/pack-abc.bin`, { headers: { Range: "bytes=1000-1099" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe("bytes */1000");
    expect((await fetch(`${base}rooted/base/pack-none.bin`)).status).toBe(404);
    expect((await fetch(`${base}flat/base/image.json`)).status).toBe(404);
    expect((await fetch(`${base}rooted/base/..%2Fsecret`)).status).not.toBe(200);
    expect((await fetch(`${base}rooted/base/../secret`)).status).not.toBe(200);
  });

  test("v86's format of the same root: fs.json revalidated, blobs cacheable for good; made only when asked for", async () => {
    expect(v86Made).toBe(0);
    const index = await fetch(`${base}rooted/v86/fs.json`);
    expect(await index.json()).toEqual({ version: 3 });
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const blob = await fetch(`${base}rooted/v86/blobs/0123abcd.bin`);
    expect(await blob.text()).toBe("blob bytes");
    expect(blob.headers.get("cache-control")).toContain("immutable");
    expect(v86Made).toBeGreaterThan(0);
    expect((await fetch(`${base}flat/v86/fs.json`)).status).toBe(404);
    expect((await fetch(`${base}rooted/v86/blobs/none.bin`)).status).toBe(404);
  });

  test("parseRange: open-ended, suffix and clamped ranges", () => {
    expect(parseRange("bytes=10-", 100)).toEqual({ start: 10, end: 100 });
    expect(parseRange("bytes=-10", 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange("bytes=90-500", 100)).toEqual({ start: 90, end: 100 });
    expect(parseRange("bytes=5-4", 100)).toBe("unsatisfiable");
    expect(parseRange("bytes=0-1,5-6", 100)).toBeUndefined();
    expect(parseRange(undefined, 100)).toBeUndefined();
  });
});
