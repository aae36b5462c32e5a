/**
 * Page-side scenarios for e2e/browser-image.test.ts: a tree over a base image
 * through the public page API (createFileServer({ base })), across reloads.
 */
import { Client, createFileServer, FsError, portTransport, type StorageKind } from "../../src/index.js";
import { Errno } from "../../src/protocol/errno.js";

export interface BaseArg {
  storage: StorageKind;
  name: string;
  url: string;
  /** Expected base contents of /etc/motd. */
  motd: string;
}

export interface BaseReport {
  problems: string[];
  requests: number;
  fetchedBytes: number;
  imageBytes: number;
}

const dec = new TextDecoder();

async function errnoOf(p: Promise<unknown>): Promise<number | string> {
  try {
    await p;
    return "no error";
  } catch (e) {
    return e instanceof FsError ? e.errno : String(e);
  }
}

/** First visit: the base shows through; change a base file, delete another, read a large one. */
export async function changeBase(arg: BaseArg): Promise<BaseReport> {
  const problems: string[] = [];
  const server = await createFileServer({ storage: arg.storage, name: arg.name, base: { url: arg.url } });
  try {
    const c = await Client.connect(portTransport(server.connect()));
    const motd = dec.decode(await c.readFile("/etc/motd"));
    if (motd !== arg.motd) problems.push(`base motd reads ${JSON.stringify(motd)}`);
    await c.writeFile("/etc/motd", "changed by the user\n");
    await c.unlink("/usr/bin/yes");
    const big = await c.readFile("/usr/bin/big");
    if (big.length !== 1_000_000) problems.push(`big has ${big.length} bytes`);
    const fsck = await server.control.fsck();
    problems.push(...fsck.problems);
    const s = (await server.control.baseStats())!;
    return { problems, requests: s.requests, fetchedBytes: s.fetchedBytes, imageBytes: s.imageBytes };
  } finally {
    await server.close();
  }
}

/** After a reload: the user's changes are there, the base read before comes from the cache; then reset. */
export async function checkAndReset(arg: BaseArg): Promise<BaseReport> {
  const problems: string[] = [];
  const server = await createFileServer({ storage: arg.storage, name: arg.name, base: { url: arg.url } });
  try {
    let c = await Client.connect(portTransport(server.connect()));
    const motd = dec.decode(await c.readFile("/etc/motd"));
    if (motd !== "changed by the user\n") problems.push(`after reload motd reads ${JSON.stringify(motd)}`);
    const yes = await errnoOf(c.stat("/usr/bin/yes"));
    if (yes !== Errno.ENOENT) problems.push(`after reload /usr/bin/yes: ${yes}`);
    if ((await c.readFile("/usr/bin/big")).length !== 1_000_000) problems.push("big after reload");
    problems.push(...(await server.control.fsck()).problems);
    const s = (await server.control.baseStats())!;
    await server.control.reset();
    c = await Client.connect(portTransport(server.connect()));
    const again = dec.decode(await c.readFile("/etc/motd"));
    if (again !== arg.motd) problems.push(`after reset motd reads ${JSON.stringify(again)}`);
    if (typeof (await errnoOf(c.stat("/usr/bin/yes"))) === "number") problems.push("after reset /usr/bin/yes is still gone");
    problems.push(...(await server.control.fsck()).problems.map((p) => `after reset: ${p}`));
    const after = (await server.control.baseStats())!;
    if (after.requests !== s.requests) problems.push(`reset fetched again: ${after.requests - s.requests} requests`);
    return { problems, requests: s.requests, fetchedBytes: s.fetchedBytes, imageBytes: s.imageBytes };
  } finally {
    await server.close();
  }
}

export interface QuotaArg extends BaseArg {
  /** Base files to read, each `fileBytes` long. */
  files: string[];
  fileBytes: number;
}

