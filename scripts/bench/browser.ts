// npm run bench:browser — worker9p's page API in headless Chromium, through the full 9P stack:
// createFileServer() (dedicated worker) + connect() (MessagePort) + the project's 9P Client, per
// store (opfs, indexeddb, memory), beside raw OPFS sync-handle and raw IndexedDB throughput for the
// same 512 KiB block size measured in the same run (e2e/browser/raw-throughput.ts, in a worker).
//
//   npm run bench:browser -- [--stores opfs,indexeddb] [--profile] [--checkpoint-ab] [--recycle-ab] [--detail] [--mib N] [--repeat N] [--small-ms N] [--no-layers] [--no-profile] [--json] [--mount-files N]
//
// Figures:
//   - sequential 512 KiB Twrite (Tfsync at the end included) and Tread, one request in flight —
//     the headline — and with 4 in flight;
//   - small operations with 32 in flight: Tgetattr on one fid (ops/s), and files created with
//     walk + Tlcreate + Twrite(100 B) + Tclunk (files/s; 4 requests each);
//   - lazy mount (--mount-files N, or 100,000 with --detail): a tree of N files, made with Tmknod and
//     left by a page reload, then createFileServer + the first Tgetattr answered (target ≤ 50 ms);
//   - targets: ≥ 0.7× raw for 512 KiB I/O, ≥ 10,000 small ops/s (judged on Tgetattr; the
//     create figure is printed beside it).
// --profile: after the headline table, each of its rows once more per store with the 9P worker's
// and the page's V8 CPU profiles recorded (DevTools protocol), as µs per request by category and
// the heaviest frames: what bounds each ratio (headlineProfiles).
// --recycle-ab: per store, 512 KiB writes and reads as in the headline through two clients of one
//   file server, one with recycled frame buffers (transport/frame-pool.ts) and one with exact frames
//   in fresh buffers (the wire before), alternating rounds; medians and ratios.
// --checkpoint-ab: OPFS creates with checkpoints that hold writers vs ones that let them go on
// (invariant 14) vs those written by the helper worker (invariant 15), alternating in one worker,
// beside the memory store.
// --detail: then where the time goes, one layer at a time (e2e/browser/fs-bench.ts): raw storage, the Store
// API (e2e/browser/store-bench.ts), the FileSystem API, Server + Client in one thread (9P codec and
// session, no MessagePort), the full stack; plus the MessagePort and the codec on their own; and V8
// CPU profiles (DevTools protocol) of the 9P worker and the page during one pass of each kind,
// summed into categories (e2e/browser/fs-profile.ts).
import { parseArgs } from "node:util";
import { startBrowserHarness } from "../../e2e/browser/harness.js";
import { callInPage } from "../../e2e/browser/fs-call.js";
import { attachProfilers, categorize, CATEGORIES, topFrames, type Category } from "../../e2e/browser/fs-profile.js";
import type { CodecResult, IdbFloorResult, LayerResult, PortResult, StackResult } from "../../e2e/browser/fs-bench.js";
import type { RawResult } from "../../e2e/browser/raw-throughput.js";
import type { StoreBenchResult } from "../../e2e/browser/store-bench.js";
import type { StorageKind } from "../../src/index.js";
import type { FreshIoResult, RawIdbFreshResult } from "../../e2e/browser/fresh-bench.js";
import { IDB_DEFAULT_CHUNK_SIZE } from "../../src/storage/indexeddb.js";
import type { LazyOpenReport } from "../../e2e/browser/fs-page.js";

const { values: opts } = parseArgs({
  options: {
    mib: { type: "string", default: "64" },
    repeat: { type: "string", default: "3" },
    "small-ms": { type: "string", default: "2000" },
    "no-layers": { type: "boolean", default: false },
    detail: { type: "boolean", default: false },
    rounds: { type: "string", default: "5" },
    blocks: { type: "string", default: "16" },
    "create-ms": { type: "string", default: "3000" },
    "no-profile": { type: "boolean", default: false },
    profile: { type: "boolean", default: false },
    "profile-top": { type: "string", default: "6" },
    "checkpoint-ab": { type: "boolean", default: false },
    "recycle-ab": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    "mount-files": { type: "string" },
    stores: { type: "string" },
    verbose: { type: "boolean", default: false },
  },
});

const KiB = 1024;
const MiB = 1024 * 1024;
const BLOCK = 512 * KiB;
const TOTAL = Number(opts.mib) * MiB;
const REPEAT = Number(opts.repeat);
const SMALL_MS = Number(opts["small-ms"]);
const DEPTH = 32;
/** --stores: a subset for A/B runs (the memory store is always measured: creates are judged against it). */
const STORES: StorageKind[] = ["opfs", "indexeddb", "memory"].filter((s) => s === "memory" || !opts.stores || opts.stores.split(",").includes(s)) as StorageKind[];
const BENCH = "/e2e/browser/fs-bench.ts";

