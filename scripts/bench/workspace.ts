// The workspace benchmark: one guest workload in the workspace page (Chromium, v86 in the page's
// workspace worker) on worker9p with each store, and on v86's built-in in-memory 9P (?fs=builtin)
// with the same kernel, mount options and emulator placement. Variants alternate order per round.
//
//   npm run bench:workspace -- [--repeat N] [--files N] [--mib N] [--only builtin,memory,opfs,indexeddb] [--json]
//                              [--archive-files N] [--archive-mib N] [--no-archive]
//                              [--tick v86,same-thread] [--stat best|median] [--profile]
//
// --tick runs each variant under each of v86's schedulings (src/workspace/guest/v86-tick.ts; ?tick=),
// alternating within each round, built-in included (it is the emulator's scheduling, not the
// server's); ratios are to built-in under the same scheduling. --profile (?profile=tick) adds, per
// variant, where a 9P request's time went in the worker (guest/tick-profile.ts): the server's time,
// the wake-up from reply() to v86's next slice, replies that found v86 idle, and yield(0)'s latency.
//
// Then, on an OPFS tree in the same page, the files panel's import/export (src/workspace/archive/bench.ts):
// a tarball of 10,000 small files and one of a 200 MiB file imported, exported as .tar and .tar.gz, beside
// raw OPFS writes of the same files from the page.
//
// Each step is timed inside the guest (ns clock from /proc/timer_list) and the table shows the
// fastest (--stat best, the default) or median time per step over the rounds, and the total's,
// with each store's ratio to built-in. Targets (issue 9):
// OPFS ≤ 0.8× built-in, memory ≤ 0.7×.
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startWorkspaceHarness, type WorkspaceQuery, type WorkspaceTab } from "../../e2e/workspace/harness.js";
import type { TickProfileSummary } from "../../src/workspace/guest/tick-profile.js";
import { TICK_MODES, type TickMode } from "../../src/workspace/guest/v86-tick.js";
import { formatTable, profileTable, readTickProfile, resetTickProfile } from "./workspace-profile.js";

const VARIANTS = ["builtin", "memory", "opfs", "indexeddb"] as const;
type Store = (typeof VARIANTS)[number];
/** A column: a store (or built-in) under one of v86's schedulings (undefined: the page's default). */
interface Variant {
  store: Store;
  tick: TickMode | undefined;
}
const label = (v: Variant) => (v.tick ? `${v.store}/${v.tick}` : v.store);
const sameVariant = (a: Variant, b: Variant) => a.store === b.store && a.tick === b.tick;

/** Runs with cwd /root (the tree). */
const WORKLOAD = String.raw`
now_ms() { awk '/^now at/ { printf "%d\n", $3 / 1000000; exit }' /proc/timer_list; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step() { _t0=$(now_ms); "$@"; _rc=$?; _t1=$(now_ms); echo "W9P-BENCH step=$1 ms=$((_t1 - _t0)) rc=$_rc"; }
FILES=__FILES__
MIB=__MIB__
head -c $((MIB * 1048576)) /dev/urandom > /tmp/seq
head -c 4096 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 2000 > /tmp/payload
payload=$(cat /tmp/payload)
rm -rf bench && mkdir bench && cd bench || exit 1
seq_write() { dd if=/tmp/seq of=seq bs=1048576 2> /dev/null; sync; }
seq_read() { drop_caches; dd if=seq of=/dev/null bs=1048576 2> /dev/null; }
small_create() { mkdir s; i=0; while [ $i -lt $FILES ]; do printf '%s %d\n' "$payload" $i > s/f$i; i=$((i + 1)); done; }
small_stat() { drop_caches; ls -l s > /dev/null; }
small_read() { drop_caches; cat s/* > /dev/null; }
find_all() { find . -type f | wc -l > /dev/null; }
tar_create() { tar -cf /tmp/s.tar s; }
tar_extract() { mkdir u && tar -xf /tmp/s.tar -C u; }
rename_all() { i=0; while [ $i -lt $FILES ]; do mv s/f$i s/g$i; i=$((i + 1)); done; }
remove_all() { rm -rf s u seq; }
for s in seq_write seq_read small_create small_stat small_read find_all tar_create tar_extract rename_all remove_all; do step $s; done
cd .. && rm -rf bench
`;

interface Result {
  variant: Variant;
  steps: Map<string, number>;
  bootMs: number;
  /** EXTRA_ROWS label → formatted value. */
  extra: Map<string, string>;
  profile: TickProfileSummary | undefined;
  /** The machine's 1-minute load average when the workload ended. */
  load: number;
}

/**
 * Rows measured outside the guest workload (the files panel's import/export MB/s, files/s) go
 * here: each measures one variant's open tab after the workload and returns the cell's text.
 */
