// The workspace page in Chromium (Debian's chromium via playwright-core): v86 boots Debian's
// kernel in the page's workspace worker, the tree is mounted at /root, and the tests drive it
// through the page API (window.workspace) and the page itself, as a user would. Every wait is on
// a condition (ready, a state, a server counter), with generous overall timeouts: a boot takes
// 20 s on an idle machine and minutes on a loaded one. W9P_SKIP_BROWSER=1 skips this file.
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REPO_ROOT } from "./browser/harness.js";
import { startWorkspaceHarness, type WorkspaceHarness, type WorkspaceTab } from "./workspace/harness.js";

const skip = process.env.W9P_SKIP_BROWSER === "1";
const BOOT_MS = 600_000;
/** The server's slow-file hook for the kill test: a read of slow* that is not cancelled would hang the test. */
const LATENCY_MS = 600_000;

let h: WorkspaceHarness;

beforeAll(async () => {
  if (!skip) h = await startWorkspaceHarness({ verbose: process.env.W9P_VERBOSE === "1" });
}, 900_000);
afterAll(async () => {
  await h?.stop();
});

/** Requests the server counted on the tab's tree. */
const serverStats = (tab: WorkspaceTab) =>
  tab.page.evaluate(async () => (await window.workspace!.fileServer!.control.stats()).requests);
const overlayText = (tab: WorkspaceTab) => tab.page.evaluate(() => (document.querySelector(".overlay:not([hidden])") as HTMLElement | null)?.innerText ?? "");
/** A button on the message that covers the terminal (busy tree, taken over, guest failed). */
const clickButton = (tab: WorkspaceTab, label: string) => tab.page.locator(".overlay:not([hidden]) button", { hasText: label }).click();

for (const storage of ["opfs", "indexeddb"] as const) {
  describe.skipIf(skip).sequential(`workspace on ${storage}`, () => {
    const tree = `ws-${storage}`;
    let tab: WorkspaceTab;

    test("the page boots the guest; run() runs a long multi-line script in the home directory", async () => {
      tab = await h.open({ tree, storage, latencyMs: LATENCY_MS, image: "busybox" });
      await tab.ready(BOOT_MS);
      expect(await tab.state()).toBe("ready");

      const r = await tab.run("pwd\necho to-stdout\necho to-stderr >&2\nexit 7\n");
      expect(r).toEqual({ status: 7, output: "/root\nto-stdout\nto-stderr\n" });

      // A script of over 64 KiB: a here-document the guest writes into the tree.
      const line = "0123456789abcdef".repeat(4) + "\n"; // 65 bytes
      const body = line.repeat(1100); // 71,500 bytes
      const big = await tab.run(`cat > big.txt <<'END'\n${body}END\nwc -c < big.txt\n`);
      expect(big.status).toBe(0);
      expect(big.output.trim()).toBe(String(body.length));
    }, BOOT_MS + 120_000);

    test("a file written in the guest survives a reload", async () => {
      const w = await tab.run("mkdir -p notes && echo 'kept across reloads' > notes/kept.txt && sync");
      expect(w.status).toBe(0);
      await tab.reload();
      await tab.ready(BOOT_MS);
      const r = await tab.run("cat notes/kept.txt; wc -c < big.txt");
      expect(r).toEqual({ status: 0, output: "kept across reloads\n71500\n" });
      const fsck = await tab.page.evaluate(() => window.workspace!.fileServer!.control.fsck());
      expect(fsck.problems).toEqual([]);
    }, BOOT_MS + 120_000);

    if (storage !== "opfs") return;

    test("a guest process blocked on a slow file is killed with SIGKILL; Tflush cancels it and the mount stays healthy", async () => {
      // `slowfile` is a hard link, so creating it costs no slow write.
      const setup = await tab.run("echo 'slow data' > fast.txt && ln -f fast.txt slowfile && echo ok");
      expect(setup.output).toBe("ok\n");
      const before = await serverStats(tab);
      // A reader that waits LATENCY_MS on the server, left running in the background.
      await tab.run("cat slowfile > /dev/null & echo $! > /tmp/reader.pid");
      await tab.page.waitForFunction(
        async (n) => (await window.workspace!.fileServer!.control.stats()).requests.inFlight > n,
        before.inFlight,
        { timeout: 120_000, polling: 200 },
      );
      // SIGKILL; the reader is gone only once the kernel's Tflush is answered (Rflush).
      const kill = await tab.run("p=$(cat /tmp/reader.pid); kill -9 $p; while kill -0 $p 2>/dev/null; do sleep 0.1; done; echo killed");
      expect(kill).toEqual({ status: 0, output: "killed\n" });
      const after = await serverStats(tab);
      expect(after.flushedBeforeCommit).toBeGreaterThan(before.flushedBeforeCommit);
      // The mount keeps working, and the tree is consistent.
      const r = await tab.run("echo after > after.txt && cat after.txt && cat fast.txt && ls");
      expect(r.status).toBe(0);
      expect(r.output).toContain("after\nslow data\n");
      const fsck = await tab.page.evaluate(() => window.workspace!.fileServer!.control.fsck());
      expect(fsck.problems).toEqual([]);
    }, 300_000);

    test("the booted workspace looks like a product (screenshot artifact test-results/workspace.png)", async () => {
      await tab.page.locator(".xterm").click();
      await tab.page.keyboard.type("echo hello from the terminal; ls\n");
      await tab.page.waitForFunction(() => (document.querySelector(".xterm-rows") as HTMLElement).innerText.includes("hello from the terminal\n"), undefined, {
        timeout: 120_000,
      });
      await mkdir(join(REPO_ROOT, "test-results"), { recursive: true });
      await tab.page.screenshot({ path: join(REPO_ROOT, "test-results", "workspace.png") });
    }, 300_000);

    test("a second tab says the tree is in use and can take it over; the first tab stops and says why", async () => {
      const second = await h.open({ tree, storage, image: "busybox" });
      await second.waitForState("busy", 120_000);
      expect(await overlayText(second)).toContain("is open in another tab");
      await clickButton(second, "Use it here instead");
      await second.ready(BOOT_MS);
      await tab.waitForState("taken", 120_000);
      expect(await overlayText(tab)).toContain("is now open in another tab");
      const r = await second.run("cat notes/kept.txt");
      expect(r).toEqual({ status: 0, output: "kept across reloads\n" });
      tab = second;
    }, BOOT_MS + 180_000);

    test("a guest that panics: the page says so and offers a restart; the tree stays intact", async () => {
      await expect(tab.run("echo c > /proc/sysrq-trigger")).rejects.toThrow(/stopped|panic/);
      await tab.waitForState("failed", 120_000);
      expect(await overlayText(tab)).toMatch(/panicked[\s\S]*tree is intact/);
      await clickButton(tab, "Restart the guest");
      await tab.ready(BOOT_MS);
      const r = await tab.run("cat notes/kept.txt");
      expect(r).toEqual({ status: 0, output: "kept across reloads\n" });
      const fsck = await tab.page.evaluate(() => window.workspace!.fileServer!.control.fsck());
      expect(fsck.problems).toEqual([]);
    }, BOOT_MS + 180_000);
  });
}