const IO_TARGET = 0.7;
const SMALL_TARGET = 10_000;

function mdTable(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|")}|`, ...cells.slice(1).map(line)].join("\n");
}

const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const int = (x: number) => Math.round(x).toLocaleString("en-US");
const mark = (ok: boolean) => (ok ? "✓" : "✗");
/** What a layer adds on top of the one below; layers are measured in separate runs, so noise can make it negative. */
const plus = (x: number, digits = 0) => (x < 0 ? `≈0 (${x.toFixed(digits)})` : `+${digits ? x.toFixed(digits) : int(x)}`);
/** Microseconds per 512 KiB block at this many MB/s. */
const usPerBlock = (mbps: number) => (BLOCK / 1e6 / mbps) * 1e6;
const log = (s: string) => process.stderr.write(`${s}\n`);

const FRESH = "/e2e/browser/fresh-bench.ts";
const CREATE_TARGET = 0.8;
/** Files per raw IndexedDB create pass. */
const RAW_IDB_FILES = 1024;

/**
 * Issue 10's table, in one page and one run: per store, 512 KiB writes and the
 * reads that follow them (fresh file, write + Tfsync, read back; one request
 * in flight) beside raw sync-handle calls doing the same, and files created
 * per second beside the memory store's.
 */
async function headlineTable(h: Awaited<ReturnType<typeof startBrowserHarness>>): Promise<string> {
  const rounds = Number(opts.rounds);
  const blocks = Number(opts.blocks);
  log(`headline: ${rounds} rounds of ${blocks} × 512 KiB per store, creates ${opts["create-ms"]} ms at ${DEPTH} in flight…`);
  const raw = await h.runInWorker<FreshIoResult>(FRESH, "rawFresh", { blockSize: BLOCK, blocks, rounds });
  log("  raw IndexedDB…");
  const rawIdb = await h.runInWorker<RawIdbFreshResult>(FRESH, "rawIdbFresh", { blockSize: BLOCK, blocks, rounds, chunkSize: IDB_DEFAULT_CHUNK_SIZE, files: RAW_IDB_FILES });
  const io = new Map<StorageKind, FreshIoResult>();
  const creates = new Map<StorageKind, number>();
  for (const storage of STORES) {
    log(`  ${storage}…`);
    const name = `fresh-${storage}-${process.pid}-${Date.now()}`;
    io.set(storage, await callInPage<FreshIoResult>(h.page, "freshIo", { storage, name, blockSize: BLOCK, blocks, rounds }, FRESH));
    const c = await callInPage<{ filesPerS: number }>(h.page, "createRate", { storage, name: `${name}-c`, ms: Number(opts["create-ms"]), depth: DEPTH, fileBytes: KiB }, FRESH);
    creates.set(storage, c.filesPerS);
  }
  const mem = creates.get("memory")!;
  // The IndexedDB store against raw IndexedDB doing what it must: one transaction per Twrite (a reply
  // follows its commit, and one is in flight), getAll over a block's chunks, creates 32 per transaction.
  const idbFloor = { write: rawIdb.writeTxPerBlockMBps, read: rawIdb.readGetAllMBps, creates: rawIdb.createTxPer32PerS };
  const ratio = (x: number, of: number, target: number) => `${f2(x / of)} ${mark(x / of >= target)}`;
  const storeRows = STORES.map((s) => {
    const r = io.get(s)!;
    const idb = s === "indexeddb";
    return [
      `${s} (${r.chunkSize / KiB} KiB chunks)`,
      f1(r.writeMBps),
      ratio(r.writeMBps, raw.writeMBps, IO_TARGET),
      idb ? f2(r.writeMBps / idbFloor.write) : "",
      f1(r.readMBps),
      ratio(r.readMBps, raw.readMBps, IO_TARGET),
      idb ? f2(r.readMBps / idbFloor.read) : "",
      int(creates.get(s)!),
      ratio(creates.get(s)!, mem, CREATE_TARGET),
      idb ? f2(creates.get(s)! / idbFloor.creates) : "",
    ];
  });
  const rawRow = (label: string, w: number, r: number, c: number | undefined) => [
    label, f1(w), f2(w / raw.writeMBps), "", f1(r), f2(r / raw.readMBps), "", c === undefined ? "—" : int(c), c === undefined ? "—" : f2(c / mem), "",
  ];
  const table = mdTable(
    ["store", "write MB/s", "write ×raw OPFS", "×raw IDB", "read MB/s", "read ×raw OPFS", "×raw IDB", "files created/s", "creates ×memory", "×raw IDB"],
    [
      ...storeRows,
      rawRow("raw OPFS sync handle", raw.writeMBps, raw.readMBps, undefined),
      rawRow(`raw IndexedDB: tx per block; get per chunk; tx per file, ${DEPTH} in flight`, rawIdb.writeTxPerBlockMBps, rawIdb.readGetMBps, rawIdb.createTxPerFilePerS),
      rawRow(`raw IndexedDB: tx per ${blocks} blocks; getAll per block; ${DEPTH} files per tx`, rawIdb.writeTxPerRoundMBps, rawIdb.readGetAllMBps, rawIdb.createTxPer32PerS),
    ],
  );
  const runs = STORES.map((s) => `${s} write ${io.get(s)!.writeRuns.join(", ")}; read ${io.get(s)!.readRuns.join(", ")}`).join("\n- ");
  return [
    `## worker9p in headless Chromium: one page, one run (512 KiB, one request in flight; median of ${rounds} rounds of ${blocks} blocks)`,
    "",
    table,
    "",
    `Each round: a fresh file, ${blocks} × 512 KiB Twrite + Tfsync (write MB/s), then the same ${blocks} blocks read back with Tread (read MB/s). ` +
      `Raw: the same rounds on an OPFS sync access handle in a dedicated worker (write() ×${blocks}, flush(), read() ×${blocks} into fresh buffers). ` +
      `Creates: walk + Tlcreate + Twrite(1 KiB) + Tclunk, ${DEPTH} files in flight, ${opts["create-ms"]} ms. ` +
      `Raw IndexedDB: the same rounds in a dedicated worker on the IndexedDB store's schema, each 512 KiB block as ${IDB_DEFAULT_CHUNK_SIZE / KiB} KiB values ` +
      `keyed [ino, index] plus its inode record, written in one relaxed transaction per block then a strict one (the Tfsync), or in one strict transaction per round, read back in one readonly ` +
      `transaction per block (a get per chunk, or one getAll); creates: ${int(RAW_IDB_FILES)} files of what a create + 1 KiB write puts (new inode, entry, ` +
      `directory inode, inode counter, the chunk), one transaction per file ${DEPTH} in flight, or ${DEPTH} files per transaction one at a time. ` +
      `The IndexedDB store's ×raw IDB is against what it must do: a transaction per block written, getAll reads, ${DEPTH} creates per transaction. ` +
      `Targets: write and read ≥ ${IO_TARGET}× raw OPFS, creates ≥ ${CREATE_TARGET}× the memory store's.`,
    "",
    `Per round (MB/s): raw write ${raw.writeRuns.join(", ")}; read ${raw.readRuns.join(", ")}\n- ${runs}`,
  ].join("\n");
}

