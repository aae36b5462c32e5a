/**
 * The workspace's files and status panels in Debian's Chromium, on real OPFS (and
 * IndexedDB for uploads), through the dev page e2e/workspace/panels-dev.html. A
 * second 9P session of the same tree (window.panelsDev.other) stands in for the
 * guest: what it writes must show in the panel, what the panel writes must be
 * there for it. Nothing waits on a clock: each step waits for the page to show
 * its result (a row, a finished or failed progress bar, a download).
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { packTar, unpackTar } from "modern-tar";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO_ROOT, startBrowserHarness, type BrowserHarness } from "./browser/harness.js";

const MiB = 1024 * 1024;
const ARTIFACTS = join(REPO_ROOT, "test-results");

let h: BrowserHarness;
let run = 0;
const pages: Page[] = [];

beforeAll(async () => {
  h = await startBrowserHarness();
}, 120_000);

afterAll(async () => {
  for (const p of pages) await p.close().catch(() => {});
  await h?.stop();
});

interface Opened {
  page: Page;
  errors: string[];
}

/** `fakeClock`: the page's timers fire only as the test advances its clock (page.clock). */
async function openPanels(query: Record<string, string | number>, options: { fakeClock?: boolean } = {}): Promise<Opened> {
  const page = await h.context.newPage();
  if (options.fakeClock) await page.clock.install();
  pages.push(page);
  await page.setViewportSize({ width: 1280, height: 760 });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const qs = new URLSearchParams(Object.entries({ tree: `panels-${process.pid}-${run++}`, pollMs: 0, ...query }).map(([k, v]) => [k, String(v)]));
  await page.goto(`${h.baseUrl}/e2e/workspace/panels-dev.html?${qs}`);
  await page.waitForFunction(() => window.panelsDev !== undefined);
  await page.evaluate(() => window.panelsDev.ready);
  return { page, errors };
}

const row = (page: Page, name: string) => page.locator(`.w9p-files tr.w9p-row[data-name="${name}"]`);
const refresh = (page: Page) => page.click('.w9p-files [data-role="refresh"]');
const readText = (page: Page, path: string) => page.evaluate((p) => window.panelsDev.readText(p), path);
const list = (page: Page, path: string) => page.evaluate((p) => window.panelsDev.list(p), path);

/** Drop `files` (name → text) on `selector`, the way a browser delivers a drag from the desktop. */
async function dropFiles(page: Page, selector: string, files: Record<string, string>): Promise<void> {
  await page.evaluate(
    ({ selector, files }) => {
      const dt = new DataTransfer();
      for (const [name, text] of Object.entries(files)) dt.items.add(new File([text], name, { type: "text/plain" }));
      const target = document.querySelector(selector)!;
      const at = target.getBoundingClientRect();
      const init = { dataTransfer: dt, bubbles: true, cancelable: true, clientX: at.x + 10, clientY: at.y + at.height / 2 };
      target.dispatchEvent(new DragEvent("dragenter", init));
      target.dispatchEvent(new DragEvent("dragover", init));
      target.dispatchEvent(new DragEvent("drop", init));
    },
    { selector, files },
  );
}

async function lastJob(page: Page): Promise<{ state: "done" | "failed"; detail: string }> {
  const job = page.locator(".w9p-job").first();
  await job.and(page.locator(".done, .failed")).waitFor();
  const cls = (await job.getAttribute("class")) ?? "";
  return { state: cls.includes("failed") ? "failed" : "done", detail: (await job.locator(".detail").textContent()) ?? "" };
}

