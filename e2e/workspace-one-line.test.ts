// The one-line integration stays true: v86 on a page's main thread with
// `filesystem: { handle9p: server.handle9p }` boots Debian's kernel in Chromium and works on a
// worker9p tree (the workspace itself runs v86 in a worker; this is the path embedders take).
import { afterAll, beforeAll, expect, test } from "vitest";
import { startWorkspaceHarness, type WorkspaceHarness } from "./workspace/harness.js";

const skip = process.env.W9P_SKIP_BROWSER === "1";
let h: WorkspaceHarness;

beforeAll(async () => {
  if (!skip) h = await startWorkspaceHarness();
}, 900_000);
afterAll(async () => {
  await h?.stop();
});

test.skipIf(skip)("v86 on the page's main thread with handle9p: server.handle9p mounts the tree and runs a script in it", async () => {
  const page = await h.context.newPage();
  const script = "echo made-in-guest > made.txt && cat made.txt && grep -c ' /root 9p ' /proc/mounts; exit 5";
  await page.goto(`${h.baseUrl}/e2e/workspace/one-line.html?script=${encodeURIComponent(script)}`);
  await page.waitForFunction(() => window.oneLine !== undefined);
  const result = await page.evaluate(() => window.oneLine!.result);
  expect(result).toEqual({ status: 5, output: "made-in-guest\n1\n" });
  await page.close();
}, 900_000);
