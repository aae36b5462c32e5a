/**
 * The panels beside the real guest: the workspace page boots Debian's kernel in v86
 * on the tree, and what the files panel uploads (picker, synthesized drop) is
 * there for `cat` in the guest, and an export holds what the guest wrote. Waits
 * are on conditions (ready, a finished progress bar, a download); a boot under
 * load takes minutes. W9P_SKIP_BROWSER=1 skips this file.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { unpackTar } from "modern-tar";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "./browser/harness.js";
import { startWorkspaceHarness, type WorkspaceHarness, type WorkspaceTab } from "./workspace/harness.js";

const skip = process.env.W9P_SKIP_BROWSER === "1";
const BOOT_MS = 600_000;

let h: WorkspaceHarness;

beforeAll(async () => {
  if (!skip) h = await startWorkspaceHarness();
}, 300_000);

/** A booted workspace tab on a fresh tree of `storage`, with the files panel mounted. */
async function openWithPanels(storage: "opfs" | "indexeddb"): Promise<WorkspaceTab> {
  const tab = await h.open({ tree: `panels-guest-${storage}-${process.pid}`, storage, image: "busybox" });
  await tab.ready(BOOT_MS);
  // The shell mounts the panels itself; a page without them gets the tabbed sidebar here, on the page's own tree.
  await tab.page.evaluate(`(async () => {
    if (document.querySelector(".w9p-files")) return;
    const { mountPanelTabs } = await import("/src/workspace/panel-tabs.ts");
    const { Client, portTransport } = await import("/src/index.ts");
    const server = window.workspace.fileServer;
    const host = document.createElement("div");
    host.style.cssText = "position:fixed;right:0;top:0;bottom:0;width:560px;z-index:10";
    document.body.append(host);
    await mountPanelTabs(host, {
      fileServer: server,
      openClient: () => Client.connect(portTransport(server.connect())),
      notify: (m, kind) => (kind === "error" ? console.error(m) : console.log(m)),
      closing: new Promise(() => {}),
    });
  })()`);
  await tab.page.locator(".w9p-files").waitFor();
  return tab;
}

afterAll(async () => {
  await h?.stop();
});

async function lastJob(page: Page): Promise<{ state: string; detail: string }> {
  const job = page.locator(".w9p-job").first();
  await job.and(page.locator(".done, .failed")).waitFor({ timeout: 120_000 });
  const cls = (await job.getAttribute("class")) ?? "";
  return { state: cls.includes("failed") ? "failed" : "done", detail: (await job.locator(".detail").textContent()) ?? "" };
}

describe.skipIf(skip).sequential.each(["opfs", "indexeddb"] as const)("files panel beside the guest, %s tree", (storage) => {
  let tab: WorkspaceTab;
  beforeAll(async () => {
    tab = await openWithPanels(storage);
  }, BOOT_MS + 300_000);
  afterAll(async () => {
    await tab?.close();
  });

  test("a file uploaded with the picker is there for cat in the guest", async () => {
    await tab.page.setInputFiles('.w9p-files [data-role="upload-input"]', { name: "picked.txt", mimeType: "text/plain", buffer: Buffer.from("picked in the page\n") });
    expect(await lastJob(tab.page)).toMatchObject({ state: "done" });
    expect(await tab.run("cat picked.txt")).toEqual({ status: 0, output: "picked in the page\n" });
  }, 300_000);

  test("a file dropped on the panel is there for cat in the guest", async () => {
    await tab.page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["dropped in the page\n"], "dropped.txt", { type: "text/plain" }));
      const list = document.querySelector('.w9p-files [data-role="list"]')!;
      for (const type of ["dragenter", "dragover", "drop"]) list.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    expect(await lastJob(tab.page)).toMatchObject({ state: "done" });
    expect(await tab.run("cat dropped.txt")).toEqual({ status: 0, output: "dropped in the page\n" });
  }, 300_000);

  test("an export holds what the guest wrote", async () => {
    expect((await tab.run("mkdir -p from-guest && echo 'written in the guest' > from-guest/note.txt && sync")).status).toBe(0);
    await tab.page.click('.w9p-files [data-role="refresh"]');
    await tab.page.locator('.w9p-files tr.w9p-row[data-name="from-guest"]').waitFor();
    const download = tab.page.waitForEvent("download", { timeout: 300_000 });
    await tab.page.click('.w9p-files [data-role="export"]');
    const entries = await unpackTar(gunzipSync(await readFile(await (await download).path())));
    const note = entries.find((e) => e.header.name === "from-guest/note.txt");
    expect(new TextDecoder().decode(note?.data)).toBe("written in the guest\n");
    // Kept as an artifact: the booted workspace with its panels.
    await mkdir(join(REPO_ROOT, "test-results"), { recursive: true });
    await tab.page.screenshot({ path: join(REPO_ROOT, "test-results", `workspace-with-panels-${storage}.png`) });
  }, 600_000);
});