describe("files panel (OPFS)", () => {
  test("shows what another session (the guest) wrote after a refresh, and previews text", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.evaluate(() => window.panelsDev.writeText("hello.txt", "written by the guest\n"));
    await refresh(page);
    await row(page, "hello.txt").click();
    await expect.poll(() => page.locator('[data-role="preview-text"]').textContent()).toBe("written by the guest\n");
    expect(errors).toEqual([]);
  });

  test("a file uploaded with the picker lands in the tree", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.setInputFiles('.w9p-files [data-role="upload-input"]', { name: "picked.txt", mimeType: "text/plain", buffer: Buffer.from("from the picker") });
    expect(await lastJob(page)).toMatchObject({ state: "done" });
    await row(page, "picked.txt").waitFor();
    expect(await readText(page, "picked.txt")).toBe("from the picker");
    expect(await list(page, "")).toEqual(["picked.txt"]); // no temporary upload file left
    expect(errors).toEqual([]);
  });

  test("files dropped on the open folder and on a folder row land in that folder", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.evaluate(() => window.panelsDev.other!.mkdir("inbox"));
    await refresh(page);
    await row(page, "inbox").waitFor();
    await dropFiles(page, '.w9p-files [data-role="list"]', { "dropped.txt": "dropped on the folder" });
    expect(await lastJob(page)).toMatchObject({ state: "done" });
    await dropFiles(page, '.w9p-files tr.w9p-row[data-name="inbox"] .label', { "a.txt": "A", "b.txt": "B" });
    expect(await lastJob(page)).toMatchObject({ state: "done" });
    expect(await readText(page, "dropped.txt")).toBe("dropped on the folder");
    expect(await list(page, "inbox")).toEqual(["a.txt", "b.txt"]);
    expect(await readText(page, "inbox/b.txt")).toBe("B");
    expect(errors).toEqual([]);
  });

  test("imports a .tar.gz with a progress bar; a corrupt one is refused naming the entry, nothing imported", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    const tar = await packTar([
      { header: { name: "proj/", type: "directory", size: 0, mode: 0o755 } },
      { header: { name: "proj/README", size: 6, mode: 0o644 }, body: "hello\n" },
      { header: { name: "proj/bin/run", size: 10, mode: 0o755 }, body: "#!/bin/sh\n" },
    ]);
    await page.setInputFiles('.w9p-files [data-role="import-input"]', { name: "proj.tar.gz", mimeType: "application/gzip", buffer: gzipSync(tar) });
    const ok = await lastJob(page);
    expect(ok.state).toBe("done");
    expect(ok.detail).toMatch(/Imported 2 files, 2 folders/);
    expect(await readText(page, "proj/bin/run")).toBe("#!/bin/sh\n");

    const bad = await packTar([
      { header: { name: "other/one.txt", size: 3 }, body: "one" },
      { header: { name: "other/two.txt", size: 3 }, body: "two" },
    ]);
    bad[1024 + 5] ^= 0xff;
    await page.setInputFiles('.w9p-files [data-role="import-input"]', { name: "other.tar", mimeType: "application/x-tar", buffer: Buffer.from(bad) });
    const failed = await lastJob(page);
    expect(failed.state).toBe("failed");
    expect(failed.detail).toMatch(/corrupt or truncated after entry "other\/one.txt"/);
    expect(await list(page, "")).toEqual(["proj"]);
    expect(errors).toEqual([]);
  });

  test("an export of the tree contains what the guest wrote", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.evaluate(async () => {
      await window.panelsDev.other!.mkdir("notes");
      await window.panelsDev.writeText("notes/guest.txt", "the guest wrote this");
    });
    await refresh(page);
    const download = page.waitForEvent("download");
    await page.click('.w9p-files [data-role="export"]');
    const file = await (await download).path();
    expect(await lastJob(page)).toMatchObject({ state: "done" });
    const entries = await unpackTar(gunzipSync(await readFile(file)));
    const guest = entries.find((e) => e.header.name === "notes/guest.txt");
    expect(new TextDecoder().decode(guest?.data)).toBe("the guest wrote this");
    expect(entries.map((e) => e.header.name).sort()).toEqual(["notes/", "notes/guest.txt"]);
    expect(errors).toEqual([]);
  });
});