/**
 * The headline's passes again, per store, under the V8 sampling profiler (worker and page): per
 * request, the wall time, what the worker spent busy by category, and how long it sat idle — which,
 * with one request in flight, is the page's turn plus waits on the browser process (IndexedDB's
 * commits and reads run there). Profiled passes are slower than the measured ones; read the
 * shares, not the absolute figures.
 */
async function headlineProfiles(h: Awaited<ReturnType<typeof startBrowserHarness>>): Promise<string> {
  const blocks = Number(opts.blocks);
  const profilers = await attachProfilers(h.context, h.page);
  const shown: Category[] = CATEGORIES.filter((c) => c !== "client JS" && c !== "idle");
  const rows: (string | number)[][] = [];
  const tops: string[] = [];
  const busy = (c: Record<Category, number>) => Object.entries(c).reduce((a, [k, v]) => (k === "idle" ? a : a + v), 0);
  try {
    for (const storage of STORES) {
      log(`profiles, ${storage}…`);
      const name = `prof-${storage}-${process.pid}-${Date.now()}`;
      const { workerName } = await callInPage<{ workerName: string }>(h.page, "freshProfileOpen", { storage, name }, FRESH);
      try {
        const worker = await profilers.worker(workerName);
        // An unprofiled write+read first, so that both sides run compiled code.
        for (const what of ["write", "read"] as const) {
          await callInPage(h.page, "freshPass", { what, blockSize: BLOCK, blocks, ms: 0, depth: DEPTH, fileBytes: KiB }, FRESH);
        }
        for (const what of ["write", "read", "create"] as const) {
          await Promise.all([worker.start(), profilers.page.start()]);
          const pass = await callInPage<{ ms: number; ops: number }>(
            h.page,
            "freshPass",
            { what, blockSize: BLOCK, blocks, ms: Number(opts["create-ms"]), depth: DEPTH, fileBytes: KiB },
            FRESH,
          );
          const [wp, pp] = await Promise.all([worker.stop(), profilers.page.stop()]);
          const w = categorize(wp);
          const pg = categorize(pp);
          const per = (us: number) => us / pass.ops;
          const wallUs = (pass.ms * 1000) / pass.ops;
          const label = what === "create" ? `create (per file, ${DEPTH} in flight)` : `${what} 512 KiB`;
          rows.push([
            `${storage} ${label}`,
            int(wallUs),
            int(per(busy(w))),
            int(Math.max(0, wallUs - per(busy(w)))),
            ...shown.map((c) => int(per(w[c]))),
            int(per(busy(pg))),
          ]);
          const top = (p: typeof wp) =>
            topFrames(p, Number(opts["profile-top"]) + 2)
              .filter((t) => !t.frame.startsWith("(idle)") && !t.frame.startsWith("(program)"))
              .slice(0, Number(opts["profile-top"]))
              .map((t) => `${t.frame.trim()} ${int(per(t.us))}`)
              .join("; ");
          tops.push(`${storage} ${label} — worker: ${top(wp)} — page: ${top(pp)}`);
        }
      } finally {
        await callInPage(h.page, "freshProfileClose", {}, FRESH);
      }
    }
  } finally {
    await profilers.detach();
  }
  return [
    "### Where the headline's time goes (V8 CPU profiles of the 9P worker and the page, 100 µs sampling; one profiled pass each)",
    "",
    mdTable(["pass (µs per request)", "wall", "worker busy", "worker idle", ...shown.map((c) => `worker: ${c}`), "page busy"], rows),
    "",
    "\"worker idle\" = wall − worker busy: with one request in flight, the page's turn (client, MessagePort) plus the worker " +
      "awaiting the browser process (IndexedDB transactions and their commits run there, so their cost shows as idle, not as " +
      "\"IndexedDB calls\", which are only the calls' own JS-thread time: structured cloning, request set-up). \"other\" holds " +
      "native builtins (typed-array allocation and copies, Promise machinery) and (program). Creates: per file, 4 requests each. " +
      "Heaviest frames by self time (µs per request):",
    "",
    tops.map((t) => `- ${t}`).join("\n"),
  ].join("\n");
}

