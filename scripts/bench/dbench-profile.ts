// bench:guest --profile: where the wall time of the dbench window goes, for both servers.
// The guest script prints "@@W9P-PHASE dbench-start" / "dbench-end" around dbench; at each mark
// runGuest's onPhase takes the host's counters (requests and round trips per type, time inside
// handle9p or v86's server), receive()'s spin and sleep time, the main thread's event loop
// utilization, and starts/stops V8's sampling profiler on the main thread (node:inspector) and on
// the worker9p worker (worker/probe.ts, which also times each request in the server).

import { Session } from "node:inspector";
import { performance } from "node:perf_hooks";
import type { HostCounters, HostProbe } from "../guest/run.js";
import type { ReceiveTimes, WorkerProbeResult } from "../guest/worker9p.js";
import type { CpuProfile } from "../../worker/probe.js";
import { sumSamples } from "./node-profile.js";
import { messageTypeName } from "../../src/protocol/codec.js";

const SAMPLING_US = 250;

/** One server's dbench window. */
export interface DbenchProfile {
  wallMs: number;
  /** The main thread (v86 + handle9p): event loop busy and idle (guest halted, nothing to run). */
  mainActiveMs: number;
  mainIdleMs: number;
  /** Emulator blocked in handle9p (worker9p) or in v86's own server's synchronous part (v86). */
  serverCallMs: number;
  /** worker9p: handle9p calls by duration (run.ts durationBucket). */
  handle9pHistogram: number[];
  /** worker9p: of serverCallMs, handle9p's receive() polling and asleep. */
  receive?: ReceiveTimes;
  /** Requests, and summed round trip ms, by message name. */
  counts: Record<string, number>;
  latencyMs: Record<string, number>;
  mainProfile: Record<string, number>;
  mainTop: { frame: string; ms: number }[];
  worker?: {
    activeMs: number;
    idleMs: number;
    /** Server time (frame in → reply posted) by message name. */
    serverMs: Record<string, number>;
    serverCounts: Record<string, number>;
    profile: Record<string, number>;
    top: { frame: string; ms: number }[];
  };
}


/** The onPhase handler of one run, and its result once the run is over. */
export function dbenchProfiler(): { onPhase: (name: string, probe: HostProbe) => void; result(): Promise<DbenchProfile | undefined> } {
  let start: { counters: HostCounters; receive?: ReceiveTimes; elu: ReturnType<typeof performance.eventLoopUtilization> } | undefined;
  let session: Session | undefined;
  let workerStarted: Promise<void> | undefined;
  let done: Promise<DbenchProfile> | undefined;
  const post = (method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => session!.post(method, params, (err, r) => (err ? reject(err) : resolve(r))));
  return {
    onPhase(name, probe) {
      if (name === "dbench-start") {
        session = new Session();
        session.connect();
        void post("Profiler.enable");
        void post("Profiler.setSamplingInterval", { interval: SAMPLING_US });
        void post("Profiler.start");
        workerStarted = probe.worker9p?.probeStart(SAMPLING_US);
        start = {
          counters: probe.counters(),
          ...(probe.worker9p ? { receive: probe.worker9p.receiveTimes() } : {}),
          elu: performance.eventLoopUtilization(),
        };
      } else if (name === "dbench-end" && start && session) {
        const s = start;
        const end = probe.counters();
        const elu = performance.eventLoopUtilization(s.elu);
        const receive = probe.worker9p?.receiveTimes();
        const mainStopped = post("Profiler.stop") as Promise<{ profile: CpuProfile }>;
        const worker = probe.worker9p ? workerStarted!.then(() => probe.worker9p!.probeStop()) : undefined;
        done = (async () => {
          const { profile } = await mainStopped;
          session?.disconnect();
          const w = await worker;
          const mainThread = categorize(profile, mainCategory);
          return {
            wallMs: end.at - s.counters.at,
            mainActiveMs: elu.active,
            mainIdleMs: elu.idle,
            serverCallMs: end.handle9pMs - s.counters.handle9pMs + end.v86ServerMs - s.counters.v86ServerMs,
            handle9pHistogram: end.handle9pHistogram.map((n, i) => n - (s.counters.handle9pHistogram[i] ?? 0)),
            ...(receive && s.receive ? { receive: diffReceive(receive, s.receive) } : {}),
            counts: diff(end.counts, s.counters.counts),
            latencyMs: diff(end.latencyMs, s.counters.latencyMs),
            mainProfile: mainThread.byCategory,
            mainTop: mainThread.top,
            ...(w ? { worker: workerSummary(w) } : {}),
          };
        })();
        // A run that fails after the mark may never ask for the result.
        done.catch(() => {});
      }
    },
    result: async () => (done ? await done : undefined),
  };
}

function diff(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
}

