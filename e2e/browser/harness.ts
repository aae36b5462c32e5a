/**
 * Node side of the browser harness: a Vite dev server over the repo (so
 * `/src/...` and `/e2e/...` modules are served as ESM, TypeScript transformed
 * on the fly), Debian's chromium driven by playwright-core, and helpers to run
 * an exported function of any served module inside a dedicated worker.
 *
 * Reusable beyond the storage tests: the 9P stack runs in a dedicated worker
 * too, so later suites (and the browser benchmark) start the same harness:
 *
 *   const h = await startBrowserHarness();
 *   // Any served module's export (arg, ctx) => result, run in a fresh worker:
 *   const r = await h.runInWorker("/e2e/browser/raw-throughput.ts", "rawOpfs", { blockSize: 512 * 1024 });
 *   // Or keep a worker, stream progress from it, kill it mid-way:
 *   const w = await h.spawnWorker("server");
 *   const call = await w.start("/e2e/browser/my-suite.ts", "serve", { ... });
 *   await call.waitForProgress(1);
 *   await w.terminate();
 *   await h.stop();
 *
 * Worker-side functions take one structured-cloneable argument and a
 * WorkerContext (protocol.ts) and return a structured-cloneable value;
 * errors come back with the worker's stack.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type CDPSession, type Page } from "playwright-core";
import { createServer, type PluginOption, type ViteDevServer } from "vite";
import type { CallOutcome, CallStatus, SerializedError } from "./protocol.js";

export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags known to work on these machines (see /work/shared/reference/browser.md). */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const REPO_ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const TEST_PAGE = "/e2e/browser/index.html";

/** Install Debian's chromium with scripts/setup-browser.sh if it is missing. Never lets a tool download its own browser. */
export function ensureChromium(): void {
  if (existsSync(CHROMIUM_PATH)) return;
  try {
    execFileSync("sh", [join(REPO_ROOT, "scripts/setup-browser.sh")], { stdio: ["ignore", "inherit", "inherit"] });
  } catch {
    throw new Error(`${CHROMIUM_PATH} is missing and scripts/setup-browser.sh could not install it`);
  }
}

export interface HarnessOptions {
  /** Extra Chromium flags. */
  args?: string[];
  /** Show Vite's and the page's console output. */
  verbose?: boolean;
}

export interface CallHandle<R> {
  readonly callId: number;
  /** Progress values reported so far by the worker function. */
  progress(): Promise<unknown[]>;
  /** Resolve once at least `n` progress values were reported (or the call ended). */
  waitForProgress(n: number, timeoutMs?: number): Promise<unknown[]>;
  /** The function's result; rejects with the worker-side error. */
  result(): Promise<R>;
}

export interface WorkerHandle {
  readonly id: number;
  readonly page: Page;
  run<R = unknown>(url: string, fn: string, arg?: unknown): Promise<R>;
  start<R = unknown>(url: string, fn: string, arg?: unknown): Promise<CallHandle<R>>;
  /** Kill it now, mid-whatever (a crash as far as storage is concerned). */
  terminate(): Promise<void>;
}

/** One test page at one origin, and the dedicated workers it runs. */
export interface PageSession {
  /** The origin's storage (IndexedDB, OPFS, quota) is its own. */
  readonly origin: string;
  /** The current test page (replaced by crashAndReopen()). */
  readonly page: Page;
  spawnWorker(name?: string): Promise<WorkerHandle>;
  /** Spawn a fresh worker, run `fn` from module `url` in it, terminate it. */
  runInWorker<R = unknown>(url: string, fn: string, arg?: unknown): Promise<R>;
  /** Reload the test page: every worker dies, storage stays. */
  reload(): Promise<void>;
  /** Crash the page's renderer (workers included) via CDP and open a fresh test page. */
  crashAndReopen(): Promise<void>;
  cdp(): Promise<CDPSession>;
  /** Lower (or, with undefined, restore) the origin's storage quota through the DevTools protocol. */
  setQuota(bytes: number | undefined): Promise<void>;
  close(): Promise<void>;
}

