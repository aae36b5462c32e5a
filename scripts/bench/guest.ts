// Side-by-side benchmark: the same guest workload on v86's built-in 9P server and on worker9p
// (in a worker thread), with the same mount options, in one run.
//
//   npm run bench:guest -- [--mount-opts OPTS]... [--files N] [--mib N] [--repeat N] [--reply-wait-ms N] [--json]
//                          [--dbench-only | --no-dbench] [--dbench-clients N] [--dbench-seconds N] [--profile]
//                          [--worker9p-waits R/S,…]
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
// --profile (dbench only): where the wall time of dbench's window goes on each server, per message
// type and per thread, with V8's sampling profiler on (dbench-profile.ts); the best boot's figures.
// --worker9p-waits "2/100,2/0": dbench on one worker9p variant per item beside v86's built-in:
// handle9p's wait for a reply (ms; run.ts replyWaitMs) and how much of it is spent polling before
// sleeping (µs; replySpinUs), alternating, with each round's ratio to v86's.

import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { ensureGuestImage } from "../guest/image.js";
import { runGuest, type GuestFs } from "../guest/run.js";
import { ensureDebianRoot } from "../image/root.js";
import { ensureDbench, parseThroughput } from "./dbench.js";
import { dbenchProfiler, profileTables, type DbenchProfile } from "./dbench-profile.js";
import { formatTable } from "./workspace-profile.js";

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
echo "@@W9P-PHASE dbench-start"
LD_LIBRARY_PATH="$W9P_GUEST_DIR" "$W9P_GUEST_DIR/dbench" -c "$W9P_GUEST_DIR/client.txt" -t "$DBENCH_SECONDS" -D "$d" "$DBENCH_CLIENTS"
rc=$?
echo "@@W9P-PHASE dbench-end"
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
      profile: { type: "boolean", default: false },
      "worker9p-waits": { type: "string" },
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
      servers: dbenchServers(values["worker9p-waits"], values["reply-wait-ms"] !== undefined ? Number(values["reply-wait-ms"]) : undefined),
      image,
      profile: values.profile,
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
    if (dbench?.profiles) console.log(profileTables(dbench.servers.flatMap((l) => (dbench.profiles?.[l] ? [[l, dbench.profiles[l]] as const] : []))));
  }
  return failed ? 1 : 0;
}

/** One server dbench runs on: v86's built-in, or worker9p with its host-side waits for replies. */
interface DbenchServer {
  label: string;
  fs: GuestFs;
  replyWaitMs?: number;
  replySpinUs?: number;
}

/**
 * --worker9p-waits "R/S,…": one worker9p variant per item (R: handle9p's wait for a reply, ms;
 * S: how long of it receive() polls before sleeping, µs), run side by side with v86's built-in.
 */
function dbenchServers(waits: string | undefined, replyWaitMs: number | undefined): DbenchServer[] {
  const servers: DbenchServer[] = [{ label: "v86 built-in", fs: "v86" }];
  if (!waits) return [...servers, { label: "worker9p", fs: "worker9p", ...(replyWaitMs !== undefined ? { replyWaitMs } : {}) }];
  for (const pair of waits.split(",")) {
    const m = /^(\d+(?:\.\d+)?)\/(\d+)$/.exec(pair.trim());
    if (!m) throw new Error(`--worker9p-waits: "${pair}" is not WAIT_MS/SPIN_US (e.g. 2/100)`);
    servers.push({ label: `worker9p wait ${m[1]} ms, spin ${m[2]} µs`, fs: "worker9p", replyWaitMs: Number(m[1]), replySpinUs: Number(m[2]) });
  }
  return servers;
}

interface DbenchResult {
  clients: number;
  seconds: number;
  repeat: number;
  servers: string[];
  /** dbench's Throughput line, MB/s, per boot (in boot order; a failed boot has none), by server label. */
  mbps: Record<string, number[]>;
  /** 9P requests during the best boot (boot included). */
  requests: Record<string, number | undefined>;
  failed: boolean;
  mountOpts?: string;
  /** With --profile: the best boot's window per server. */
  profiles?: Record<string, DbenchProfile>;
}