function diffReceive(a: ReceiveTimes, b: ReceiveTimes): ReceiveTimes {
  return {
    calls: a.calls - b.calls,
    received: a.received - b.received,
    spinMs: a.spinMs - b.spinMs,
    sleepMs: a.sleepMs - b.sleepMs,
    posts: a.posts - b.posts,
    postMs: a.postMs - b.postMs,
    slowPosts: a.slowPosts - b.slowPosts,
  };
}

function workerSummary(w: WorkerProbeResult): NonNullable<DbenchProfile["worker"]> {
  const serverMs: Record<string, number> = {};
  const serverCounts: Record<string, number> = {};
  for (const [type, row] of Object.entries(w.server)) {
    const name = messageTypeName(Number(type)) ?? `type${type}`;
    serverMs[name] = row.ms;
    serverCounts[name] = row.count;
  }
  const p = categorize(w.profile, workerCategory);
  return { activeMs: w.activeMs, idleMs: w.idleMs, serverMs, serverCounts, profile: p.byCategory, top: p.top };
}

type Frame = CpuProfile["nodes"][number]["callFrame"];

function mainCategory(f: Frame): string {
  const fn = f.functionName;
  const url = f.url;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (url.startsWith("wasm")) return "v86 wasm (the guest's CPU)";
  if (url.includes("/node_modules/v86/")) return "v86 JS (devices, main loop)";
  if (url.includes("/scripts/guest/worker9p.ts")) return "handle9p receive (spin, Atomics.wait)";
  if (url.includes("/src/transport/handle9p")) return "handle9p";
  if (url.includes("/scripts/")) return "harness";
  if (url.startsWith("node:")) return "node internals";
  if (url === "" && fn !== "(program)" && fn !== "(root)") return "native calls (postMessage, receiveMessageOnPort…)";
  return "other";
}

function workerCategory(f: Frame): string {
  const fn = f.functionName;
  const url = f.url;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  const src = url.indexOf("/src/");
  if (src >= 0) {
    const rest = url.slice(src + 5);
    if (rest.startsWith("protocol/")) return "9P codec";
    if (rest.startsWith("server/")) return "server (session, handlers)";
    if (rest.startsWith("fs/")) return "fs";
    if (rest.startsWith("storage/layered/")) return "LayeredStore";
    if (rest.startsWith("storage/image/")) return "base image reader";
    if (rest.startsWith("storage/memory")) return "MemoryStore";
    if (rest.startsWith("storage/")) return "storage (other)";
    if (rest.startsWith("transport/")) return "transport";
  }
  if (url.includes("/worker/")) return "worker glue";
  if (url.startsWith("node:")) return "node internals";
  if (url === "" && fn !== "(program)" && fn !== "(root)") return "native calls (postMessage…)";
  return "other";
}

/** Milliseconds of samples by category and the heaviest frames by self time. */
function categorize(p: CpuProfile, categoryOf: (f: Frame) => string, topN = 10): { byCategory: Record<string, number>; top: { frame: string; ms: number }[] } {
  const { byCategory, top } = sumSamples(p, categoryOf, { topN });
  return {
    byCategory: Object.fromEntries([...byCategory].map(([c, us]) => [c, us / 1000])),
    top: top.map(({ frame, us }) => ({ frame, ms: us / 1000 })),
  };
}

const f0 = (n: number) => n.toFixed(0);
const pct = (n: number, of: number) => `${((100 * n) / of).toFixed(0)} %`;