/** OPFS invariant 14's effect on creates, measured side by side in one worker (fresh-bench.ts checkpointCreateAB). */
async function checkpointAB(h: Awaited<ReturnType<typeof startBrowserHarness>>): Promise<string> {
  const rounds = Number(opts.rounds);
  log(`checkpoint A/B: ${rounds} alternating rounds of ${opts["create-ms"]} ms creates each…`);
  const r = await h.runInWorker<{ holding: number[]; background: number[]; helper: number[]; memory: number[] }>(FRESH, "checkpointCreateAB", {
    ms: Number(opts["create-ms"]),
    depth: DEPTH,
    fileBytes: KiB,
    rounds,
  });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  const mem = median(r.memory);
  const row = (label: string, xs: number[]) => [label, int(median(xs)), f2(median(xs) / mem), xs.map(int).join(", ")];
  return [
    `### OPFS creates: checkpoints holding writers vs letting them go on (Server + Client in one worker, no MessagePort; median of ${rounds} alternating rounds)`,
    "",
    mdTable(
      ["store", "files created/s", "×memory", "per round"],
      [
        row("opfs, checkpoints hold writers, in this worker", r.holding),
        row("opfs, background checkpoints (invariant 14), in this worker", r.background),
        row("opfs, background checkpoints written by the helper worker (invariant 15)", r.helper),
        row("memory", r.memory),
      ],
    ),
    "",
    `Background ÷ holding: ${f2(median(r.background) / median(r.holding))}×, per round: ${r.background.map((b, i) => f2(b / r.holding[i]!)).join(", ")}. ` +
      `Helper ÷ background in this worker: ${f2(median(r.helper) / median(r.background))}×, per round: ${r.helper.map((b, i) => f2(b / r.background[i]!)).join(", ")}.`,
  ].join("\n");
}

/** Recycled frame buffers vs exact frames in fresh ones, same page, same server, requests taking turns. */
async function recycleABTable(h: Awaited<ReturnType<typeof startBrowserHarness>>): Promise<string> {
  const rounds = Number(opts.rounds);
  const blocks = Number(opts.blocks);
  const rows: (string | number)[][] = [];
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;
  for (const storage of STORES) {
    log(`recycle A/B: ${storage}, ${rounds} rounds of ${blocks} × 512 KiB per client, taking turns every 8 requests…`);
    const name = `recycle-ab-${storage}-${process.pid}-${Date.now()}`;
    const r = await callInPage<{ recycled: { w: number[]; r: number[] }; exact: { w: number[]; r: number[] } }>(
      h.page,
      "recycleAB",
      { storage, name, blockSize: BLOCK, blocks, rounds },
      FRESH,
    );
    for (const [op, key] of [["write", "w"], ["read", "r"]] as const) {
      const e = r.exact[key];
      const c = r.recycled[key];
      rows.push([`${storage} ${op}`, int(pct(e, 0.5)), int(pct(c, 0.5)), f2(pct(e, 0.5) / pct(c, 0.5)), `${int(pct(e, 0.25))} / ${int(pct(c, 0.25))}`, `${int(pct(e, 0.75))} / ${int(pct(c, 0.75))}`]);
    }
  }
  return [
    `### Recycled frame buffers vs exact frames in fresh buffers (one server per store, two clients taking turns every 8 requests; ${rounds} rounds × ${blocks} × 512 KiB each; µs per request, one in flight)`,
    "",
    mdTable(["pass", "exact p50 µs", "recycled p50 µs", "speed-up (exact ÷ recycled)", "p25 exact / recycled", "p75 exact / recycled"], rows),
  ].join("\n");
}

