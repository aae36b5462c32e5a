/**
 * npm run bench:image -- [--repeat N] [--only worker9p,v86,busybox] [--verbose]
 *
 * The Debian root booted in the workspace page (Chromium), side by side in one run:
 *   worker9p  the tree (OPFS) over the worker9p base image, pieces fetched by Range requests and
 *             cached in IndexedDB (the default workspace);
 *   v86       the same tree in v86's own format (fs.json v3 + sha256-named blobs,
 *             scripts/image/v86-format.ts), booted by v86's built-in 9P (`?fs=builtin`), which
 *             fetches each file whole on first open and keeps nothing but the HTTP cache;
 *   busybox   the small image (worker9p, OPFS home), whose warm boot is the yardstick.
 * Per variant: a cold boot (the origin's storage and the HTTP cache cleared, a fresh tree) to a
 * ready shell, then the first `python3 -c 'print(1)'`, then compiling and running hello.c; then a
 * warm boot (the page opened again on the same tree). Bytes are counted where the dev server
 * sends them (base image / v86 files only: the kernel and initramfs are the same for all).
 * Step times are the guest's (/proc/uptime, 10 ms), boot times the page's (navigation → ready,
 * performance.now() in the page).
 * Targets (issue 11): cold boot + python3 + cc fetch ≤ 15 % of the image; cold and warm boots
 * faster than v86's; warm boot ≤ 1.2× busybox's.
 */
import { promises as fsp } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import type { CDPSession } from "playwright-core";
import type { Plugin } from "vite";
import { checkManifest, MANIFEST_FILE } from "../../src/storage/image/format.js";
import { startWorkspaceHarness, type WorkspaceHarness, type WorkspaceQuery } from "../../e2e/workspace/harness.js";
import { ensureDebianRoot } from "../image/root.js";
import { ensureV86Format } from "../image/v86-format.js";

const MiB = 2 ** 20;
const VARIANTS = ["worker9p", "v86", "busybox"] as const;
type Variant = (typeof VARIANTS)[number];

/** Where each variant's image data is served (scripts/workspace/guest-files.ts). */
const SERVED_PREFIX: Record<Variant, string> = { worker9p: "/__guest/debian/base/", v86: "/__guest/debian/v86/", busybox: "/__guest/busybox/" };

interface Served {
  bytes: number;
  requests: number;
}

/** A Vite plugin counting the response bytes the dev server sends, by URL path prefix. */
function servedCounter(): { plugin: Plugin; read(prefix: string): Served } {
  const byPath = new Map<string, Served>();
  const plugin: Plugin = {
    name: "bench-served-bytes",
    enforce: "pre",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const key = new URL(req.url ?? "/", "http://x").pathname;
        const entry = byPath.get(key) ?? { bytes: 0, requests: 0 };
        byPath.set(key, entry);
        entry.requests++;
        const count = (chunk: unknown) => {
          if (typeof chunk === "string") entry.bytes += Buffer.byteLength(chunk);
          else if (chunk instanceof Uint8Array) entry.bytes += chunk.length;
        };
        const write = res.write.bind(res) as (...a: unknown[]) => boolean;
        const end = res.end.bind(res) as (...a: unknown[]) => typeof res;
        res.write = ((...a: unknown[]) => (count(a[0]), write(...a))) as typeof res.write;
        res.end = ((...a: unknown[]) => (typeof a[0] !== "function" && count(a[0]), end(...a))) as typeof res.end;
        next();
      });
    },
  };
  const read = (prefix: string): Served => {
    const sum = { bytes: 0, requests: 0 };
    for (const [p, e] of byPath) if (p.startsWith(prefix)) (sum.bytes += e.bytes), (sum.requests += e.requests);
    return sum;
  };
  return { plugin, read };
}

interface Step {
  ms: number;
  fetched: Served;
}

interface Result {
  variant: Variant;
  cold: Step;
  python?: Step;
  cc?: Step;
  warm: Step;
}