describe("files panel: folders, names, changes made elsewhere", () => {
  test("new folder, rename and delete go through the panel's own dialogs", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.evaluate(() => window.panelsDev.writeText("draft.txt", "text"));
    await refresh(page);
    await page.click('.w9p-files [data-role="new-folder"]');
    await page.fill("dialog.w9p-dialog input", "docs");
    await page.click("dialog.w9p-dialog button.primary");
    await row(page, "docs").waitFor();

    await row(page, "draft.txt").hover();
    await page.click('[aria-label="Rename draft.txt"]');
    await page.fill("dialog.w9p-dialog input", "final.txt");
    await page.click("dialog.w9p-dialog button.primary");
    await row(page, "final.txt").waitFor();

    await row(page, "docs").hover();
    await page.click('[aria-label="Delete docs"]');
    await page.locator("dialog.w9p-dialog", { hasText: "everything in it will be deleted" }).waitFor();
    await page.click("dialog.w9p-dialog button.primary");
    await row(page, "docs").waitFor({ state: "detached" });
    expect(await list(page, "")).toEqual(["final.txt"]);
    expect(await readText(page, "final.txt")).toBe("text");
    expect(errors).toEqual([]);
  });

  test("a name that is not UTF-8 is shown lossily and can still be previewed and deleted", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    // "café" written in Latin-1: the byte 0xE9 arrives as the lone surrogate U+DCE9.
    await page.evaluate(() => window.panelsDev.writeText("caf\uDCE9.txt", "latin-1 name"));
    await refresh(page);
    const label = page.locator(".w9p-files tr.w9p-row .label", { hasText: "caf\uFFFD.txt" });
    await label.click();
    await expect.poll(() => page.locator('[data-role="preview-text"]').textContent()).toBe("latin-1 name");
    await label.hover();
    await page.locator(".w9p-files tr.w9p-row", { hasText: "caf\uFFFD.txt" }).locator('button[title="Delete"]').click();
    await page.click("dialog.w9p-dialog button.primary");
    await label.waitFor({ state: "detached" });
    expect(await list(page, "")).toEqual([]);
    expect(errors).toEqual([]);
  });

  test("what another session writes shows up without a click (the open folder is polled)", async () => {
    const { page } = await openPanels({ storage: "opfs", pollMs: 100 });
    await page.evaluate(() => window.panelsDev.writeText("from-guest.txt", "hi"));
    await row(page, "from-guest.txt").waitFor();
  });

  test("a file another session rewrites in place shows its new size without a click (the folder's own times do not change)", async () => {
    const { page } = await openPanels({ storage: "opfs", pollMs: 100 });
    await page.evaluate(() => window.panelsDev.writeText("growing.txt", "hi"));
    await row(page, "growing.txt").locator("td.size", { hasText: "2 B" }).waitFor();
    await page.evaluate(() => window.panelsDev.writeText("growing.txt", "now eleven!"));
    await row(page, "growing.txt").locator("td.size", { hasText: "11 B" }).waitFor();
  });

  test("a poll the tree is slow to answer is not started again beside itself (polls would pile up on a busy tree)", async () => {
    const { page } = await openPanels({ storage: "opfs", pollMs: 1000 }, { fakeClock: true });
    await page.evaluate(() => window.panelsDev.holdPanelRequests());
    // Ten poll ticks; the first poll's first request is never answered, so that poll never ends.
    await page.clock.runFor(10_000);
    await expect.poll(() => page.evaluate(() => window.panelsDev.heldPanelRequests()[0])).toBeGreaterThan(0);
    expect(await page.evaluate(() => window.panelsDev.heldPanelRequests()[0])).toBe(1);
  });
});

describe("temporary download files", () => {
  test("are swept once ten minutes old, never while another download may still be copying them out", async () => {
    const { page } = await openPanels({ storage: "memory" });
    const left = await page.evaluate(`(async () => {
      const { sweepDownloads } = await import("/src/workspace/files/transfer.ts");
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("worker9p-downloads", { create: true });
      const now = Date.now();
      for (const [age, name] of [[11 * 60000, "old.tar.gz"], [60000, "recent.tar.gz"]]) {
        const w = await (await dir.getFileHandle(String(now - age) + "-abc-" + name, { create: true })).createWritable();
        await w.write("x");
        await w.close();
      }
      await sweepDownloads(now);
      const names = [];
      for await (const n of dir.keys()) names.push(n.replace(/^\\d+-abc-/, ""));
      return names.sort();
    })()`);
    expect(left).toContain("recent.tar.gz");
    expect(left).not.toContain("old.tar.gz");
  });
});