const MOUNT_TARGET_MS = 50;

/**
 * Issue 10.6's figure: a tree of `n` files (one directory, pipelined Tmknod),
 * left by a page reload, then mounted: createFileServer, and the first
 * request (connect, Tversion, Tattach, Twalk, Tgetattr) answered after it.
 */
async function lazyMountTable(h: Awaited<ReturnType<typeof startBrowserHarness>>, n: number): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const storage of ["opfs", "indexeddb"] as StorageKind[]) {
    log(`lazy mount: ${int(n)} files, ${storage}…`);
    const name = `mount-${storage}-${process.pid}-${Date.now()}`;
    const made = await callInPage<{ ms: number; perSecond: number }>(h.page, "lazyPopulate", { storage, name, n, window: 128 });
    await h.reload();
    const r = await callInPage<LazyOpenReport>(h.page, "lazyOpen", { storage, name, n });
    if (r.problems.length > 0) throw new Error(`lazy mount of ${storage}: ${r.problems.join("; ")}`);
    rows.push([storage, int(made.perSecond), f1(r.createMs), f1(r.workerOpenMs), `${f1(r.firstRequestMs)} ${mark(r.firstRequestMs <= MOUNT_TARGET_MS)}`, int(r.listMs)]);
    await h.reload();
  }
  return [
    `## Lazy mount of ${int(n)} files (one directory; the tree left by a page reload)`,
    "",
    mdTable(["store", "made (Tmknod/s)", "createFileServer ms", "worker open ms", "first reply ms", "listing all ms"], rows),
    "",
    `First reply: connect + Tversion + Tattach + Twalk + Tgetattr of one file, after createFileServer resolved. Target ≤ ${MOUNT_TARGET_MS} ms.`,
  ].join("\n");
}

