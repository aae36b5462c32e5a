// The workspace page when its worker dies (terminated, crashed, out of memory): the worker holds
// the tree's server AND the guest, and tells nobody when it goes. The page must say so, fail what
// waits on the worker, and a reload must open the same tree again. The worker is ended from inside
// (self.close(), as terminate() would), while the guest is still booting or just booted: a run()
// is pending either way, so nothing here waits on a clock. One guest boot (after the reload).
// W9P_SKIP_BROWSER=1 skips this file.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { REPO_ROOT } from "./browser/harness.js";
import { startWorkspaceHarness, type WorkspaceHarness } from "./workspace/harness.js";

const skip = process.env.W9P_SKIP_BROWSER === "1";
const BOOT_MS = 600_000;

let h: WorkspaceHarness;

beforeAll(async () => {
  if (!skip) h = await startWorkspaceHarness({ verbose: process.env.W9P_VERBOSE === "1" });
}, 900_000);
afterAll(async () => {
  await h?.stop();
});

declare global {
  interface Window {
    pendingRun?: Promise<unknown>;
  }
}

/** A cap on waits that should end at once: a hang fails the test instead of the suite (no result depends on it). */
const HANG_MS = 60_000;
/** How a page-side promise settled: "resolved", or "rejected: " and its message; "hangs" past HANG_MS. */
const settled = (what: string) =>
  `Promise.race([Promise.resolve(${what}).then(() => "resolved", (e) => "rejected: " + e.message), new Promise((r) => setTimeout(() => r("hangs"), ${HANG_MS}))])`;

test.skipIf(skip)(
  "the workspace's worker dies: run() rejects, the page says so and offers a reload, which boots again on the same tree",
  async () => {
    const tree = `ws-death-${process.pid}`;
    const tab = await h.open({ tree, storage: "opfs", image: "busybox" });
    const page = tab.page;
    await page.waitForFunction(() => window.workspace?.fileServer !== undefined, undefined, { timeout: 240_000 });
    // A file put in the tree before the death, to find after the reload.
    await page.evaluate(`(async () => {
      const { Client, portTransport } = await import("/src/index.ts");
      const client = await Client.connect(portTransport(window.workspace.fileServer.connect()));
      await client.writeFile("before-death.txt", "written before the worker died\\n");
      client.close();
    })()`);
    // A script that never ends by itself: pending whether the guest is still booting or ready.
    await page.evaluate(() => {
      window.pendingRun = window.workspace!.run("sleep 100000");
      window.pendingRun.catch(() => {});
    });

    const worker = page.workers().find((w) => w.url().includes("worker/workspace.ts"));
    expect(worker, "the workspace's worker").toBeDefined();
    await worker!.evaluate(() => self.close()).catch(() => {}); // the context may end before it answers

    const message = /rejected: The workspace's worker stopped \(it was terminated, crashed or ran out of memory\)[\s\S]*Reload the page/;
    expect(await page.evaluate(settled("window.pendingRun"))).toMatch(message);
    await tab.waitForState("failed", 60_000);
    // Later calls fail at once, with the same words; none waits on the dead worker.
    expect(await page.evaluate(settled("window.workspace.run('true')"))).toMatch(message);
    expect(await page.evaluate(settled("window.workspace.restart()"))).toMatch(message);
    expect(await page.evaluate(settled("window.workspace.reset()"))).toMatch(message);
    expect(await page.evaluate(settled("window.workspace.ready"))).toMatch(message);
    // The page: the message over the terminal with the way out, the panels' place saying why they are gone.
    const overlay = page.locator(".overlay:not([hidden])");
    await expect.poll(() => overlay.innerText(), { timeout: 60_000 }).toMatch(/worker stopped[\s\S]*Changes the tree had saved are kept/);
    expect(await page.locator(".side .panel.lost").innerText()).toContain("Reload the page to see your files again");
    expect(await page.locator("header .state").innerText()).toBe("stopped");
    // No toast repeats it as "EIO: 9P connection closed" (a panel poll in flight at the death did, in a CI run).
    expect(await page.locator(".toasts .toast").count()).toBe(0);
    await mkdir(join(REPO_ROOT, "test-results"), { recursive: true });
    await page.screenshot({ path: join(REPO_ROOT, "test-results", "workspace-worker-lost.png") });

    // The dead worker's tree lock went with it: the reload opens the same tree and boots.
    await Promise.all([page.waitForEvent("load"), overlay.locator("button", { hasText: "Reload the page" }).click()]);
    await tab.ready(BOOT_MS);
    expect(await tab.run("cat before-death.txt")).toEqual({ status: 0, output: "written before the worker died\n" });
  },
  BOOT_MS + 300_000,
);