/** Read more base data than the quota holds, around the user's own files: the cache gives way, the user's files do not. */
export async function baseUnderQuota(arg: QuotaArg): Promise<BaseReport & { cacheEntries: number; stuffedBytes: number; refusedWith: string[] }> {
  const problems: string[] = [];
  const server = await createFileServer({ storage: arg.storage, name: arg.name, base: { url: arg.url } });
  try {
    const c = await Client.connect(portTransport(server.connect()));
    // Random: IndexedDB compresses what it stores, and the quota must count these bytes in full.
    const mine = new Uint8Array(1 << 20);
    for (let at = 0; at < mine.length; at += 1 << 16) crypto.getRandomValues(mine.subarray(at, at + (1 << 16)));
    await c.writeFile("/mine-1", mine);
    for (const f of arg.files) {
      const got = await c.readFile(f);
      if (got.length !== arg.fileBytes) problems.push(`${f}: ${got.length} bytes`);
    }
    // What a lagging usage estimate lets the cache do: take the rest of the quota.
    const { stuffedBytes, refusedWith } = await fillImageCacheToQuota();
    try {
      await c.writeFile("/mine-2", mine);
    } catch (e) {
      problems.push(`writing a user's file after filling the cache: ${String(e)}`);
    }
    for (const name of ["/mine-1", "/mine-2"]) {
      const back = await c.readFile(name).catch(() => new Uint8Array());
      if (back.length !== mine.length || back.some((b, i) => b !== mine[i])) problems.push(`${name} did not read back`);
    }
    problems.push(...(await server.control.fsck()).problems);
    const s = (await server.control.baseStats())!;
    const { IdbImageCache } = await import("../../src/storage/image/cache-idb.js");
    const cache = await IdbImageCache.open();
    const cacheEntries = (await cache.keys()).length;
    cache.close();
    return { problems, requests: s.requests, fetchedBytes: s.fetchedBytes, imageBytes: s.imageBytes, cacheEntries, stuffedBytes, refusedWith };
  } finally {
    await server.close();
  }
}

/**
 * Put 1 MiB entries straight into the image cache's database (oldest first, as the cache's own
 * eviction orders them) until the quota refuses one: the origin is then full of base-cache data.
 */
async function fillImageCacheToQuota(): Promise<{ stuffedBytes: number; refusedWith: string[] }> {
  const { openDB } = await import("idb");
  const db = await openDB("worker9p-image-cache", 1);
  let stuffed = 0;
  let n = 0;
  /** Why each size's loop ended (the cache may have filled the quota already: then nothing fits). */
  const refusedWith: string[] = [];
  try {
    // 1 MiB entries, then 64 KiB ones for what is left: random bytes (IndexedDB compresses values).
    for (const size of [1 << 20, 1 << 16]) {
      for (let i = 0; i < 1024; i++, n++) {
        const data = new Uint8Array(size);
        for (let at = 0; at < size; at += 1 << 16) crypto.getRandomValues(data.subarray(at, at + (1 << 16)));
        try {
          await db.put("pieces", { data, at: n - 1e6 }, `stuffing-${n}`);
        } catch (e) {
          refusedWith.push(e instanceof DOMException ? e.name : String(e));
          break;
        }
        stuffed += size;
      }
    }
  } finally {
    db.close();
  }
  return { stuffedBytes: stuffed, refusedWith };
}

/**
 * A session connected while reset() runs (v86's hook makes one when the guest asks during a reset)
 * belongs to the reset tree: it reads the base, and what it writes stays; fsck() called then checks
 * the reset tree. Before, the worker served the session on the server reset() had just closed, over
 * the dropped layer's store (EIO), and fsck() ran on that store ("store is closed").
 */
export async function connectDuringReset(arg: BaseArg): Promise<string[]> {
  const problems: string[] = [];
  const server = await createFileServer({ storage: arg.storage, name: arg.name, base: { url: arg.url } });
  try {
    const before = await Client.connect(portTransport(server.connect()));
    await before.writeFile("/etc/motd", "changed by the user\n");
    before.close();
    const resetting = server.control.reset();
    const port = server.connect(); // posted after reset(): the worker gets it while reset() runs
    const fsckDuring = server.control.fsck().then(
      (r) => r.problems.map((p) => `fsck called during reset: ${p}`),
      (e: unknown) => [`fsck called during reset: ${String(e)}`],
    );
    await resetting;
    problems.push(...(await fsckDuring));
    const during = await Client.connect(portTransport(port));
    const motd = dec.decode(await during.readFile("/etc/motd"));
    if (motd !== arg.motd) problems.push(`a session connected during reset reads motd ${JSON.stringify(motd)}`);
    await during.writeFile("/written-during", "kept\n");
    const after = await Client.connect(portTransport(server.connect()));
    const kept = await after.readFile("/written-during").then((b) => dec.decode(b), (e: unknown) => String(e));
    if (kept !== "kept\n") problems.push(`a file written by that session reads ${JSON.stringify(kept)} from a later one`);
    problems.push(...(await server.control.fsck()).problems);
    during.close();
    after.close();
  } finally {
    await server.close();
  }
  return problems;
}