const PYTHON = "python3 -c 'print(1)'";
const CC = `cd /tmp && printf '#include <stdio.h>\\nint main(void) { puts("hello"); return 0; }\\n' > hello.c && cc hello.c -o hello && ./hello`;

/** A command timed by the guest: /proc/uptime read by the shell's builtin `read` (fetches nothing). */
function timed(command: string): string {
  return `read a _ < /proc/uptime\n( ${command} )\nr=$?\nread b _ < /proc/uptime\necho "W9P-STEP $a $b $r"\n`;
}

async function clearOrigin(h: WorkspaceHarness): Promise<void> {
  const page = h.context.pages()[0] ?? (await h.context.newPage());
  const cdp: CDPSession = await h.context.newCDPSession(page);
  try {
    await cdp.send("Storage.clearDataForOrigin", { origin: h.baseUrl, storageTypes: "all" });
    await cdp.send("Network.clearBrowserCache");
  } finally {
    await cdp.detach();
  }
}

async function runVariant(h: WorkspaceHarness, counter: ReturnType<typeof servedCounter>, variant: Variant, round: number): Promise<Result> {
  const tree = `bench-image-${variant}-${round}-${process.pid}`;
  const query: WorkspaceQuery =
    variant === "v86" ? { fs: "builtin", image: "debian" } : variant === "worker9p" ? { image: "debian", storage: "opfs", tree } : { image: "busybox", storage: "opfs", tree };
  const prefix = SERVED_PREFIX[variant];
  const since = (before: Served): Served => {
    const now = counter.read(prefix);
    return { bytes: now.bytes - before.bytes, requests: now.requests - before.requests };
  };
  const boot = async (): Promise<{ tab: Awaited<ReturnType<WorkspaceHarness["open"]>>; step: Step }> => {
    const before = counter.read(prefix);
    const t0 = performance.now();
    const tab = await h.open(query);
    await tab.ready(1_800_000);
    // The page's own clock (navigation start → ready): the product's time, not the harness's tab opening.
    const pageMs = await tab.page.evaluate(() => performance.now());
    console.error(`bench:image: ${variant}: ready ${(pageMs / 1000).toFixed(1)} s after navigation (${((performance.now() - t0) / 1000).toFixed(1)} s after asking for a tab)`);
    return { tab, step: { ms: pageMs, fetched: since(before) } };
  };
  const guestStep = async (tab: Awaited<ReturnType<WorkspaceHarness["open"]>>, command: string): Promise<Step> => {
    const before = counter.read(prefix);
    const r = await tab.run(timed(command), { timeoutMs: 1_800_000 });
    const m = /W9P-STEP (\S+) (\S+) (\d+)/.exec(r.output);
    if (r.status !== 0 || !m || m[3] !== "0") throw new Error(`${variant}: \`${command}\` failed (status ${r.status}):\n${r.output}`);
    return { ms: (Number(m[2]) - Number(m[1])) * 1000, fetched: since(before) };
  };

  await clearOrigin(h);
  const first = await boot();
  // worker9p's server counters at ready: how many 9P round trips the boot made (v86's own server answers inside the emulator).
  const bootRequests = await first.tab.page.evaluate(async () => {
    const server = (window.workspace as { fileServer?: { control: { stats(): Promise<{ requests: { requests: number } }> } } } | undefined)?.fileServer;
    return server ? (await server.control.stats()).requests.requests : undefined;
  });
  let python: Step | undefined;
  let cc: Step | undefined;
  try {
    if (variant !== "busybox") {
      python = await guestStep(first.tab, PYTHON);
      cc = await guestStep(first.tab, CC);
    }
    // The reader's own count, beside the server's (they differ by the index and retries).
    const reader = await first.tab.page.evaluate(async () => {
      const ws = window.workspace as { baseStats?: () => Promise<unknown> } | undefined;
      return ws?.baseStats ? JSON.stringify(await ws.baseStats()) : undefined;
    });
    if (reader) console.error(`bench:image: ${variant}: the base image reader after cc: ${reader}`);
    if (bootRequests !== undefined) console.error(`bench:image: ${variant}: 9P requests to a ready shell: ${bootRequests} (${(first.step.ms / bootRequests).toFixed(2)} ms of boot each)`);
  } finally {
    await first.tab.close();
  }
  const second = await boot();
  await second.tab.close();
  return { variant, cold: first.step, ...(python ? { python } : {}), ...(cc ? { cc } : {}), warm: second.step };
}