/** The tables bench:guest --profile prints, one column per server (v86's built-in first). */
export function profileTables(columns: readonly (readonly [string, DbenchProfile])[]): string {
  const out: string[] = [];
  const head = (first: string) => [`| ${first} | ${columns.map(([l]) => l).join(" | ")} |`, `|---|${columns.map(() => "---:").join("|")}|`];
  const rows: [string, (d: DbenchProfile) => string][] = [
    ["dbench window (wall), ms", (d) => f0(d.wallMs)],
    ["requests", (d) => f0(sum(d.counts))],
    ["requests / s", (d) => f0((1000 * sum(d.counts)) / d.wallMs)],
    ["main thread idle (guest halted, waiting), ms", (d) => `${f0(d.mainIdleMs)} (${pct(d.mainIdleMs, d.wallMs)})`],
    ["main thread busy, ms", (d) => `${f0(d.mainActiveMs)} (${pct(d.mainActiveMs, d.wallMs)})`],
    ["· emulator inside the 9P server call, ms", (d) => `${f0(d.serverCallMs)} (${pct(d.serverCallMs, d.wallMs)})`],
    ["  · of which posting the request (postMessage), ms", (d) => (d.receive ? `${f0(d.receive.postMs)} (${d.receive.posts ? f0((1000 * d.receive.postMs) / d.receive.posts) : 0} µs mean; ${pct(d.receive.slowPosts, Math.max(1, d.receive.posts))} over 100 µs)` : "-")],
    ["  · of which receive() spinning, ms", (d) => (d.receive ? f0(d.receive.spinMs) : "-")],
    ["  · of which receive() in Atomics.wait, ms", (d) => (d.receive ? f0(d.receive.sleepMs) : "-")],
    ["· emulator outside it (guest CPU, devices), ms", (d) => `${f0(d.mainActiveMs - d.serverCallMs)} (${pct(d.mainActiveMs - d.serverCallMs, d.wallMs)})`],
    ["server call per request, µs (mean)", (d) => f0((1000 * d.serverCallMs) / Math.max(1, sum(d.counts)))],
    ["handle9p call, µs: p50 / p90 / p99", (d) => (d.handle9pHistogram.some((n) => n > 0) ? [0.5, 0.9, 0.99].map((q) => f0(quantileUs(d.handle9pHistogram, q))).join(" / ") : "-")],
    ["share of handle9p time in calls over 1 ms", (d) => (d.serverCallMs > 0 && d.handle9pHistogram.some((n) => n > 0) ? pct(overUs(d.handle9pHistogram, 1000), 1000 * d.serverCallMs) : "-")],
    ["worker busy (event loop active), ms", (d) => (d.worker ? `${f0(d.worker.activeMs)} (${pct(d.worker.activeMs, d.wallMs)})` : "-")],
    ["worker: server time frame in → reply out, ms", (d) => (d.worker ? f0(sum(d.worker.serverMs)) : "-")],
  ];
  out.push("\ndbench window: where the wall time goes (profiled run; sampling profilers on)\n", ...head(""));
  for (const [label, fmt] of rows) out.push(`| ${label} | ${columns.map(([, d]) => fmt(d)).join(" | ")} |`);

  const mean = (ms: number | undefined, n: number | undefined) => (ms !== undefined && n ? f0((1000 * ms) / n) : "-");
  out.push(
    "\nper message type: n, then µs per request: round trip (host: request handed over → reply back; v86: virtqueue pop → reply pushed) / worker9p server (frame in → reply posted)\n",
    ...head("type"),
  );
  const names = new Set(columns.flatMap(([, d]) => Object.keys(d.counts)));
  const last = columns[columns.length - 1]![1];
  for (const n of [...names].sort((a, b) => (last.latencyMs[b] ?? 0) - (last.latencyMs[a] ?? 0))) {
    const cell = (d: DbenchProfile) =>
      `${d.counts[n] ?? 0}: ${mean(d.latencyMs[n], d.counts[n])}${d.worker ? ` / ${mean(d.worker.serverMs[n], d.worker.serverCounts[n])}` : ""}`;
    out.push(`| ${n} | ${columns.map(([, d]) => cell(d)).join(" | ")} |`);
  }

  const cats = (title: string, pick: (d: DbenchProfile) => Record<string, number> | undefined) => {
    const cols = columns.filter(([, d]) => pick(d));
    if (cols.length === 0) return;
    out.push(`\n${title}\n`, `| category | ${cols.map(([l]) => l).join(" | ")} |`, `|---|${cols.map(() => "---:").join("|")}|`);
    const keys = [...new Set(cols.flatMap(([, d]) => Object.keys(pick(d)!)))];
    const lastCol = pick(cols[cols.length - 1]![1])!;
    keys.sort((x, y) => (lastCol[y] ?? 0) - (lastCol[x] ?? 0));
    for (const k of keys) out.push(`| ${k} | ${cols.map(([, d]) => (pick(d)![k] !== undefined ? `${f0(pick(d)![k]!)} (${pct(pick(d)![k]!, d.wallMs)})` : "-")).join(" | ")} |`);
  };
  cats("main thread CPU profile, ms (share of the window)", (d) => d.mainProfile);
  cats("worker9p worker CPU profile, ms (share of the window)", (d) => d.worker?.profile);
  for (const [label, d] of columns) {
    out.push(`\nmain thread (${label}), heaviest frames (self ms)\n`);
    for (const t of d.mainTop) out.push(`- ${f0(t.ms)} ${t.frame}`);
    if (d.worker) {
      out.push(`\nworker (${label}), heaviest frames (self ms)\n`);
      for (const t of d.worker.top) out.push(`- ${f0(t.ms)} ${t.frame}`);
    }
  }
  return out.join("\n");
}

/** The upper bound of the bucket holding quantile q of the calls. */
function quantileUs(hist: number[], q: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= q * total) return 2 ** ((i + 1) / 4);
  }
  return 2 ** (hist.length / 4);
}

/** µs spent in calls longer than `us` (each counted at its bucket's geometric middle). */
function overUs(hist: number[], us: number): number {
  let t = 0;
  hist.forEach((n, i) => {
    if (2 ** (i / 4) >= us) t += n * 2 ** ((i + 0.5) / 4);
  });
  return t;
}

function sum(r: Record<string, number>): number {
  return Object.values(r).reduce((a, b) => a + b, 0);
}