export interface BrowserHarness extends PageSession {
  /** The dev server, as http://127.0.0.1:port. */
  readonly baseUrl: string;
  readonly context: BrowserContext;
  readonly userDataDir: string;
  /**
   * A test page at another origin, e.g. openSession("quota.localhost") for
   * http://quota.localhost:port (Chromium resolves *.localhost to loopback
   * itself): storage that no earlier test has touched.
   */
  openSession(host: string): Promise<PageSession>;
  stop(): Promise<void>;
}

function toError(e: SerializedError, where: string): Error {
  const err = new Error(`${e.name}: ${e.message} (in ${where})`);
  err.name = e.name;
  if (e.stack) err.stack = `${err.name}: ${err.message}\n    --- worker stack ---\n${e.stack}`;
  return err;
}

function unwrap<R>(outcome: CallOutcome, where: string): R {
  if (outcome.ok) return outcome.value as R;
  throw toError(outcome.error, where);
}

/**
 * Vite's dev server for a browser test on the checkout, on a free loopback port. Other engineers
 * edit the checkout while tests run: no watcher, no HMR reloads in the middle of a test, and a
 * private dependency cache (`cacheDir`, the caller removes it). Dependency discovery would
 * re-optimize and force a page reload on first use of a bare import; the deps used are plain ESM.
 */
export async function startDevServer(options: { verbose?: boolean; plugins?: PluginOption[] } = {}): Promise<{ server: ViteDevServer; port: number; baseUrl: string; cacheDir: string }> {
  const cacheDir = await mkdtemp(join(tmpdir(), "worker9p-vite-"));
  const server: ViteDevServer = await createServer({
    root: REPO_ROOT,
    // The repo's config is the vitest one; the harness needs none of it.
    configFile: false,
    plugins: options.plugins ?? [],
    logLevel: options.verbose ? "info" : "error",
    clearScreen: false,
    cacheDir,
    server: { port: 0, host: "127.0.0.1", strictPort: false, hmr: false, watch: null },
    optimizeDeps: { noDiscovery: true, include: [] },
    worker: { format: "es" },
  });
  await server.listen();
  const address = server.httpServer?.address();
  if (!address || typeof address === "string") {
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
    throw new Error("vite dev server has no TCP address");
  }
  return { server, port: address.port, baseUrl: `http://127.0.0.1:${address.port}`, cacheDir };
}

/** A dev server and Debian's Chromium on a fresh profile, and how to stop both and remove their folders. */
export interface LaunchedBrowser {
  port: number;
  baseUrl: string;
  context: BrowserContext;
  userDataDir: string;
  stop(): Promise<void>;
}

export async function launchBrowser(options: {
  verbose?: boolean;
  plugins?: PluginOption[];
  args?: string[];
  viewport?: { width: number; height: number };
}): Promise<LaunchedBrowser> {
  ensureChromium();
  const { server, port, baseUrl, cacheDir } = await startDevServer({ verbose: options.verbose, plugins: options.plugins });
  // A persistent context on a fresh directory: storage is on disk as in a real
  // profile (incognito-like contexts keep IndexedDB and OPFS in memory), and
  // it survives reloads and renderer crashes.
  const userDataDir = await mkdtemp(join(tmpdir(), "worker9p-chromium-"));
  const removeFolders = async () => {
    await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    await rm(cacheDir, { recursive: true, force: true }).catch(() => {});
  };
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_FLAGS, ...(options.args ?? [])],
      ...(options.viewport ? { viewport: options.viewport } : {}),
    });
  } catch (e) {
    await server.close();
    await removeFolders();
    throw e;
  }
  return {
    port,
    baseUrl,
    context,
    userDataDir,
    async stop() {
      await context.close().catch(() => {});
      await server.close().catch(() => {});
      await removeFolders();
    },
  };
}