async function main(): Promise<void> {
  const t0 = performance.now();
  const h = await startBrowserHarness({ verbose: opts.verbose });
  try {
    console.log(await headlineTable(h));
    if (opts.profile) console.log(`\n${await headlineProfiles(h)}`);
    if (opts["checkpoint-ab"]) console.log(`\n${await checkpointAB(h)}`);
    if (opts["recycle-ab"]) console.log(`\n${await recycleABTable(h)}`);
    const mountFiles = Number(opts["mount-files"] ?? (opts.detail ? 100_000 : 0));
    if (mountFiles > 0) console.log(`\n${await lazyMountTable(h, mountFiles)}`);
    if (!opts.detail) {
      log(`(${((performance.now() - t0) / 1000).toFixed(0)} s; --profile adds CPU profiles of these rows; --detail adds the 64 MiB passes, the layer breakdown, CPU profiles and a lazy mount of 100,000 files; --mount-files N alone)`);
      return;
    }
    log(`bench:browser: ${opts.mib} MiB per sequential pass, 512 KiB blocks, ${REPEAT} passes (median), small ops ${SMALL_MS} ms at ${DEPTH} in flight`);

    log("raw OPFS sync handle and raw IndexedDB (dedicated worker)…");
    const raw = await h.runInWorker<RawResult[]>("/e2e/browser/raw-throughput.ts", "rawMatrix", {
      opfs: [{ blockSize: BLOCK, totalBytes: TOTAL }],
      idb: [{ blockSize: BLOCK, totalBytes: TOTAL, perTx: 1 }],
      repeat: REPEAT,
    });
    const rawOpfs = raw.find((r) => r.what === "opfs")!;
    const rawIdb = raw.find((r) => r.what.startsWith("idb"))!;
    const rawFor = (s: StorageKind): RawResult | undefined => (s === "opfs" ? rawOpfs : s === "indexeddb" ? rawIdb : undefined);

    const stackRun = (storage: StorageKind, extra: Record<string, unknown>) =>
      callInPage<StackResult>(h.page, "benchStack", {
        storage,
        name: `bench-${storage}-${process.pid}-${Date.now()}`,
        totalBytes: TOTAL,
        blockSize: BLOCK,
        smallMs: SMALL_MS,
        depth: DEPTH,
        repeat: REPEAT,
        ...extra,
      }, BENCH);
    const stack = new Map<StorageKind, StackResult>();
    for (const storage of STORES) {
      log(`full stack, ${storage}…`);
      stack.set(storage, await stackRun(storage, { pattern: "sparse" }));
    }
    log("IndexedDB floors and raw IndexedDB with incompressible values (dedicated worker)…");
    const floor = await h.runInWorker<IdbFloorResult>(BENCH, "benchIdbFloor", { blockSize: BLOCK, totalBytes: TOTAL });
    const random = new Map<StorageKind, StackResult>();
    for (const storage of STORES) {
      log(`full stack, ${storage}, incompressible data…`);
      random.set(storage, await stackRun(storage, { pattern: "random", skipSmall: true }));
    }

    const headline = mdTable(
      ["store", "write MB/s", "raw write MB/s", "write ×raw", "read MB/s", "raw read MB/s", "read ×raw", "write/read MB/s, 4 in flight", "Tgetattr ops/s", "create+write+clunk files/s (9P req/s)"],
      STORES.map((s) => {
        const r = stack.get(s)!;
        const rw = rawFor(s);
        const wr = rw ? r.writeMBps / rw.writeMBps : NaN;
        const rr = rw ? r.readMBps / rw.readMBps : NaN;
        return [
          `${s} (${r.chunkSize / KiB} KiB chunks)`,
          f1(r.writeMBps),
          rw ? f1(rw.writeMBps) : "—",
          rw ? `${f2(wr)} ${mark(wr >= IO_TARGET)}` : "—",
          f1(r.readMBps),
          rw ? f1(rw.readMBps) : "—",
          rw ? `${f2(rr)} ${mark(rr >= IO_TARGET)}` : "—",
          `${f1(r.writeQ4MBps)} / ${f1(r.readQ4MBps)}`,
          `${int(r.getattrPerS)} ${mark(r.getattrPerS >= SMALL_TARGET)}`,
          `${int(r.createFilesPerS)} (${int(r.createRequestsPerS)})`,
        ];
      }),
    );

    const rawRandom = (s: StorageKind) =>
      s === "opfs" ? { w: rawOpfs.writeMBps, r: rawOpfs.readMBps } : s === "indexeddb" ? { w: floor.randomWriteMBps, r: floor.randomReadMBps } : undefined;
    const randomTable = mdTable(
      ["store, incompressible data", "write MB/s", "raw write MB/s", "write ×raw", "read MB/s", "raw read MB/s", "read ×raw", "write/read MB/s, 4 in flight"],
      STORES.map((s) => {
        const r = random.get(s)!;
        const rw = rawRandom(s);
        return [
          s,
          f1(r.writeMBps),
          rw ? f1(rw.w) : "—",
          rw ? `${f2(r.writeMBps / rw.w)} ${mark(r.writeMBps / rw.w >= IO_TARGET)}` : "—",
          f1(r.readMBps),
          rw ? f1(rw.r) : "—",
          rw ? `${f2(r.readMBps / rw.r)} ${mark(r.readMBps / rw.r >= IO_TARGET)}` : "—",
          `${f1(r.writeQ4MBps)} / ${f1(r.readQ4MBps)}`,
        ];
      }),
    );

    let breakdown = "";
    let portCodec = "";
    let perOp = "";
    const layers = new Map<StorageKind, LayerResult[]>();
    const storeApi = new Map<StorageKind, StoreBenchResult>();
    let port: PortResult | undefined;
    let codec: CodecResult | undefined;
    if (!opts["no-layers"]) {
      log("MessagePort alone (echo worker) and codec alone…");
      port = await callInPage<PortResult>(h.page, "benchPort", { blockSize: BLOCK, totalBytes: TOTAL, smallMs: 1000 }, BENCH);
      codec = await callInPage<CodecResult>(h.page, "benchCodec", { blockSize: BLOCK }, BENCH);
      log("Store API alone (dedicated worker)…");
      const sb = await h.runInWorker<StoreBenchResult[]>("/e2e/browser/store-bench.ts", "storeBenchMatrix", {
        configs: (["opfs", "indexeddb"] as const).map((kind) => ({ kind, totalBytes: TOTAL, ioSize: BLOCK, randomOps: 20 })),
        repeat: REPEAT,
      });
      for (const r of sb) storeApi.set(r.kind as StorageKind, r);
      for (const storage of STORES) {
        log(`layers, ${storage} (dedicated worker)…`);
        layers.set(
          storage,
          await h.runInWorker<LayerResult[]>(BENCH, "benchLayers", { storage, totalBytes: TOTAL, blockSize: BLOCK, smallMs: SMALL_MS, depth: DEPTH, repeat: REPEAT }),
        );
      }

      const rows: (string | number)[][] = [];
      for (const s of STORES) {
        const rw = rawFor(s);
        if (rw) rows.push([`${s}: raw (${rw.what}, 512 KiB per call/value)`, f1(rw.writeMBps), f1(rw.readMBps), "", "", "", ""]);
        const st = storeApi.get(s);
        if (st) rows.push([`${s}: Store API, one transaction per 512 KiB`, f1(st.seqWriteMBps), f1(st.seqReadMBps), "", "", "", ""]);
        for (const l of layers.get(s)!) {
          rows.push([l.what, f1(l.writeMBps), f1(l.readMBps), f1(l.writeQ4MBps), f1(l.readQ4MBps), int(l.getattrPerS), int(l.createFilesPerS)]);
        }
        const r = stack.get(s)!;
        rows.push([`${s}: full stack (page → MessagePort → worker)`, f1(r.writeMBps), f1(r.readMBps), f1(r.writeQ4MBps), f1(r.readQ4MBps), int(r.getattrPerS), int(r.createFilesPerS)]);
      }
      breakdown = mdTable(["layer", "write MB/s", "read MB/s", "write MB/s ×4", "read MB/s ×4", "getattr/s", "create files/s"], rows);

      portCodec = mdTable(
        ["piece", "figure"],
        [
          ["MessagePort: 512 KiB out (transferred) + 16 B back, 1 in flight", `${f1(port.sendMBps)} MB/s (${int(usPerBlock(port.sendMBps))} µs per block)`],
          ["MessagePort: 16 B out + 512 KiB back (fresh, transferred), 1 in flight", `${f1(port.receiveMBps)} MB/s (${int(usPerBlock(port.receiveMBps))} µs per block)`],
          ["MessagePort: 64 B round trips, 32 in flight", `${int(port.smallRoundTripsPerS)}/s`],
          ["MessagePort: 64 B round trip, 1 in flight", `${port.smallRoundTripUs} µs`],
          ["IndexedDB: readwrite transaction putting one small record, awaited one by one", `${floor.smallWriteTxUs} µs`],
          ["IndexedDB: readonly transaction getting one small record, 32 in flight", `${int(floor.smallReadTxPerS)}/s`],
          ["codec: allocTwrite + copy 512 KiB in", `${f1(codec.twriteEncodeMBps)} MB/s (${int(usPerBlock(codec.twriteEncodeMBps))} µs per block)`],
          ["codec: decode a 512 KiB Twrite (payload is a view)", `${int(codec.twriteDecodePerS)}/s`],
          ["codec: allocRread + finish + decode a 512 KiB Rread", `${int(codec.rreadPerS)}/s (${f1(1e6 / codec.rreadPerS)} µs)`],
          ["codec: Tgetattr + Rgetattr encode and decode", `${int(codec.getattrCodecPerS)}/s (${f2(1e6 / codec.getattrCodecPerS)} µs)`],
        ],
      );

      // Per 512 KiB request (one in flight), what each layer adds on top of the one below.
      const opRows: (string | number)[][] = [];
      for (const s of STORES) {
        const [fsL, srvL] = layers.get(s)!;
        const full = stack.get(s)!;
        const rw = rawFor(s);
        const st = storeApi.get(s);
        for (const dir of ["write", "read"] as const) {
          const pick = (x: { writeMBps: number; readMBps: number }) => usPerBlock(dir === "write" ? x.writeMBps : x.readMBps);
          const rawUs = rw ? pick(rw) : 0;
          const storeUs = st ? usPerBlock(dir === "write" ? st.seqWriteMBps : st.seqReadMBps) : rawUs;
          const fsUs = pick(fsL!);
          const srvUs = pick(srvL!);
          const fullUs = pick(full);
          opRows.push([
            `${s} ${dir}`,
            rw ? int(rawUs) : "—",
            st ? plus(storeUs - rawUs) : "—",
            plus(fsUs - storeUs),
            plus(srvUs - fsUs),
            plus(fullUs - srvUs),
            int(fullUs),
          ]);
        }
        const g = (x: { getattrPerS: number }) => 1e6 / x.getattrPerS;
        opRows.push([`${s} Tgetattr (32 in flight, µs of throughput each)`, "—", "—", f1(g(fsL!)), plus(g(srvL!) - g(fsL!), 1), plus(g(full) - g(srvL!), 1), f1(g(full))]);
        const c = (x: { createFilesPerS: number }) => 1e6 / x.createFilesPerS;
        opRows.push([`${s} create+write+clunk (per file)`, "—", "—", int(c(fsL!)), plus(c(srvL!) - c(fsL!)), plus(c(full) - c(srvL!)), int(c(full))]);
      }
      perOp = mdTable(["µs per request", "raw storage", "Store API", "FileSystem", "9P codec + session", "MessagePort + page", "total"], opRows);
    }

    let profileTable = "";
    let profileTop = "";
    const profiles: Record<string, unknown> = {};
    if (!opts["no-profile"]) {
      const profilers = await attachProfilers(h.context, h.page);
      const rows: (string | number)[][] = [];
      const tops: string[] = [];
      const shown: Category[] = CATEGORIES.filter((c) => c !== "client JS" && c !== "idle");
      for (const storage of STORES) {
        log(`CPU profiles, ${storage}…`);
        const { workerName } = await callInPage<{ workerName: string }>(h.page, "profileOpen", { storage, totalBytes: TOTAL, blockSize: BLOCK }, BENCH);
        try {
          const worker = await profilers.worker(workerName);
          for (const what of ["write", "read", "getattr"] as const) {
            await Promise.all([worker.start(), profilers.page.start()]);
            const pass = await callInPage<{ ms: number; ops: number }>(h.page, "profilePass", { what, ms: SMALL_MS }, BENCH);
            const [wp, pp] = await Promise.all([worker.stop(), profilers.page.stop()]);
            const w = categorize(wp);
            const pg = categorize(pp);
            const per = (us: number) => us / pass.ops;
            const busy = (c: Record<Category, number>) => Object.entries(c).reduce((a, [k, v]) => (k === "idle" ? a : a + v), 0);
            const wallUs = (pass.ms * 1000) / pass.ops;
            const label = what === "getattr" ? "Tgetattr ×32" : `${what} 512 KiB`;
            rows.push([
              `${storage} ${label}`,
              f1(wallUs),
              f1(Math.max(0, wallUs - per(busy(w)))),
              ...shown.map((c) => f1(per(w[c]))),
              `${f1(per(busy(pg)))} (client+codec ${f1(per(pg["client JS"] + pg["9P codec"]))}, postMessage ${f1(per(pg.MessagePort))}, other ${f1(per(pg.other))})`,
            ]);
            profiles[`${storage} ${what}`] = { ops: pass.ops, ms: pass.ms, worker: w, page: pg };
            const top = (p: typeof wp) => topFrames(p, 7).filter((t) => !t.frame.startsWith("(idle)")).map((t) => `${t.frame.trim()} ${f1(per(t.us))}`).join("; ");
            tops.push(`${storage} ${label} — worker: ${top(wp)} — page: ${top(pp)}`);
          }
        } finally {
          await callInPage(h.page, "profileClose", {}, BENCH);
        }
      }
      await profilers.detach();
      profileTable = mdTable(["pass (µs per request)", "wall", "worker waiting (wall − busy)", ...shown.map((c) => `worker: ${c}`), "page busy"], rows);
      profileTop = tops.map((t) => `- ${t}`).join("\n");
    }

    const out: string[] = [];
    out.push(`## worker9p in headless Chromium: full 9P stack vs raw storage (512 KiB blocks, ${opts.mib} MiB per pass, median of ${REPEAT})`);
    out.push("");
    out.push(headline);
    out.push("");
    out.push(
      `Targets: ≥ ${IO_TARGET}× raw for 512 KiB I/O (one request in flight; raw = ${rawOpfs.what} sync-handle calls / ${rawIdb.what} values, ` +
        `one 512 KiB value per transaction); ≥ ${int(SMALL_TARGET)} small ops/s, judged on pipelined Tgetattr (${DEPTH} in flight). ` +
        `Writes include a Tfsync at the end (raw: one flush()). msize ${stack.get("opfs")!.msize}. ` +
        `Data: raw-throughput.ts's pattern (one non-zero byte per 4 KiB), as the raw figures use — Chromium compresses IndexedDB values, so below ` +
        `the same with incompressible data, against raw IndexedDB with incompressible values (OPFS raw does not depend on the bytes).`,
    );
    out.push("");
    out.push(randomTable);
    if (breakdown) {
      out.push("");
      out.push("### Where the time goes, one layer at a time");
      out.push("");
      out.push(breakdown);
      out.push("");
      out.push(perOp);
      out.push("");
      out.push(
        "Each column is what that layer adds per request on top of the one to its left (one request in flight for I/O; for the small " +
          "operations, µs of throughput at 32 in flight). Layers are measured in separate runs on a shared machine, so small or negative " +
          "differences are noise. The Store API row uses e2e/browser/store-bench.ts's own data (a sparse pattern, as raw).",
      );
      out.push("");
      out.push(portCodec);
    }
    if (profileTable) {
      out.push("");
      out.push("### CPU profiles of the full stack (V8 sampling profiler, 100 µs; one pass each, under profiling)");
      out.push("");
      out.push(profileTable);
      out.push("");
      out.push(
        "Worker columns: self time in the 9P worker per request; \"waiting\" is wall time minus the worker's busy time — the worker " +
          "idle, waiting for IndexedDB's answers (its backend runs in the browser process) or for the page's next request. " +
          "\"IndexedDB calls\" and \"OPFS sync-handle calls\" are the native calls themselves (structured cloning, IPC, the file I/O); " +
          "\"other\" includes native builtins such as allocating and copying typed arrays. Writes include the final Tfsync (its flush()). " +
          "Heaviest frames by self time (µs per request):",
      );
      out.push("");
      out.push(profileTop);
    }
    out.push("");
    out.push(`(${((performance.now() - t0) / 1000).toFixed(0)} s in all)`);
    console.log(out.join("\n"));
    if (opts.json) {
      console.log(JSON.stringify({ profiles, raw, floor, stack: Object.fromEntries(stack), random: Object.fromEntries(random), layers: Object.fromEntries(layers), storeApi: Object.fromEntries(storeApi), port, codec }, null, 2));
    }
  } finally {
    await h.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