async function runDbench(o: {
  clients: number;
  seconds: number;
  repeat: number;
  timeoutS: number;
  servers: DbenchServer[];
  image: Awaited<ReturnType<typeof ensureGuestImage>>;
  profile: boolean;
}): Promise<DbenchResult> {
  const bin = await ensureDbench((l) => console.error(l));
  // The root, its boot profile and base image, prepared once for every boot below (worker9p serves the base image).
  const { image: debianImage } = await ensureDebianRoot({ log: (l) => console.error(l) });
  const result: DbenchResult = {
    clients: o.clients,
    seconds: o.seconds,
    repeat: o.repeat,
    servers: o.servers.map((s) => s.label),
    mbps: Object.fromEntries(o.servers.map((s) => [s.label, []])),
    requests: {},
    failed: false,
    ...(o.profile ? { profiles: {} } : {}),
  };
  for (let round = 0; round < o.repeat; round++) {
    // Alternate the order, so no server always runs first (or last) on a machine whose load drifts.
    for (const server of round % 2 === 0 ? o.servers : [...o.servers].reverse()) {
      const fs = server.fs;
      console.error(`bench:guest: dbench ${o.clients} clients ${o.seconds} s, ${server.label} (Debian root) round ${round + 1}/${o.repeat} …`);
      const profiler = o.profile ? dbenchProfiler() : undefined;
      const r = await runGuest({
        ...(profiler ? { onPhase: profiler.onPhase } : {}),
        fs,
        root: "debian",
        image: o.image,
        debianImage,
        script: DBENCH,
        files: { dbench: `@${bin.dbench}`, "libpopt.so.0": `@${bin.libpopt}`, "client.txt": `@${bin.loadfile}` },
        env: { DBENCH_CLIENTS: String(o.clients), DBENCH_SECONDS: String(o.seconds) },
        timeoutS: o.timeoutS,
        ...(server.replyWaitMs !== undefined ? { replyWaitMs: server.replyWaitMs } : {}),
        ...(server.replySpinUs !== undefined ? { replySpinUs: server.replySpinUs } : {}),
        log: (l) => console.error(l),
      });
      result.mountOpts = r.mountOpts;
      const mbps = parseThroughput(r.output);
      // (A panic in the power-off after the script's exit line is no failure: runGuest freezes the guest there.)
      if (r.exitCode !== 0 || r.error || mbps === undefined) {
        result.failed = true;
        console.error(`bench:guest: dbench on ${server.label} failed (${r.error ?? `exit ${r.exitCode}`}):\n${r.output.split("\n").slice(-30).join("\n")}`);
        continue;
      }
      const summary = /^\s*Throughput .*$/m.exec(r.output)?.[0].trim();
      const load = loadavg()[0]!.toFixed(1);
      console.error(`bench:guest: dbench on ${server.label}: ${summary} (boot ${(r.bootMs / 1000).toFixed(1)} s, load average ${load})`);
      const runs = result.mbps[server.label]!;
      if (mbps >= Math.max(0, ...runs)) {
        result.requests[server.label] = Object.values(r.counts).reduce((a, b) => a + b, 0);
        const p = await profiler?.result();
        if (p && result.profiles) result.profiles[server.label] = p;
      }
      runs.push(mbps);
    }
  }
  return result;
}

function dbenchTable(d: DbenchResult): string {
  const best = (label: string) => (d.mbps[label]!.length > 0 ? Math.max(...d.mbps[label]!) : undefined);
  const v = best(d.servers[0]!);
  const all = (label: string) => (d.mbps[label]!.length > 1 ? ` (${d.mbps[label]!.map((x) => x.toFixed(2)).join(", ")})` : "");
  /** Per round, this server ÷ v86 (same round: the closest in time). */
  const perRound = (label: string) =>
    d.mbps[label]!.length > 1 && d.mbps[label]!.length === d.mbps[d.servers[0]!]!.length
      ? ` (rounds: ${d.mbps[label]!.map((x, i) => (x / d.mbps[d.servers[0]!]![i]!).toFixed(2)).join(", ")})`
      : "";
  const lines = [
    `\ndbench ${d.clients} clients, ${d.seconds} s, loadfile client.txt, on the Debian root's /root/dbench ` +
      `(mount options ${d.mountOpts ?? "-"}; best of ${d.repeat} boot${d.repeat > 1 ? "s" : ""} per server)`,
    "",
    "| server | dbench MB/s | ÷ built-in | 9P requests |",
    "|---|---:|---:|---:|",
  ];
  for (const label of d.servers) {
    const x = best(label);
    const ratio = label === d.servers[0] ? "" : v && x !== undefined ? `${(x / v).toFixed(2)}×${perRound(label)}` : "-";
    lines.push(`| ${label} | ${x === undefined ? "-" : x.toFixed(2)}${all(label)} | ${ratio} | ${d.requests[label] ?? "-"} |`);
  }
  return lines.join("\n");
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
  return formatTable(lines);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench:guest: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
