/**
 * A tree over a base image in real Chromium: createFileServer({ base }) with
 * the user's layer in IndexedDB or OPFS, the base fetched from a plain static
 * server (another origin, Range requests) and cached in IndexedDB. Changes to
 * base files survive a page reload; a second visit fetches nothing it fetched
 * before; reset brings the base back without fetching it again.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { serveImageDir, type ImageTestServer } from "../src/storage/image/test-server.js";
import { writeImage } from "../src/storage/image/writer.js";
import { startBrowserHarness, type BrowserHarness } from "./browser/harness.js";
import { callInPage } from "./browser/fs-call.js";
import type { BaseReport, QuotaArg } from "./browser/image-page.js";

const PAGE = "/e2e/browser/image-page.ts";
const MOTD = "welcome to the base image\n";
const MiB = 1 << 20;
const DATA_FILES = 8;
const DATA_BYTES = 4 * MiB;
let h: BrowserHarness;
let server: ImageTestServer;
let dirs: string[] = [];

beforeAll(async () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-bimg-src-"));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-bimg-out-"));
  dirs = [src, out];
  fs.mkdirSync(path.join(src, "etc"));
  fs.mkdirSync(path.join(src, "usr/bin"), { recursive: true });
  fs.writeFileSync(path.join(src, "etc/motd"), MOTD);
  fs.writeFileSync(path.join(src, "usr/bin/yes"), "#!/bin/sh\n");
  fs.writeFileSync(path.join(src, "usr/bin/big"), randomBytes(1_000_000));
  fs.mkdirSync(path.join(src, "data"));
  for (let i = 0; i < DATA_FILES; i++) fs.writeFileSync(path.join(src, `data/f${i}`), randomBytes(DATA_BYTES));
  await writeImage(src, out);
  server = await serveImageDir(out);
  h = await startBrowserHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await server?.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe.each(["indexeddb", "opfs"] as const)("%s user's layer over a base image", (storage) => {
  test("base changes survive a reload, cached base is not fetched again, reset restores the base", async () => {
    const arg = { storage, name: `base-${storage}-${process.pid}`, url: server.url, motd: MOTD };
    const first = await callInPage<BaseReport>(h.page, "changeBase", arg, PAGE);
    expect(first.problems).toEqual([]);
    // The cache is shared by every tree of the origin: the second storage's first visit may fetch nothing.
    expect(first.fetchedBytes).toBeLessThanOrEqual(first.imageBytes);
    await h.reload();
    const second = await callInPage<BaseReport>(h.page, "checkAndReset", arg, PAGE);
    expect(second.problems).toEqual([]);
    // Everything this visit read was read on the first: the IndexedDB cache answered.
    expect(second.requests).toBe(0);
  });
});

// tree-host.ts: connect() and fsck() while reset() runs wait for the reset tree (they reached the closed server and store).
test("a session connected, and fsck() called, while reset() runs belong to the reset tree", async () => {
  const arg = { storage: "indexeddb" as const, name: `reset-race-${process.pid}`, url: server.url, motd: MOTD };
  expect(await callInPage<string[]>(h.page, "connectDuringReset", arg, PAGE)).toEqual([]);
});

// C1 in src/storage/layered/layered-store.ts: the cache keeps its share by navigator.storage.estimate(), which
// Chromium updates late, so it can overfill for a moment; the user's write that then meets the quota makes the
// cache give way and runs again.
test.each(["indexeddb", "opfs"] as const)("quota (%s user's layer): base data read past the quota evicts the cache, never the user's files", async (storage) => {
  const s = await h.openSession(`quota-base-${storage}-${process.pid}.localhost`);
  try {
    const before = await callInPage<{ usage: number; quota: number }>(s.page, "storageEstimate");
    // Room for a quarter of the base data the page reads.
    await s.setQuota(before.usage + (DATA_FILES * DATA_BYTES) / 4);
    const arg: QuotaArg = {
      storage, name: `quota-base-${process.pid}`, url: server.url, motd: MOTD,
      files: Array.from({ length: DATA_FILES }, (_, i) => `/data/f${i}`), fileBytes: DATA_BYTES,
    };
    const r = await callInPage<BaseReport & { cacheEntries: number; stuffedBytes: number; refusedWith: string[] }>(s.page, "baseUnderQuota", arg, PAGE);
    console.log(`quota: fetched ${(r.fetchedBytes / MiB).toFixed(1)} MiB, then ${(r.stuffedBytes / MiB).toFixed(0)} MiB more put in the cache until the quota refused (${r.refusedWith.join(", ")}); ${r.cacheEntries} entries cached at the end`);
    // The quota was full before the user's second write, which still succeeded and reads back: both
    // stuffing loops ended on the quota's refusal. How much stuffing that took varies (0-7 MiB seen):
    // when Chromium's estimate lags long enough, the cache's own pieces fill the quota first.
    expect(r.refusedWith).toEqual(["QuotaExceededError", "QuotaExceededError"]);
    expect(r.problems).toEqual([]);
    // Not all of it stayed: the cache gave way.
    expect(r.cacheEntries * 128 * 1024).toBeLessThan(DATA_FILES * DATA_BYTES);
  } finally {
    await s.setQuota(undefined).catch(() => {});
    await s.close();
  }
}, 120_000);