export const EXTRA_ROWS: { label: string; measure(tab: WorkspaceTab, store: Store): Promise<string> }[] = [];

async function runVariant(open: (q: WorkspaceQuery) => Promise<WorkspaceTab>, variant: Variant, round: number, workload: string, profile: boolean): Promise<Result> {
  // The small image: v86's built-in 9P cannot serve the Debian root's base image, and the workload measures the home tree.
  const { store } = variant;
  const query: WorkspaceQuery = {
    ...(store === "builtin" ? { fs: "builtin" } : { storage: store, tree: `bench-${round}-${variant.tick ?? "default"}` }),
    image: "busybox",
    ...(variant.tick ? { tick: variant.tick } : {}),
    ...(profile ? { profile: "tick" } : {}),
  } as WorkspaceQuery;
  const t0 = performance.now();
  const tab = await open(query);
  try {
    await tab.ready(900_000);
    const bootMs = performance.now() - t0;
    if (profile) await resetTickProfile(tab.page);
    const r = await tab.run(workload, { timeoutMs: 3_600_000 });
    const summary = profile ? await readTickProfile(tab.page) : undefined;
    const steps = new Map<string, number>();
    for (const m of r.output.matchAll(/^W9P-BENCH step=(\S+) ms=(\d+) rc=(\d+)/gm)) {
      if (m[3] !== "0") throw new Error(`${label(variant)}: step ${m[1]} exited ${m[3]}:\n${r.output}`);
      steps.set(m[1]!, Number(m[2]));
    }
    if (r.status !== 0 || steps.size === 0) throw new Error(`${label(variant)}: the workload failed (status ${r.status}):\n${r.output}`);
    const extra = new Map<string, string>();
    for (const row of EXTRA_ROWS) extra.set(row.label, await row.measure(tab, store));
    return { variant, steps, bootMs, extra, profile: summary, load: loadavg()[0]! };
  } finally {
    await tab.close();
  }
}

/** best: the fastest round; median: the median round (per step, and per variant for the total). */
type Stat = "best" | "median";

function pick(values: number[], stat: Stat): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  if (stat === "best") return sorted[0]!;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function table(variants: Variant[], results: Result[], stat: Stat): string {
  const of = (v: Variant) => results.filter((r) => sameVariant(r.variant, v));
  const stepMs = (v: Variant, step: string) => pick(of(v).flatMap((r) => (r.steps.has(step) ? [r.steps.get(step)!] : [])), stat);
  // The total of each round, then its statistic (the sum of per-step medians is no round's time).
  const totalMs = (v: Variant) => pick(of(v).map((r) => [...r.steps.values()].reduce((a, b) => a + b, 0)), stat);
  const builtinOf = (v: Variant) => variants.find((b) => b.store === "builtin" && b.tick === v.tick);
  const hasRatio = (v: Variant) => v.store !== "builtin" && builtinOf(v) !== undefined;
  const steps = [...new Set(results.flatMap((r) => [...r.steps.keys()]))];
  const head = ["step", ...variants.flatMap((v) => (hasRatio(v) ? [`${label(v)} s`, "×builtin"] : [`${label(v)} s`]))];
  const lines = [head];
  const row = (name: string, ms: (v: Variant) => number) => {
    const cells = [name];
    for (const v of variants) {
      const x = ms(v);
      cells.push(Number.isFinite(x) ? (x / 1000).toFixed(2) : "-");
      if (hasRatio(v)) {
        const b = ms(builtinOf(v)!);
        cells.push(Number.isFinite(x) && b > 0 ? (x / b).toFixed(2) : "-");
      }
    }
    lines.push(cells);
  };
  for (const s of steps) row(s, (v) => stepMs(v, s));
  row("total", totalMs);
  row("(page load to ready)", (v) => pick(of(v).map((r) => r.bootMs), stat));
  for (const { label: extra } of EXTRA_ROWS) {
    lines.push([extra, ...variants.flatMap((v) => {
      const cell = of(v)[0]?.extra.get(extra) ?? "-";
      return hasRatio(v) ? [cell, ""] : [cell];
    })]);
  }
  return formatTable(lines);
}

