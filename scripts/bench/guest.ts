// Side-by-side benchmark: the same guest workload on v86's built-in 9P server and on worker9p
// (in a worker thread), with the same mount options, in one run.
//
//   npm run bench:guest -- [--mount-opts OPTS]... [--files N] [--mib N] [--repeat N] [--reply-wait-ms N] [--json]
//                          [--dbench-only | --no-dbench] [--dbench-clients N] [--dbench-seconds N]
//
// Without --mount-opts it runs "cache=none" and the kernel's default options (Linux 6.1's
// default cache mode is none too, so these two should agree; pass --mount-opts cache=loose
// to see the page-cache path). Each step is timed inside the guest (ns clock from
// /proc/timer_list) and printed as `W9P-BENCH step=<name> ms=<n>`; the host prints a table.
// Each (mount options, server) pair boots --repeat times (default 2, alternating which server
// goes first) and the table shows the fastest time of each step, to damp noise from other load.
// --reply-wait-ms is handed to worker9p's runs (0: handle9p never waits for a reply; see run.ts).
//
// Then dbench (issue 10): Debian's dbench:i386 (fetched by dbench.ts, not in the image) runs
// with its NetBench loadfile client.txt in /root/dbench on the Debian root (`npm run image`),
// booted once per server: worker9p over the base image (an in-memory user's layer, the default)
// and v86's built-in server on its basefs of the same tree. The table shows dbench's
// "Throughput" MB/s per server (the best of --repeat boots; dbench's default is 1 boot per
// server, since each Debian boot takes minutes here) and worker9p ÷ v86 (higher: worker9p faster).

import { parseArgs } from "node:util";
import { ensureGuestImage } from "../guest/image.js";
import { runGuest, type GuestFs } from "../guest/run.js";
import { ensureDebianRoot } from "../image/root.js";
import { ensureDbench, parseThroughput } from "./dbench.js";

/** The guest side. $FILES small files, a $MIB MiB sequential file. */
const WORKLOAD = String.raw`
now_ms() { awk '/^now at/ { printf "%d\n", $3 / 1000000; exit }' /proc/timer_list; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }
step() { # step NAME CMD...
  _t0=$(now_ms)
  "$@"
  _rc=$?
  _t1=$(now_ms)
  echo "W9P-BENCH step=$1 ms=$((_t1 - _t0)) rc=$_rc"
}
FILES=${"${BENCH_FILES:-400}"}
MIB=${"${BENCH_MIB:-32}"}
head -c $((MIB * 1048576)) /dev/urandom > /tmp/seq
head -c 4096 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 2000 > /tmp/payload
payload=$(cat /tmp/payload)
mkdir -p /mnt/bench && cd /mnt/bench || exit 1

seq_write() { dd if=/tmp/seq of=seq bs=1048576 2> /dev/null; sync; }
seq_read() { drop_caches; dd if=seq of=/dev/null bs=1048576 2> /dev/null; }
seq_read_4k() { drop_caches; dd if=seq of=/dev/null bs=4096 2> /dev/null; }
small_create() { mkdir s; i=0; while [ $i -lt $FILES ]; do printf '%s %d\n' "$payload" $i > s/f$i; i=$((i + 1)); done; }
small_list() { ls -la s > /dev/null; }
small_stat() { drop_caches; find s -type f | wc -l > /dev/null; ls -l s > /dev/null; }
small_read() { drop_caches; cat s/* > /dev/null; }
small_tar() { tar -cf /tmp/s.tar s; }
small_untar() { mkdir u && tar -xf /tmp/s.tar -C u; }
small_rename() { i=0; while [ $i -lt $FILES ]; do mv s/f$i s/g$i; i=$((i + 1)); done; }
small_remove() { rm -rf s u; }
seq_remove() { rm seq; }

step seq_write seq_write
step seq_read seq_read
step seq_read_4k seq_read_4k
step small_create small_create
step small_list small_list
step small_stat small_stat
step small_read small_read
step small_tar small_tar
step small_untar small_untar
step small_rename small_rename
step small_remove small_remove
step seq_remove seq_remove
cd / && rm -rf /mnt/bench
`;

/** The dbench guest side: the 9P root's /root/dbench, cleaned before and after. */
const DBENCH = String.raw`
d=/root/dbench
rm -rf "$d" && mkdir -p "$d" || exit 1
LD_LIBRARY_PATH="$W9P_GUEST_DIR" "$W9P_GUEST_DIR/dbench" -c "$W9P_GUEST_DIR/client.txt" -t "$DBENCH_SECONDS" -D "$d" "$DBENCH_CLIENTS"
rc=$?
rm -rf "$d"
exit $rc
`;