describe("files panel, bad input", () => {
  test("an upload past the quota says 'storage full', leaves no temporary file, and the tree stays fsck-clean", async () => {
    const { page, errors } = await openPanels({ storage: "memory", quotaBytes: 4 * MiB });
    await page.evaluate(() => window.panelsDev.writeText("kept.txt", "kept"));
    await page.setInputFiles('.w9p-files [data-role="upload-input"]', { name: "big.bin", mimeType: "application/octet-stream", buffer: Buffer.alloc(8 * MiB, 1) });
    const job = await lastJob(page);
    expect(job.state).toBe("failed");
    expect(job.detail).toMatch(/^storage full: "big.bin" was not uploaded/);
    expect(await page.locator(".toast.error").last().textContent()).toMatch(/storage full/);
    expect(await list(page, "")).toEqual(["kept.txt"]);
    expect(await page.evaluate(() => window.panelsDev.fileServer!.control.fsck())).toEqual({ ok: true, problems: [] });
    expect(errors).toEqual([]);
  });

  test("an import past the quota says 'storage full' and imports nothing", async () => {
    const { page } = await openPanels({ storage: "memory", quotaBytes: 4 * MiB });
    const tar = await packTar(Array.from({ length: 6 }, (_, i) => ({ header: { name: `big/part${i}`, size: MiB }, body: new Uint8Array(MiB).fill(i + 1) })));
    await page.setInputFiles('.w9p-files [data-role="import-input"]', { name: "big.tar", mimeType: "application/x-tar", buffer: Buffer.from(tar) });
    const job = await lastJob(page);
    expect(job.state).toBe("failed");
    expect(job.detail).toMatch(/^storage full while writing "big\/part\d": nothing was imported/);
    expect(await list(page, "")).toEqual([]);
    expect(await page.evaluate(() => window.panelsDev.fileServer!.control.fsck())).toEqual({ ok: true, problems: [] });
  });
});

describe("uploads on IndexedDB", () => {
  test("a picked file lands in an IndexedDB tree", async () => {
    const { page } = await openPanels({ storage: "indexeddb" });
    await page.setInputFiles('.w9p-files [data-role="upload-input"]', { name: "idb.txt", mimeType: "text/plain", buffer: Buffer.from("in indexeddb") });
    expect(await lastJob(page)).toMatchObject({ state: "done" });
    expect(await readText(page, "idb.txt")).toBe("in indexeddb");
  });
});

describe("status and care panel", () => {
  test("shows the tree, checks it, and erases it only after the tree's name is typed", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    const name = await page.evaluate(() => window.panelsDev.fileServer!.name);
    await page.evaluate(() => window.panelsDev.writeText("doomed.txt", "bye"));
    expect(await page.locator('[data-role="tree-name"]').textContent()).toBe(name);
    expect(await page.locator('[data-role="storage-kind"]').getAttribute("data-kind")).toBe("opfs");
    await page.click('[data-role="fsck"]');
    await page.locator('[data-role="fsck-result"]', { hasText: "No problems found" }).waitFor();

    await page.click('[data-role="reset"]');
    const confirm = page.locator("dialog.w9p-dialog button.primary");
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill("dialog.w9p-dialog input", "not the name");
    expect(await confirm.isDisabled()).toBe(true);
    await page.fill("dialog.w9p-dialog input", name);
    await confirm.click();
    await page.locator(".toast", { hasText: "is now empty" }).waitFor();
    expect(await list(page, "")).toEqual([]);
    expect(errors).toEqual([]);
  });

  test("in tabs, as the shell hosts them: each panel keeps its state while the other shows", async () => {
    const { page, errors } = await openPanels({ storage: "opfs", layout: "tabs" });
    await page.evaluate(() => window.panelsDev.writeText("tabbed.txt", "t"));
    await refresh(page);
    await row(page, "tabbed.txt").click();
    await page.click('[data-tab="status"]');
    await page.locator('[data-role="tree-name"]').waitFor();
    expect(await page.locator('[data-pane="files"]').isHidden()).toBe(true);
    await page.click('[data-tab="files"]');
    expect(await row(page, "tabbed.txt").getAttribute("aria-selected")).toBe("true");
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "workspace-panels-tabs.png") });
    expect(errors).toEqual([]);
  });

  test("looks like a product: a screenshot of both panels with content", async () => {
    const { page, errors } = await openPanels({ storage: "opfs" });
    await page.evaluate(async () => {
      const d = window.panelsDev;
      await d.other!.mkdir("projects");
      await d.other!.mkdir("Documents");
      await d.writeText("notes.md", "# Notes\n\n- persistent files in the browser\n- 9P all the way down\n");
      await d.writeText("hello.c", '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n');
      await d.writeText("projects/todo.txt", "ship it\n");
    });
    await refresh(page);
    await row(page, "notes.md").click();
    await page.locator('[data-role="preview-text"]').waitFor();
    await page.click('[data-role="fsck"]');
    await page.locator('[data-role="fsck-result"]', { hasText: "No problems found" }).waitFor();
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "workspace-panels.png") });
    expect(errors).toEqual([]);
  });
});