/** The profile of the round whose total is the statistic's (the median round, or the fastest). */
function profileOf(results: Result[], v: Variant, stat: Stat): TickProfileSummary | undefined {
  const rounds = results.filter((r) => sameVariant(r.variant, v) && r.profile);
  const total = (r: Result) => [...r.steps.values()].reduce((a, b) => a + b, 0);
  rounds.sort((a, b) => total(a) - total(b));
  return (stat === "best" ? rounds[0] : rounds[(rounds.length - 1) >> 1])?.profile;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      repeat: { type: "string", default: "1" },
      files: { type: "string", default: "500" },
      mib: { type: "string", default: "32" },
      only: { type: "string" },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
      "archive-files": { type: "string", default: "10000" },
      "archive-mib": { type: "string", default: "200" },
      "no-archive": { type: "boolean", default: false },
      tick: { type: "string" },
      stat: { type: "string", default: "best" },
      profile: { type: "boolean", default: false },
    },
  });
  const stores = (values.only ? values.only.split(",") : [...VARIANTS]) as Store[];
  for (const v of stores) if (!VARIANTS.includes(v)) throw new Error(`--only: unknown variant ${v} (use ${VARIANTS.join(",")})`);
  const ticks = (values.tick ? values.tick.split(",") : [undefined]) as (TickMode | undefined)[];
  for (const t of ticks) if (t !== undefined && !TICK_MODES.includes(t)) throw new Error(`--tick: unknown scheduling ${t} (use ${TICK_MODES.join(",")})`);
  const stat = values.stat as Stat;
  if (stat !== "best" && stat !== "median") throw new Error(`--stat: best or median`);
  // Each store's schedulings side by side, so an A/B pair runs back to back.
  const variants: Variant[] = stores.flatMap((store) => ticks.map((tick) => ({ store, tick })));
  const workload = WORKLOAD.replace("__FILES__", String(Number(values.files))).replace("__MIB__", String(Number(values.mib)));
  const h = await startWorkspaceHarness({ verbose: values.verbose });
  const results: Result[] = [];
  let archiveTable = "";
  try {
    const repeat = Math.max(1, Number(values.repeat) || 1);
    for (let round = 0; round < repeat; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
        console.error(`bench:workspace: ${label(v)}, round ${round + 1}/${repeat} …`);
        const r = await runVariant((q) => h.open(q), v, round, workload, values.profile);
        const total = [...r.steps.values()].reduce((a, b) => a + b, 0);
        console.error(`bench:workspace: ${label(v)}: total ${total} ms, load ${r.load.toFixed(1)}; ${[...r.steps].map(([s, ms]) => `${s} ${ms} ms`).join(", ")}`);
        results.push(r);
      }
    }
    if (!values["no-archive"]) {
      console.error("bench:workspace: import/export on an OPFS tree …");
      archiveTable = await archiveBench(h, Number(values["archive-files"]), Number(values["archive-mib"]));
    }
  } finally {
    await h.stop();
  }
  if (values.json) console.log(JSON.stringify(results.map((r) => ({ ...r, steps: Object.fromEntries(r.steps), extra: Object.fromEntries(r.extra) })), null, 2));
  else {
    const loads = results.map((r) => r.load);
    console.log(
      `\nworkspace page, Chromium; v86 in the workspace worker; ${values.mib} MiB sequential, ${values.files} small files; ` +
        `${stat} of ${values.repeat} round(s); load average ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
    );
    console.log(table(variants, results, stat));
    if (values.profile) console.log(`\nwhere a 9P request's time went in the worker (ms; ${stat} round by total time; clock 100 µs)\n${profileTable(variants.map((v) => [label(v), profileOf(results, v, stat)]))}`);
    if (archiveTable) console.log(`\nimport/export in the files panel's code, OPFS tree, same page; raw OPFS write = the same files written by the page without 9P\n${archiveTable}`);
  }
  return 0;
}

/** The archive benchmark in a workspace tab, through its own 9P session of the tab's tree (OPFS). */
async function archiveBench(h: Awaited<ReturnType<typeof startWorkspaceHarness>>, smallFiles: number, bigMib: number): Promise<string> {
  const tab = await h.open({ storage: "opfs", tree: "bench-archive", image: "busybox" });
  try {
    await tab.ready(900_000);
    return await tab.page.evaluate(
      async ([smallFiles, bigBytes]) => {
        // Source modules as the dev server serves them (names in variables: not resolved at type-check time).
        const benchUrl = "/src/workspace/archive/bench.ts";
        const indexUrl = "/src/index.ts";
        const bench = (await import(/* @vite-ignore */ benchUrl)) as typeof import("../../src/workspace/archive/bench.js");
        const api = (await import(/* @vite-ignore */ indexUrl)) as typeof import("../../src/index.js");
        const server = window.workspace?.fileServer;
        if (!server) throw new Error("the workspace page has no file server (builtin fs?)");
        const client = await api.Client.connect(api.portTransport(server.connect()));
        try {
          return bench.formatArchiveBench(await bench.benchArchive(client, { smallFiles, bigBytes }));
        } finally {
          client.close();
        }
      },
      [smallFiles, bigMib * 1024 * 1024] as const,
    );
  } finally {
    await tab.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:workspace: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
