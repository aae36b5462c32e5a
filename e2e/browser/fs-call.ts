/**
 * Node side: call an export of a served page module (default fs-page.ts) in
 * the test page's main thread.
 *
 * The page function is passed as source text, not as a function object:
 * vitest and tsx transform the test file (dynamic import() is rewritten to the
 * module runner's own loader, helpers like __name are injected), and a
 * function's toString() would carry those into the page, where they do not
 * exist. (A string that evaluates to a function is not called by
 * playwright, so the call is spelled out in the text as well.)
 */
import type { Page } from "playwright-core";

export const FS_PAGE = "/e2e/browser/fs-page.ts";

const CALL_SOURCE = `async ({ url, fn, arg }) => {
  const mod = await import(url);
  if (typeof mod[fn] !== "function") throw new Error(url + " does not export a function " + fn);
  return await mod[fn](arg);
}`;

/** `arg` must survive JSON (it is written into the source text). */
export function callInPage<R = unknown>(page: Page, fn: string, arg?: unknown, url = FS_PAGE): Promise<R> {
  const call = JSON.stringify({ url, fn, arg: arg ?? null });
  return page.evaluate(`(${CALL_SOURCE})(${call})`) as Promise<R>;
}