interface Row {
  step: string;
  ms: Record<GuestFs, number | undefined>;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      "mount-opts": { type: "string", multiple: true },
      files: { type: "string", default: "400" },
      mib: { type: "string", default: "32" },
      json: { type: "boolean", default: false },
      "timeout-s": { type: "string", default: "900" },
      // default 2 for the workload, 1 for dbench
      repeat: { type: "string" },
      "reply-wait-ms": { type: "string" },
      "dbench-only": { type: "boolean", default: false },
      "no-dbench": { type: "boolean", default: false },
      "dbench-clients": { type: "string", default: "3" },
      "dbench-seconds": { type: "string", default: "15" },
    },
  });
  if (values["dbench-only"] && values["no-dbench"]) throw new Error("--dbench-only and --no-dbench exclude each other");
  const configs = values["dbench-only"] ? [] : (values["mount-opts"] ?? ["cache=none", ""]);
  const image = await ensureGuestImage({ log: (l) => console.error(l) });
  const fss: GuestFs[] = ["v86", "worker9p"];
  const results: { opts: string; rows: Row[]; boot: Record<string, number>; requests: Record<string, number> }[] = [];
  let failed = false;

  for (const opts of configs) {
    const rows = new Map<string, Row>();
    const boot: Record<string, number> = {};
    const requests: Record<string, number> = {};
    const repeat = Math.max(1, Number(values.repeat ?? 2) || 1);
    for (let round = 0; round < repeat; round++) {
      for (const fs of round % 2 === 0 ? fss : [...fss].reverse()) {
        console.error(`bench:guest: fs=${fs} mount-opts=${opts || "(defaults)"} round ${round + 1}/${repeat} …`);
        const r = await runGuest({
          fs,
          image,
          script: WORKLOAD,
          ...(opts ? { mountOpts: opts } : {}),
          env: { BENCH_FILES: values.files, BENCH_MIB: values.mib },
          timeoutS: Number(values["timeout-s"]),
          ...(values["reply-wait-ms"] !== undefined ? { replyWaitMs: Number(values["reply-wait-ms"]) } : {}),
        });
        boot[fs] = Math.min(boot[fs] ?? Infinity, r.bootMs);
        requests[fs] = Object.values(r.counts).reduce((a, b) => a + b, 0);
        if (r.exitCode !== 0 || r.error) {
          failed = true;
          console.error(`bench:guest: fs=${fs} failed (${r.error ?? `exit ${r.exitCode}`}):\n${r.output.split("\n").slice(-30).join("\n")}`);
        }
        for (const m of r.output.matchAll(/^W9P-BENCH step=(\S+) ms=(\d+) rc=(\d+)/gm)) {
          const row = rows.get(m[1]!) ?? { step: m[1]!, ms: { v86: undefined, worker9p: undefined } };
          row.ms[fs] = Math.min(row.ms[fs] ?? Infinity, Number(m[2]));
          if (m[3] !== "0") {
            failed = true;
            console.error(`bench:guest: fs=${fs} step ${m[1]} exited ${m[3]}`);
          }
          rows.set(m[1]!, row);
        }
      }
    }
    results.push({ opts: opts || "(defaults)", rows: [...rows.values()], boot, requests });
  }

  let dbench: DbenchResult | undefined;
  if (!values["no-dbench"]) {
    dbench = await runDbench({
      clients: Number(values["dbench-clients"]),
      seconds: Number(values["dbench-seconds"]),
      // dbench boots the Debian root (minutes each): one boot per server unless --repeat says more.
      repeat: Math.max(1, Number(values.repeat ?? 1) || 1),
      timeoutS: Number(values["timeout-s"]),
      ...(values["reply-wait-ms"] !== undefined ? { replyWaitMs: Number(values["reply-wait-ms"]) } : {}),
      image,
    });
    if (dbench.failed) failed = true;
  }

  if (values.json) {
    console.log(JSON.stringify({ workload: results, ...(dbench ? { dbench } : {}) }, null, 2));
  } else {
    for (const { opts, rows, boot, requests } of results) {
      console.log(
        `\nmount options: trans=virtio,version=9p2000.L,msize=131072${opts === "(defaults)" ? "" : "," + opts}   ` +
          `(${values.mib} MiB sequential, ${values.files} small files; best of ${values.repeat ?? 2} boots per server)`,
      );
      console.log(table(rows, boot, requests));
    }
    if (dbench) console.log(dbenchTable(dbench));
  }
  return failed ? 1 : 0;
}

interface DbenchResult {
  clients: number;
  seconds: number;
  repeat: number;
  /** dbench's Throughput line, MB/s, per boot (in boot order; a failed boot has none). */
  mbps: Record<GuestFs, number[]>;
  /** 9P requests during the best boot (boot included). */
  requests: Record<GuestFs, number | undefined>;
  failed: boolean;
  mountOpts?: string;
}

