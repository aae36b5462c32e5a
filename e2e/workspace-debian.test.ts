// The workspace's default image in Chromium: the Debian root (`npm run image`) boots in the page
// from a tree that is the user's layer (OPFS, IndexedDB) over the image's base image, fetched by
// Range requests from the dev server. A user gets bash in /root, python3 and cc work, changes to
// the system survive a reload, and reset brings the base back. One boot per step that needs one
// (first visit, reload, reset): each is minutes of CPU on a loaded machine, so the checks share
// them. W9P_SKIP_BROWSER=1 skips this file.
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureDebianImage } from "../scripts/image/build.js";
import type { BaseStats } from "../src/host/protocol.js";
import { REPO_ROOT } from "./browser/harness.js";
import { startWorkspaceHarness, type WorkspaceHarness, type WorkspaceTab } from "./workspace/harness.js";

const skip = process.env.W9P_SKIP_BROWSER === "1";
const BOOT_MS = 900_000;
const EDITED_MOTD = "edited in the workspace\n";

let h: WorkspaceHarness;
let baseMotd: string;

beforeAll(async () => {
  if (skip) return;
  // The harness prepares the root first (under its build lock, on a cold cache: minutes); then it is at hand.
  h = await startWorkspaceHarness({ verbose: process.env.W9P_VERBOSE === "1", images: ["debian"] });
  baseMotd = await readFile(join((await ensureDebianImage()).rootfs, "etc/motd"), "utf8");
}, 3_600_000);
afterAll(async () => {
  await h?.stop();
});

const terminalText = (tab: WorkspaceTab) => tab.page.evaluate(() => (document.querySelector(".xterm-rows") as HTMLElement).innerText);
/** Wait (on the page, by condition) until the terminal shows `text`. */
const waitForTerminal = (tab: WorkspaceTab, text: string) =>
  tab.page.waitForFunction((t) => (document.querySelector(".xterm-rows") as HTMLElement | null)?.innerText.includes(t) ?? false, text, {
    timeout: BOOT_MS,
    polling: 200,
  });

for (const storage of ["opfs", "indexeddb"] as const) {
  describe.skipIf(skip).sequential(`the Debian root on ${storage}`, () => {
    let tab: WorkspaceTab;

    test("boots by default: bash in /root on the console, python3 and cc work, the files panel opens at /root", async () => {
      // No ?image=: the server's default, which is the Debian root.
      tab = await h.open({ storage, tree: `debian-${storage}-${process.pid}` });
      await tab.ready(BOOT_MS);
      expect(await tab.page.evaluate(() => window.workspace!.image?.name)).toBe("debian");
      // The user's shell: a login bash with the console as its controlling tty, at a clean prompt.
      await waitForTerminal(tab, "root@debian:~#");
      await tab.page.locator(".xterm").click();
      await tab.page.keyboard.type('echo "tty=$(tty) login=$(shopt -q login_shell && echo yes) flags=$-"\n');
      await waitForTerminal(tab, "tty=/dev/ttyS0 login=yes flags=");
      expect(await terminalText(tab)).toMatch(/tty=\/dev\/ttyS0 login=yes flags=\S*m/); // m: job control is on

      // The console's tty has the terminal's size (the page sent it when the agent said ready).
      const rows = await tab.page.evaluate(() => document.querySelectorAll(".xterm-rows > div").length);
      expect(await tab.run("stty -F /dev/ttyS0 size")).toMatchObject({ status: 0, output: expect.stringMatching(new RegExp(`^${rows} [1-9]\\d*\n$`)) });
      expect(await tab.run("pwd; python3 -c 'print(1)'")).toEqual({ status: 0, output: "/root\n1\n" });
      const cc = await tab.run(
        "printf '#include <stdio.h>\\nint main(void) { puts(\"hello from cc\"); return 0; }\\n' > hello.c && cc -o hello hello.c && ./hello",
        { timeoutMs: BOOT_MS },
      );
      expect(cc).toEqual({ status: 0, output: "hello from cc\n" });
      // The panel starts in the home (the tree's root/), with the way up to / open.
      await tab.page.waitForFunction(() => document.querySelector(".w9p-crumbs")?.textContent?.endsWith("/root") ?? false, undefined, { timeout: 60_000 });
      expect(await tab.page.locator(".panel.files button[aria-label='Parent folder']").isDisabled()).toBe(false);
      // The status panel shows the figures of the booted guest (thousands of requests served; the second
      // storage's boot may fetch nothing, the base cache being the origin's), not those from before the boot.
      await tab.page.waitForFunction(
        () => Number(/([\d,]+) requests served/.exec(document.querySelector(".panel.status")?.textContent ?? "")?.[1]?.replace(/,/g, "") ?? 0) > 1000,
        undefined,
        { timeout: 60_000 },
      );
      // What a user sees: look at test-results/workspace-debian-*.png after a run.
      await mkdir(join(REPO_ROOT, "test-results"), { recursive: true });
      await tab.page.screenshot({ path: join(REPO_ROOT, "test-results", `workspace-debian-${storage}.png`) });
    }, BOOT_MS + 300_000);

    test("changes to the system survive a reload; the bare URL reopens the same tree and image", async () => {
      const w = await tab.run(`printf '${EDITED_MOTD.trimEnd()}\\n' > /etc/motd && rm /usr/bin/yes && sync`);
      expect(w).toEqual({ status: 0, output: "" });
      // A returning user: no ?tree=, ?storage= or ?image= (the tree and image opened last).
      await tab.page.goto(`${h.baseUrl}/`);
      await tab.ready(BOOT_MS);
      expect(await tab.page.evaluate(() => [window.workspace!.fileServer?.name, window.workspace!.image?.name])).toEqual([`debian-${storage}-${process.pid}`, "debian"]);
      const r = await tab.run("cat /etc/motd; ls /usr/bin/yes 2>&1 >/dev/null | grep -c 'No such file'; ./hello");
      expect(r).toEqual({ status: 0, output: `${EDITED_MOTD}1\nhello from cc\n` });
    }, BOOT_MS + 120_000);

    test("reset drops every change made over the base (the cached base stays); the tree checks clean", async () => {
      if (storage === "opfs") {
        // As the status panel resets (control.reset(), the panels open), with a run() asked while the
        // reset runs (posted after it): that run is the new guest's, on the reset tree. It failed with
        // the old guest gone (its machine undefined) or on the closed server of the dropped layer.
        const during = await tab.page.evaluate(() => {
          const reset = window.workspace!.fileServer!.control.reset();
          const run = window.workspace!.run("cat /etc/motd");
          return Promise.all([reset, run]).then(([, r]) => r);
        });
        expect(during).toEqual({ status: 0, output: baseMotd });
      } else {
        await tab.page.evaluate(() => window.workspace!.reset());
      }
      await tab.ready(BOOT_MS);
      const r = await tab.run("cat /etc/motd; yes | head -n 1; ls hello 2>&1 >/dev/null | grep -c 'No such file'");
      expect(r).toEqual({ status: 0, output: `${baseMotd}y\n1\n` });
      // This page's worker read the base from the cache the first visit filled, not the network alone.
      const base = (await tab.page.evaluate(() => window.workspace!.baseStats())) as BaseStats;
      expect(base.cacheHits).toBeGreaterThan(0);
      expect(base.fetchedBytes).toBeLessThan(base.imageBytes);
      const fsck = await tab.page.evaluate(() => window.workspace!.fileServer!.control.fsck());
      expect(fsck).toEqual({ ok: true, problems: [] });
      await tab.close();
    }, BOOT_MS + 120_000);
  });
}