export async function startBrowserHarness(options: HarnessOptions = {}): Promise<BrowserHarness> {
  const { port, baseUrl, context, userDataDir, stop } = await launchBrowser({ verbose: options.verbose, args: options.args });


  async function openSession(host: string): Promise<PageSession> {
    const sessionOrigin = `http://${host}:${port}`;
    const url = sessionOrigin + TEST_PAGE;
    let cdpSession: CDPSession | undefined;

    async function load(p: Page): Promise<Page> {
      if (options.verbose) p.on("console", (m) => console.log(`[page ${host}] ${m.text()}`));
      await p.goto(url);
      await p.waitForFunction(() => window.__harness?.ready === true);
      return p;
    }
    // The persistent context starts with one blank page: use it for the first session.
    const blank = context.pages().find((p) => p.url() === "about:blank");
    let page = await load(blank ?? (await context.newPage()));

    async function spawnWorker(name = "test-worker"): Promise<WorkerHandle> {
      const p = page;
      const id = await p.evaluate((n) => window.__harness!.spawn(n), name);
      const handle: WorkerHandle = {
        id,
        page: p,
        async run<R>(url: string, fn: string, arg?: unknown): Promise<R> {
          const call = await handle.start<R>(url, fn, arg);
          return call.result();
        },
        async start<R>(url: string, fn: string, arg?: unknown): Promise<CallHandle<R>> {
          const where = `${url}#${fn} in worker ${name}`;
          const callId = await p.evaluate(({ id, url, fn, arg }) => window.__harness!.start(id, url, fn, arg), { id, url, fn, arg: arg ?? null });
          const status = (): Promise<CallStatus> => p.evaluate((c) => window.__harness!.status(c), callId);
          return {
            callId,
            progress: async () => (await status()).progress,
            async waitForProgress(n: number, timeoutMs = 30_000) {
              await p.waitForFunction(
                ({ c, n }) => {
                  const s = window.__harness!.status(c);
                  return s.done || s.progress.length >= n;
                },
                { c: callId, n },
                { timeout: timeoutMs, polling: 5 },
              );
              return (await status()).progress;
            },
            async result() {
              const outcome = await p.evaluate((c) => window.__harness!.wait(c), callId);
              return unwrap<R>(outcome, where);
            },
          };
        },
        async terminate() {
          await p.evaluate((w) => window.__harness!.terminate(w), id);
        },
      };
      return handle;
    }

    const session: PageSession = {
      origin: sessionOrigin,
      get page() {
        return page;
      },
      spawnWorker,
      async runInWorker<R>(url: string, fn: string, arg?: unknown): Promise<R> {
        const w = await spawnWorker(fn);
        try {
          return await w.run<R>(url, fn, arg);
        } finally {
          await w.terminate().catch(() => {});
        }
      },
      async reload() {
        await page.reload();
        await page.waitForFunction(() => window.__harness?.ready === true);
      },
      async crashAndReopen() {
        const s = await context.newCDPSession(page);
        // Page.crash never answers: the renderer dies under it.
        void s.send("Page.crash").catch(() => {});
        await page.waitForEvent("crash", { timeout: 10_000 }).catch(() => {});
        await page.close().catch(() => {});
        cdpSession = undefined;
        page = await load(await context.newPage());
      },
      async cdp() {
        if (!cdpSession) cdpSession = await context.newCDPSession(page);
        return cdpSession;
      },
      async setQuota(bytes) {
        const s = await session.cdp();
        await s.send("Storage.overrideQuotaForOrigin", bytes === undefined ? { origin: sessionOrigin } : { origin: sessionOrigin, quotaSize: bytes });
      },
      async close() {
        await page.close().catch(() => {});
      },
    };
    return session;
  }

  const main = await openSession("127.0.0.1");
  const harness: BrowserHarness = {
    baseUrl,
    context,
    userDataDir,
    get origin() {
      return main.origin;
    },
    get page() {
      return main.page;
    },
    spawnWorker: (name) => main.spawnWorker(name),
    runInWorker: (url, fn, arg) => main.runInWorker(url, fn, arg),
    reload: () => main.reload(),
    crashAndReopen: () => main.crashAndReopen(),
    cdp: () => main.cdp(),
    setQuota: (bytes) => main.setQuota(bytes),
    close: () => main.close(),
    openSession,
    stop,
  };
  return harness;
}
