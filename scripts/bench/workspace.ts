// The workspace benchmark: one guest workload in the workspace page (Chromium, v86 in the page's
// workspace worker) on worker9p with each store, and on v86's built-in in-memory 9P (?fs=builtin)
// with the same kernel, mount options and emulator placement. Variants alternate order per round.
//
//   npm run bench:workspace -- [--repeat N] [--files N] [--mib N] [--only builtin,memory,opfs,indexeddb] [--json]
//                              [--archive-files N] [--archive-mib N] [--no-archive]
//
// Then, on an OPFS tree in the same page, the files panel's import/export (src/workspace/archive/bench.ts):
// a tarball of 10,000 small files and one of a 200 MiB file imported, exported as .tar and .tar.gz, beside
// raw OPFS writes of the same files from the page.
//
// Each step is timed inside the guest (ns clock from /proc/timer_list) and the table shows the
// fastest time per step over the rounds, with each store's ratio to built-in. Targets (issue 9):
// OPFS ≤ 0.8× built-in, memory ≤ 0.7×.
import { parseArgs } from "node:util";
import { startWorkspaceHarness, type WorkspaceQuery, type WorkspaceTab } from "../../e2e/workspace/harness.js";

const VARIANTS = ["builtin", "memory", "opfs", "indexeddb"] as const;
type Variant = (typeof VARIANTS)[number];

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
}

/**
 * Rows measured outside the guest workload (the files panel's import/export MB/s, files/s) go
 * here: each measures one variant's open tab after the workload and returns the cell's text.
 */
export const EXTRA_ROWS: { label: string; measure(tab: WorkspaceTab, variant: Variant): Promise<string> }[] = [];

async function runVariant(open: (q: WorkspaceQuery) => Promise<WorkspaceTab>, variant: Variant, round: number, workload: string): Promise<Result> {
  // The small image: v86's built-in 9P cannot serve the Debian root's base image, and the workload measures the home tree.
  const query: WorkspaceQuery = variant === "builtin" ? { fs: "builtin", image: "busybox" } : { storage: variant, tree: `bench-${round}`, image: "busybox" };
  const t0 = performance.now();
  const tab = await open(query);
  try {
    await tab.ready(900_000);
    const bootMs = performance.now() - t0;
    const r = await tab.run(workload, { timeoutMs: 3_600_000 });
    const steps = new Map<string, number>();
    for (const m of r.output.matchAll(/^W9P-BENCH step=(\S+) ms=(\d+) rc=(\d+)/gm)) {
      if (m[3] !== "0") throw new Error(`${variant}: step ${m[1]} exited ${m[3]}:\n${r.output}`);
      steps.set(m[1]!, Number(m[2]));
    }
    if (r.status !== 0 || steps.size === 0) throw new Error(`${variant}: the workload failed (status ${r.status}):\n${r.output}`);
    const extra = new Map<string, string>();
    for (const row of EXTRA_ROWS) extra.set(row.label, await row.measure(tab, variant));
    return { variant, steps, bootMs, extra };
  } finally {
    await tab.close();
  }
}

function table(variants: Variant[], results: Result[]): string {
  const best = (v: Variant, step: string) => Math.min(...results.filter((r) => r.variant === v).map((r) => r.steps.get(step) ?? Infinity));
  const steps = [...new Set(results.flatMap((r) => [...r.steps.keys()]))];
  const head = ["step", ...variants.flatMap((v) => (v === "builtin" || !variants.includes("builtin") ? [`${v} s`] : [`${v} s`, "×builtin"]))];
  const lines = [head];
  const totals = new Map<Variant, number>();
  const row = (label: string, ms: (v: Variant) => number) => {
    const cells = [label];
    for (const v of variants) {
      const x = ms(v);
      cells.push(Number.isFinite(x) ? (x / 1000).toFixed(2) : "-");
      if (v !== "builtin" && variants.includes("builtin")) {
        const b = ms("builtin");
        cells.push(Number.isFinite(x) && b > 0 ? (x / b).toFixed(2) : "-");
      }
    }
    lines.push(cells);
  };
  for (const s of steps) {
    row(s, (v) => best(v, s));
    for (const v of variants) totals.set(v, (totals.get(v) ?? 0) + best(v, s));
  }
  row("total", (v) => totals.get(v) ?? NaN);
  row("(page load to ready)", (v) => Math.min(...results.filter((r) => r.variant === v).map((r) => r.bootMs)));
  for (const { label } of EXTRA_ROWS) {
    lines.push([label, ...variants.flatMap((v) => {
      const cell = results.find((r) => r.variant === v)?.extra.get(label) ?? "-";
      return v === "builtin" || !variants.includes("builtin") ? [cell] : [cell, ""];
    })]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  return lines
    .map((l, li) => {
      const s = l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
      return li === 0 ? `${s}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : s;
    })
    .join("\n");
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
    },
  });
  const variants = (values.only ? values.only.split(",") : [...VARIANTS]) as Variant[];
  for (const v of variants) if (!VARIANTS.includes(v)) throw new Error(`--only: unknown variant ${v} (use ${VARIANTS.join(",")})`);
  const workload = WORKLOAD.replace("__FILES__", String(Number(values.files))).replace("__MIB__", String(Number(values.mib)));
  const h = await startWorkspaceHarness({ verbose: values.verbose });
  const results: Result[] = [];
  let archiveTable = "";
  try {
    const repeat = Math.max(1, Number(values.repeat) || 1);
    for (let round = 0; round < repeat; round++) {
      for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
        console.error(`bench:workspace: ${v}, round ${round + 1}/${repeat} …`);
        const r = await runVariant((q) => h.open(q), v, round, workload);
        console.error(`bench:workspace: ${v}: ${[...r.steps].map(([s, ms]) => `${s} ${ms} ms`).join(", ")}`);
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
    console.log(`\nworkspace page, Chromium; v86 in the workspace worker; ${values.mib} MiB sequential, ${values.files} small files; best of ${values.repeat} round(s)`);
    console.log(table(variants, results));
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