/** The fastest of the rounds for a time, the first round's bytes (they do not vary). */
function best(results: Result[], variant: Variant, pick: (r: Result) => Step | undefined): Step | undefined {
  const steps = results.filter((r) => r.variant === variant).map(pick).filter((s): s is Step => s !== undefined);
  if (steps.length === 0) return undefined;
  return { ms: Math.min(...steps.map((s) => s.ms)), fetched: steps[0]!.fetched };
}

function table(results: Result[], imageBytes: Record<"worker9p" | "v86", number>): string {
  const secs = (s?: Step) => (s ? (s.ms / 1000).toFixed(2) : "–");
  const ratio = (a?: number, b?: number) => (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(2)}×` : "–");
  const mib = (s: Served | undefined, v: "worker9p" | "v86") =>
    s ? `${(s.bytes / MiB).toFixed(1)} (${((100 * s.bytes) / imageBytes[v]).toFixed(1)} %), ${s.requests} req.` : "–";
  const sum = (...steps: (Step | undefined)[]): Served | undefined =>
    steps.every((s) => s) ? steps.reduce((t, s) => ({ bytes: t.bytes + s!.fetched.bytes, requests: t.requests + s!.fetched.requests }), { bytes: 0, requests: 0 }) : undefined;
  const rows: string[] = [
    "| Debian root in the workspace page | worker9p: OPFS tree over the base image | v86: built-in 9P on basefs | worker9p ÷ v86 |",
    "|---|---:|---:|---:|",
  ];
  const pick = (v: "worker9p" | "v86", f: (r: Result) => Step | undefined) => best(results, v, f);
  const timeRow = (label: string, f: (r: Result) => Step | undefined) => {
    const [a, b] = [pick("worker9p", f), pick("v86", f)];
    rows.push(`| ${label}, s | ${secs(a)} | ${secs(b)} | ${ratio(a?.ms, b?.ms)} |`);
    rows.push(`| … fetched, MiB (% of image) | ${mib(a?.fetched, "worker9p")} | ${mib(b?.fetched, "v86")} | ${ratio(a?.fetched.bytes, b?.fetched.bytes)} |`);
  };
  timeRow("cold boot to a ready shell", (r) => r.cold);
  timeRow(`first \`${PYTHON}\``, (r) => r.python);
  timeRow("first `cc hello.c && ./hello`", (r) => r.cc);
  const total = (v: "worker9p" | "v86") => sum(pick(v, (r) => r.cold), pick(v, (r) => r.python), pick(v, (r) => r.cc));
  const [tw, tv] = [total("worker9p"), total("v86")];
  rows.push(`| **cold boot + python3 + cc fetched**, MiB (% of image) | ${mib(tw, "worker9p")} | ${mib(tv, "v86")} | ${ratio(tw?.bytes, tv?.bytes)} |`);
  timeRow("warm boot to a ready shell (page opened again)", (r) => r.warm);
  const bb = best(results, "busybox", (r) => r.warm);
  const ww = pick("worker9p", (r) => r.warm);
  rows.push(`| busybox image (worker9p, OPFS home): warm boot, s | ${secs(bb)} | | Debian worker9p warm ÷ busybox warm: ${ratio(ww?.ms, bb?.ms)} |`);
  const lines = [rows.join("\n"), "", "targets (issue 11):"];
  const verdict = (ok: boolean | undefined) => (ok === undefined ? "not measured" : ok ? "met" : "MISSED");
  const wc = pick("worker9p", (r) => r.cold);
  const vc = pick("v86", (r) => r.cold);
  const vw = pick("v86", (r) => r.warm);
  lines.push(`- cold boot + python3 + cc fetch ≤ 15 % of the image: ${tw ? `${((100 * tw.bytes) / imageBytes.worker9p).toFixed(1)} %` : "–"}: ${verdict(tw && tw.bytes <= 0.15 * imageBytes.worker9p)}`);
  lines.push(`- cold boot faster than v86's: ${ratio(wc?.ms, vc?.ms)}: ${verdict(wc && vc ? wc.ms < vc.ms : undefined)}`);
  lines.push(`- warm boot faster than v86's: ${ratio(ww?.ms, vw?.ms)}: ${verdict(ww && vw ? ww.ms < vw.ms : undefined)}`);
  lines.push(`- warm boot ≤ 1.2× busybox's: ${ratio(ww?.ms, bb?.ms)}: ${verdict(ww && bb ? ww.ms <= 1.2 * bb.ms : undefined)}`);
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { repeat: { type: "string", default: "1" }, only: { type: "string" }, verbose: { type: "boolean", default: false } },
  });
  const variants = (values.only ? values.only.split(",") : [...VARIANTS]) as Variant[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`--only: unknown variant ${v} (use ${VARIANTS.join(",")})`);
  const log = (l: string) => console.error(l);
  // Everything the page will ask for is made before the clock runs (the v86 format: minutes, once).
  const { image: debian, baseDir: base } = await ensureDebianRoot({ log });
  const manifestFile = path.join(base, MANIFEST_FILE);
  const manifestBytes = await fsp.readFile(manifestFile);
  const manifest = checkManifest(JSON.parse(manifestBytes.toString("utf8")), manifestFile);
  const v86 = await ensureV86Format(debian, log);
  const imageBytes = {
    worker9p: manifest.storedBytes + manifest.index.bytes + manifestBytes.length,
    v86: v86.blobBytes + (await fsp.stat(v86.basefs)).size,
  };
  const counter = servedCounter();
  // The harness prepares both images before it serves them (the root is at hand by now).
  const h = await startWorkspaceHarness({ verbose: values.verbose, plugins: [counter.plugin], images: ["debian", "busybox"] });
  const results: Result[] = [];
  try {
    // The dev server transforms the page's modules on first use: not timed.
    log("bench:image: warming up the page (busybox, memory tree) …");
    const warmup = await h.open({ image: "busybox", storage: "memory", tree: "warmup" });
    await warmup.ready(1_800_000);
    await warmup.close();
    const repeat = Math.max(1, Number(values.repeat) || 1);
    for (let round = 0; round < repeat; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
        log(`bench:image: ${v}, round ${round + 1}/${repeat} …`);
        const r = await runVariant(h, counter, v, round);
        log(`bench:image: ${v}: cold ${(r.cold.ms / 1000).toFixed(1)} s (${(r.cold.fetched.bytes / MiB).toFixed(1)} MiB), warm ${(r.warm.ms / 1000).toFixed(1)} s (${(r.warm.fetched.bytes / MiB).toFixed(1)} MiB)`);
        results.push(r);
      }
    }
  } finally {
    await h.stop();
  }
  console.log(`\nDebian bookworm i386 (${debian.key}) in the workspace page, Chromium, v86 in the page's worker; best of ${values.repeat} round(s)`);
  console.log(`image sizes: worker9p base image ${(imageBytes.worker9p / MiB).toFixed(1)} MiB (deflated pieces + index); v86 basefs ${(imageBytes.v86 / MiB).toFixed(1)} MiB (raw blobs + fs.json)\n`);
  console.log(table(results, imageBytes));
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:image: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
