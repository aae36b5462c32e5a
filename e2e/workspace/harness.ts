/**
 * Chromium on the workspace page (index.html), for tests and bench:workspace:
 *
 *   const h = await startWorkspaceHarness();
 *   const ws = await h.open({ tree: "t1", storage: "opfs" });   // a tab on /?tree=t1&storage=opfs
 *   await ws.ready();                                          // the guest's shell is usable
 *   const { status, output } = await ws.run("echo hi > f; cat f");
 *   await ws.reload();                                         // same tab, same storage
 *   await h.stop();
 *
 * The dev server is Vite with the guest-files plugin (the page's guest image); the browser is
 * Debian's chromium on a persistent profile (OPFS and IndexedDB on disk, as for a user).
 */
import type { BrowserContext, Page } from "playwright-core";
import type { PluginOption } from "vite";
import type { RunResult } from "../../src/workspace/protocol.js";
import { imageRegistry, guestFiles } from "../../scripts/workspace/guest-files.js";
import { launchBrowser } from "../browser/harness.js";

export interface WorkspaceQuery {
  tree?: string;
  storage?: "opfs" | "indexeddb" | "memory";
  fs?: "builtin";
  latencyMs?: number;
  image?: string;
  /** v86's scheduling (src/workspace/guest/v86-tick.ts). */
  tick?: "v86" | "same-thread";
  /** "tick": time 9P round trips and slices in the worker (guest/tick-profile.ts). */
  profile?: "tick";
}

export interface WorkspaceTab {
  readonly page: Page;
  /** Resolves when window.workspace.ready does (generous default timeout: a boot under load). */
  ready(timeoutMs?: number): Promise<void>;
  run(script: string, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** window.workspace.state */
  state(): Promise<string>;
  /** Wait until window.workspace.state is `state`. */
  waitForState(state: string, timeoutMs?: number): Promise<void>;
  reload(): Promise<void>;
  close(): Promise<void>;
}

export interface WorkspaceHarness {
  readonly baseUrl: string;
  readonly context: BrowserContext;
  open(query?: WorkspaceQuery): Promise<WorkspaceTab>;
  stop(): Promise<void>;
}

export function workspaceUrl(baseUrl: string, query: WorkspaceQuery = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return `${baseUrl}/${s ? `?${s}` : ""}`;
}

export async function startWorkspaceHarness(options: { verbose?: boolean; args?: string[]; plugins?: PluginOption[]; images?: string[] } = {}): Promise<WorkspaceHarness> {
  // Build the guest images (default: busybox) before the browser asks for them: a first build
  // downloads Debian packages (and for "debian" builds the root, minutes). The plugin serves from
  // this registry, so nothing is prepared twice.
  const log = options.verbose ? (l: string) => console.log(l) : () => {};
  const registry = imageRegistry({ log });
  for (const name of options.images ?? ["busybox"]) await registry.get(name);
  const { baseUrl, context, stop } = await launchBrowser({
    verbose: options.verbose,
    plugins: [...(options.plugins ?? []), guestFiles({ registry })],
    args: options.args ?? [],
    viewport: { width: 1280, height: 800 },
  });

  const open = async (query: WorkspaceQuery = {}): Promise<WorkspaceTab> => {
    const blank = context.pages().find((p) => p.url() === "about:blank");
    const page = blank ?? (await context.newPage());
    if (options.verbose) {
      page.on("console", (m) => console.log(`[page] ${m.text()}`));
      page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
      page.on("worker", (w) => w.on("console", (m) => console.log(`[worker] ${m.text()}`)));
    }
    const url = workspaceUrl(baseUrl, query);
    await page.goto(url);
    const tab: WorkspaceTab = {
      page,
      async ready(timeoutMs = 240_000) {
        await page.waitForFunction(() => window.workspace !== undefined, undefined, { timeout: timeoutMs });
        await page.evaluate((t) => {
          let timer: ReturnType<typeof setTimeout>;
          const timeout = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`the workspace was not ready within ${t} ms (state ${window.workspace!.state})`)), t);
          });
          return Promise.race([window.workspace!.ready, timeout]).finally(() => clearTimeout(timer));
        }, timeoutMs);
      },
      run: (script, runOptions) =>
        page.evaluate(({ script, runOptions }) => window.workspace!.run(script, runOptions), { script, runOptions: runOptions ?? {} }),
      state: () => page.evaluate(() => window.workspace?.state ?? "none"),
      async waitForState(state, timeoutMs = 240_000) {
        await page.waitForFunction((s) => window.workspace?.state === s, state, { timeout: timeoutMs, polling: 100 });
      },
      async reload() {
        await page.reload();
      },
      async close() {
        await page.close();
      },
    };
    return tab;
  };

  return {
    baseUrl,
    context,
    open,
    stop,
  };
}
