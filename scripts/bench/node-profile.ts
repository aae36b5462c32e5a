// Where a Node server's CPU goes during given time windows: reads the .cpuprofile that
// `node --cpu-prof` writes at exit and sums its samples by category, window by window. Sample
// times are V8's monotonic clock in µs, the clock process.hrtime() reads (CLOCK_MONOTONIC on
// Linux), so another process can name the windows: nowUs() on the benchmark's side.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { CallFrame, CpuProfile } from "../../e2e/browser/fs-profile.js";

export const NODE_CATEGORIES = ["9P codec", "server/session JS", "fs JS", "store JS", "transport JS", "node net/stream JS", "native calls", "GC", "other"] as const;
export type NodeCategory = (typeof NODE_CATEGORIES)[number];

/** The monotonic clock the profile's timestamps use, in µs. */
export const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

export function nodeCategoryOf(f: CallFrame): NodeCategory | "idle" {
  const fn = f.functionName;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  const url = f.url;
  const src = url.indexOf("/src/");
  if (src >= 0) {
    const rest = url.slice(src);
    if (rest.startsWith("/src/protocol/")) return "9P codec";
    if (rest.startsWith("/src/server/")) return "server/session JS";
    if (rest.startsWith("/src/fs/")) return "fs JS";
    if (rest.startsWith("/src/storage/")) return "store JS";
    if (rest.startsWith("/src/transport/")) return "transport JS";
  }
  if (url.startsWith("node:")) return "node net/stream JS";
  if (url === "" && fn !== "(program)" && fn !== "(root)") return "native calls";
  return "other";
}

export interface WindowProfile {
  /** µs of samples per category (idle apart), summed over the window. */
  busy: Record<NodeCategory, number>;
  idleUs: number;
  /** Heaviest frames by self time. */
  top: { frame: string; us: number }[];
}

/**
 * The main thread's profile in `dir` (node --cpu-prof --cpu-prof-dir dir): files are named
 * CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile, and tsx's loader thread writes one too.
 */
export function readProfile(dir: string): CpuProfile {
  const files = readdirSync(dir).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (files.length !== 1) throw new Error(`expected one main-thread .cpuprofile in ${dir}, found ${readdirSync(dir).join(", ")}`);
  return JSON.parse(readFileSync(path.join(dir, files[0]!), "utf8")) as CpuProfile;
}

/**
 * A profile's samples summed by category (µs; a sample stands for the interval up to the next
 * one), and the heaviest frames by self time apart from "idle". Only the samples taken between
 * `fromUs` and `toUs` (the profile's clock) when given.
 */
export function sumSamples<C extends string>(
  p: CpuProfile,
  categoryOf: (f: CallFrame) => C,
  options: { fromUs?: number; toUs?: number; topN?: number } = {},
): { byCategory: Map<C, number>; top: { frame: string; us: number }[] } {
  const { fromUs = -Infinity, toUs = Infinity, topN = 8 } = options;
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const byCategory = new Map<C, number>();
  const frames = new Map<string, number>();
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs || t > toUs) return;
    const us = p.timeDeltas[i + 1] ?? dt;
    const f = byId.get(id)!;
    const c = categoryOf(f);
    byCategory.set(c, (byCategory.get(c) ?? 0) + us);
    if (c === "idle") return;
    const k = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/(src|node_modules|scripts|worker)\//, "$1/")}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    frames.set(k, (frames.get(k) ?? 0) + us);
  });
  const top = [...frames].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([frame, us]) => ({ frame, us }));
  return { byCategory, top };
}

/** The samples taken between `fromUs` and `toUs`, by category and by frame. */
export function profileWindow(p: CpuProfile, fromUs: number, toUs: number, topN = 8): WindowProfile {
  const { byCategory, top } = sumSamples(p, nodeCategoryOf, { fromUs, toUs, topN });
  const busy = Object.fromEntries(NODE_CATEGORIES.map((c) => [c, byCategory.get(c) ?? 0])) as Record<NodeCategory, number>;
  return { busy, idleUs: byCategory.get("idle") ?? 0, top };
}
