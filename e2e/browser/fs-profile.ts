/**
 * Node side: V8 CPU profiles of the test page's main thread and of one of its
 * dedicated workers (the 9P server's), through the DevTools protocol, summed
 * into categories — where the time of a benchmark pass goes.
 *
 *   const p = await attachProfilers(h.context, h.page);
 *   const worker = await p.worker("worker9p:mytree");
 *   await Promise.all([worker.start(), p.page.start()]);
 *   ... run the pass ...
 *   const [w, pg] = await Promise.all([worker.stop(), p.page.stop()]);
 *   categorize(w)  // µs per category
 *
 * Workers are reached with Target.setAutoAttach on a page session and
 * Target.sendMessageToTarget (playwright-core's CDPSession speaks to one
 * target only).
 */
import type { BrowserContext, CDPSession, Page } from "playwright-core";

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

export interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface TargetProfiler {
  start(intervalUs?: number): Promise<void>;
  stop(): Promise<CpuProfile>;
}

export interface Profilers {
  readonly page: TargetProfiler;
  /** The dedicated worker whose name (title) is `name`; waits for it to appear. */
  worker(name: string, timeoutMs?: number): Promise<TargetProfiler>;
  detach(): Promise<void>;
}

interface Attached {
  sessionId: string;
  targetInfo: { type: string; title: string; url: string };
}

export async function attachProfilers(context: BrowserContext, page: Page): Promise<Profilers> {
  const s: CDPSession = await context.newCDPSession(page);
  const attached: Attached[] = [];
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  s.on("Target.attachedToTarget", (e) => attached.push(e as unknown as Attached));
  s.on("Target.receivedMessageFromTarget", (e) => {
    const m = JSON.parse((e as { message: string }).message) as { id?: number; result?: unknown; error?: { message: string } };
    const w = m.id !== undefined ? waiting.get(m.id) : undefined;
    if (!w) return;
    waiting.delete(m.id!);
    if (m.error) w.reject(new Error(m.error.message));
    else w.resolve(m.result);
  });
  await s.send("Target.setAutoAttach", { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });

  const toTarget = (sessionId: string, method: string, params: object = {}): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      s.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method, params }) }).catch(reject);
    });

  const profiler = (send: (method: string, params?: object) => Promise<unknown>): TargetProfiler => ({
    async start(intervalUs = 100) {
      await send("Profiler.enable");
      await send("Profiler.setSamplingInterval", { interval: intervalUs });
      await send("Profiler.start");
    },
    async stop() {
      const r = (await send("Profiler.stop")) as { profile: CpuProfile };
      return r.profile;
    },
  });

  return {
    page: profiler((method, params) => s.send(method as "Profiler.enable", params as never) as Promise<unknown>),
    async worker(name, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const a = attached.find((x) => x.targetInfo.type === "worker" && x.targetInfo.title === name);
        if (a) return profiler((method, params) => toTarget(a.sessionId, method, params));
        if (Date.now() > deadline) throw new Error(`no worker named ${name} (attached: ${attached.map((x) => x.targetInfo.title).join(", ")})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async detach() {
      await s.detach().catch(() => {});
    },
  };
}

/** Microseconds of self time per call frame. */
export function selfTimes(p: CpuProfile): Map<CallFrame, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const out = new Map<CallFrame, number>();
  p.samples.forEach((id, i) => {
    const f = byId.get(id)!;
    out.set(f, (out.get(f) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return out;
}

/** The categories a worker9p profile is summed into. */
export const CATEGORIES = [
  "idle",
  "OPFS sync-handle calls",
  "IndexedDB calls",
  "store JS",
  "fs JS",
  "9P codec",
  "server/session JS",
  "client JS",
  "MessagePort",
  "GC",
  "other",
] as const;
export type Category = (typeof CATEGORIES)[number];

const OPFS_NATIVE = new Set(["read", "write", "flush", "truncate", "getSize"]);
const IDB_NATIVE = new Set([
  "put", "get", "getAll", "getAllKeys", "add", "delete", "count", "clear", "openCursor", "openKeyCursor", "continue",
  "transaction", "objectStore", "index", "commit", "abort", "bound", "lowerBound", "upperBound", "only",
]);

export function categoryOf(f: CallFrame): Category {
  const url = f.url.replace(/^[a-z]+:\/\/[^/]+/, "");
  const fn = f.functionName;
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "GC";
  if (url === "") {
    if (OPFS_NATIVE.has(fn)) return "OPFS sync-handle calls";
    if (IDB_NATIVE.has(fn)) return "IndexedDB calls";
    if (fn === "postMessage") return "MessagePort";
    return "other";
  }
  if (url.includes("/node_modules/") && url.includes("idb")) return "IndexedDB calls";
  if (url.startsWith("/src/storage/")) return "store JS";
  if (url.startsWith("/src/fs/")) return "fs JS";
  if (url.startsWith("/src/protocol/")) return "9P codec";
  if (url.startsWith("/src/server/")) return "server/session JS";
  if (url.startsWith("/src/client/")) return "client JS";
  if (url.startsWith("/src/transport/")) return "MessagePort";
  return "other";
}

/** Microseconds per category over the whole profile. */
export function categorize(p: CpuProfile): Record<Category, number> {
  const out = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
  for (const [f, us] of selfTimes(p)) out[categoryOf(f)] += us;
  return out;
}

/** The heaviest call frames by self time (for a closer look). */
export function topFrames(p: CpuProfile, n = 10): { frame: string; us: number }[] {
  const agg = new Map<string, number>();
  for (const [f, us] of selfTimes(p)) {
    const k = `${f.functionName || "(anonymous)"} ${f.url.replace(/^[a-z]+:\/\/[^/]+/, "")}${f.url ? `:${f.lineNumber + 1}` : ""}`;
    agg.set(k, (agg.get(k) ?? 0) + us);
  }
  return [...agg].sort((a, b) => b[1] - a[1]).slice(0, n).map(([frame, us]) => ({ frame, us }));
}