async function runDbench(o: {
  clients: number;
  seconds: number;
  repeat: number;
  timeoutS: number;
  replyWaitMs?: number;
  image: Awaited<ReturnType<typeof ensureGuestImage>>;
}): Promise<DbenchResult> {
  const bin = await ensureDbench((l) => console.error(l));
  // The root, its boot profile and base image, prepared once for every boot below (worker9p serves the base image).
  const { image: debianImage } = await ensureDebianRoot({ log: (l) => console.error(l) });
  const result: DbenchResult = {
    clients: o.clients,
    seconds: o.seconds,
    repeat: o.repeat,
    mbps: { v86: [], worker9p: [] },
    requests: { v86: undefined, worker9p: undefined },
    failed: false,
  };
  const fss: GuestFs[] = ["v86", "worker9p"];
  for (let round = 0; round < o.repeat; round++) {
    for (const fs of round % 2 === 0 ? fss : [...fss].reverse()) {
      console.error(`bench:guest: dbench ${o.clients} clients ${o.seconds} s, fs=${fs} (Debian root) round ${round + 1}/${o.repeat} …`);
      const r = await runGuest({
        fs,
        root: "debian",
        image: o.image,
        debianImage,
        script: DBENCH,
        files: { dbench: `@${bin.dbench}`, "libpopt.so.0": `@${bin.libpopt}`, "client.txt": `@${bin.loadfile}` },
        env: { DBENCH_CLIENTS: String(o.clients), DBENCH_SECONDS: String(o.seconds) },
        timeoutS: o.timeoutS,
        ...(fs === "worker9p" && o.replyWaitMs !== undefined ? { replyWaitMs: o.replyWaitMs } : {}),
        log: (l) => console.error(l),
      });
      result.mountOpts = r.mountOpts;
      const mbps = parseThroughput(r.output);
      // (A panic in the power-off after the script's exit line is no failure: runGuest freezes the guest there.)
      if (r.exitCode !== 0 || r.error || mbps === undefined) {
        result.failed = true;
        console.error(`bench:guest: dbench on ${fs} failed (${r.error ?? `exit ${r.exitCode}`}):\n${r.output.split("\n").slice(-30).join("\n")}`);
        continue;
      }
      const summary = /^\s*Throughput .*$/m.exec(r.output)?.[0].trim();
      console.error(`bench:guest: dbench on ${fs}: ${summary} (boot ${(r.bootMs / 1000).toFixed(1)} s)`);
      if (mbps >= Math.max(0, ...result.mbps[fs])) result.requests[fs] = Object.values(r.counts).reduce((a, b) => a + b, 0);
      result.mbps[fs].push(mbps);
    }
  }
  return result;
}

function dbenchTable(d: DbenchResult): string {
  const best = (fs: GuestFs) => (d.mbps[fs].length > 0 ? Math.max(...d.mbps[fs]) : undefined);
  const v = best("v86");
  const w = best("worker9p");
  const all = (fs: GuestFs) => (d.mbps[fs].length > 1 ? ` (${d.mbps[fs].map((x) => x.toFixed(2)).join(", ")})` : "");
  return [
    `\ndbench ${d.clients} clients, ${d.seconds} s, loadfile client.txt, on the Debian root's /root/dbench ` +
      `(mount options ${d.mountOpts ?? "-"}; best of ${d.repeat} boot${d.repeat > 1 ? "s" : ""} per server)`,
    "",
    "| server | dbench MB/s | 9P requests |",
    "|---|---:|---:|",
    `| v86 built-in | ${v === undefined ? "-" : v.toFixed(2)}${all("v86")} | ${d.requests.v86 ?? "-"} |`,
    `| worker9p | ${w === undefined ? "-" : w.toFixed(2)}${all("worker9p")} | ${d.requests.worker9p ?? "-"} |`,
    `| worker9p ÷ built-in | ${v && w !== undefined ? (w / v).toFixed(2) + "×" : "-"} | |`,
  ].join("\n");
}

function table(rows: Row[], boot: Record<string, number>, requests: Record<string, number>): string {
  const fmt = (ms: number | undefined) => (ms === undefined ? "-" : (ms / 1000).toFixed(2));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || a === 0 ? "-" : (b / a).toFixed(2));
  const lines = [["step", "v86 s", "worker9p s", "worker9p/v86"]];
  let tv = 0;
  let tw = 0;
  for (const r of rows) {
    lines.push([r.step, fmt(r.ms.v86), fmt(r.ms.worker9p), ratio(r.ms.v86, r.ms.worker9p)]);
    tv += r.ms.v86 ?? 0;
    tw += r.ms.worker9p ?? 0;
  }
  lines.push(["total", fmt(tv), fmt(tw), ratio(tv, tw)]);
  lines.push(["(boot to mount)", fmt(boot.v86), fmt(boot.worker9p), ratio(boot.v86, boot.worker9p)]);
  lines.push(["(9P requests)", String(requests.v86 ?? "-"), String(requests.worker9p ?? "-"), ratio(requests.v86, requests.worker9p)]);
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  return lines
    .map((l, li) => {
      const s = l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
      return li === 0 ? `${s}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : s;
    })
    .join("\n");
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:guest: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
