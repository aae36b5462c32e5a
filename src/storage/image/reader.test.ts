import { randomBytes } from "node:crypto";
import * as nodefs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Client } from "../../client/client.js";
import { inProcessTransport } from "../../client/in-process.js";
import { FileSystem } from "../../fs/filesystem.js";
import { errnoOf } from "../../fs/test-helpers.js";
import { Errno, isAbortError } from "../../protocol/errno.js";
import { Server } from "../../server/server.js";
import { MemoryStore } from "../memory.js";
import { LayeredStore } from "../layered/layered-store.js";
import { MemoryImageCache } from "./cache.js";
import { ImageFormatError, MANIFEST_FILE } from "./format.js";
import { BaseImage, type BaseImageOptions } from "./reader.js";
import { serveImageDir, type ImageTestServer } from "./test-server.js";
import { writeImage } from "./writer.js";

// Fetching the base over HTTP, and its faults, as a 9P client sees them.
const one = randomBytes(100_000);
const two = randomBytes(300_000);
let src: string;
let out: string;
let server: ImageTestServer;

beforeAll(async () => {
  src = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-reader-src-"));
  out = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-reader-img-"));
  nodefs.writeFileSync(path.join(src, "one"), one);
  nodefs.writeFileSync(path.join(src, "two"), two);
  nodefs.writeFileSync(path.join(src, "small"), "small file\n");
  await writeImage(src, out, { pieceSize: 65536 });
  server = await serveImageDir(out);
});
afterAll(async () => {
  await server.close();
  nodefs.rmSync(src, { recursive: true, force: true });
  nodefs.rmSync(out, { recursive: true, force: true });
});

let logged: string[];
let cache: MemoryImageCache;
let image: BaseImage;
let client: Client;
/** Every signal handed to fetch() for a pack, and what each such fetch() returned. */
let fetchSignals: AbortSignal[];
let fetchResults: Promise<Response>[];

async function connect(extra: BaseImageOptions = {}): Promise<void> {
  const fetchSpy: typeof fetch = (input, init) => {
    const res = fetch(input, init);
    if (String(input).includes("pack-") && init?.signal) {
      fetchSignals.push(init.signal);
      fetchResults.push(res);
    }
    return res;
  };
  image = await BaseImage.open(server.url, { cache, fetch: fetchSpy, log: (m) => logged.push(m), retryDelaysMs: [1], ...extra });
  const fs = await FileSystem.open(await LayeredStore.open(new MemoryStore(), image));
  client = await Client.connect(inProcessTransport(new Server(fs)));
}

beforeEach(async () => {
  logged = [];
  fetchSignals = [];
  fetchResults = [];
  cache = new MemoryImageCache();
  server.down = server.offline = server.corrupt = server.stall = server.noRange = false;
  server.requests.clear();
  await connect();
});
afterEach(() => {
  server.stall = false;
});

describe("base image reader", () => {
  it("fetches a file's pieces by Range requests, only that file's", async () => {
    expect(Buffer.from(await client.readFile("/two")).equals(two)).toBe(true);
    const packs = [...server.requests].filter(([f]) => f.startsWith("pack-"));
    expect(packs.reduce((n, [, c]) => n + c, 0)).toBe(1); // 5 pieces, one run
    expect(server.rangeRequests()).toBe(1);
    expect(image.stats.fetchedBytes).toBeLessThan(two.length + 1000);
    expect(Buffer.from(await client.readFile("/small")).toString()).toBe("small file\n");
  });

  it("outside the boot profile, a read fetches the pieces it needs and nothing after them", async () => {
    const fid = await client.open("/two"); // 5 pieces of 64 KiB
    expect(Buffer.from(await client.read(fid, 70_000, 100)).equals(two.subarray(70_000, 70_100))).toBe(true);
    expect(image.stats.requests).toBe(1);
    expect(image.stats.fetchedBytes).toBe(65536); // piece 1 alone (random bytes are stored raw)
    // a read across two pieces: both, in one request
    expect(Buffer.from(await client.read(fid, 200_000, 70_000)).equals(two.subarray(200_000, 270_000))).toBe(true);
    expect(image.stats.requests).toBe(2);
    expect(image.stats.fetchedBytes).toBe(65536 + 65536 + (300_000 - 4 * 65536)); // pieces 1, 3 and the short last one
  });

  it("works with a server that ignores Range", async () => {
    server.noRange = true;
    expect(Buffer.from(await client.readFile("/one")).equals(one)).toBe(true);
  });

  it("a piece that does not match its hash: EIO and a console message, never wrong bytes; fine once the server is", async () => {
    server.corrupt = true;
    expect(await errnoOf(client.readFile("/one"))).toBe(Errno.EIO);
    expect(logged.join("\n")).toMatch(/does not match its SHA-256|does not inflate/);
    expect(logged.join("\n")).toMatch(/reads as EIO/);
    server.corrupt = false;
    expect(Buffer.from(await client.readFile("/one")).equals(one)).toBe(true);
  });

  it("the server unreachable mid-fetch: EIO after bounded retries, then works when it is back", async () => {
    server.down = true;
    expect(await errnoOf(client.readFile("/one"))).toBe(Errno.EIO);
    expect(image.stats.requests).toBe(3);
    server.down = false;
    expect(Buffer.from(await client.readFile("/one")).equals(one)).toBe(true);
  });

  it("Tflush of a read waiting on the network aborts the fetch", async () => {
    server.stall = true;
    const stalled = server.stalled;
    const ac = new AbortController();
    const fid = await client.open("/two");
    const read = client.read(fid, 0, 4096, ac.signal);
    await stalled;
    expect(fetchSignals).toHaveLength(1);
    expect(fetchSignals[0]!.aborted).toBe(false);
    expect(image.stats.abortedFetches).toBe(0);
    ac.abort();
    await expect(read).rejects.toSatisfy(isAbortError);
    expect(fetchSignals[0]!.aborted).toBe(true);
    // The reader's own handler of that fetch() runs before ours (registered first).
    await Promise.allSettled(fetchResults);
    expect(image.stats.abortedFetches).toBe(1);
    // The session goes on: the same read, unflushed, succeeds once the server answers.
    server.stall = false;
    expect(Buffer.from(await client.read(fid, 0, 4096)).equals(two.subarray(0, 4096))).toBe(true);
  });

  it("offline once used: the cached manifest, index and pieces serve a new mount", async () => {
    await client.readFile("/one");
    await image.settled();
    server.offline = true;
    await connect();
    expect(Buffer.from(await client.readFile("/one")).equals(one)).toBe(true);
    expect(image.stats.requests).toBe(0);
    expect(await errnoOf(client.readFile("/two"))).toBe(Errno.EIO);
  });

  it("an image of another format version is a clear error at open", async () => {
    const other = nodefs.mkdtempSync(path.join(os.tmpdir(), "w9p-reader-v2-"));
    try {
      for (const f of nodefs.readdirSync(out)) nodefs.copyFileSync(path.join(out, f), path.join(other, f));
      const m = JSON.parse(nodefs.readFileSync(path.join(other, MANIFEST_FILE), "utf8"));
      nodefs.writeFileSync(path.join(other, MANIFEST_FILE), JSON.stringify({ ...m, version: 2 }));
      const s2 = await serveImageDir(other);
      try {
        const err = await BaseImage.open(s2.url).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ImageFormatError);
        expect(String(err)).toMatch(/version 2; this worker9p reads version 1/);
      } finally {
        await s2.close();
      }
    } finally {
      nodefs.rmSync(other, { recursive: true, force: true });
    }
  });
});
