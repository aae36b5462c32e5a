// worker9p in a Node worker thread for the guest harness: starts worker/node.ts (through tsx) and
// gives the host end of its 9P MessagePort, sessions one after another over one tree, and a
// blocking receive for handle9p's wait.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from "node:worker_threads";
import type { ProfileEntry } from "../../src/storage/image/profile.js";
import type { BaseImageStats } from "../../src/storage/image/reader.js";
import type { FramePort } from "../../src/transport/handle9p.js";
import type { WorkerProbeResult } from "../../worker/probe.js";

export type { WorkerProbeResult };

/** Where receive() spent its time since the worker started (handle9p's wait for replies). */
export interface ReceiveTimes {
  /** Calls, and those that returned a message. */
  calls: number;
  received: number;
  /** Polling the port (the spin before sleeping). */
  spinMs: number;
  /** Asleep in Atomics.wait. */
  sleepMs: number;
  /** Posting requests on the port (postMessage calls), and those posts that took over 100 µs. */
  posts: number;
  postMs: number;
  slowPosts: number;
}

/**
 * Of handle9p's wait for a reply (DEFAULT_REPLY_WAIT_MS in run.ts), how long the emulator thread
 * polls before it sleeps: a reply that comes while it polls is picked up in ~2 µs instead of after
 * a thread wake-up (~25 µs on a 2-vCPU VM); beyond this, sleeping leaves the core to the worker
 * and V8's compiler threads.
 */
export const REPLY_SPIN_US = 100;

/**
 * Base files whose piece fetches wait until aborted, a network that never answers, for Tflush
 * tests; once `aborts` of them have been aborted the hold lifts (worker/slow-base.ts).
 */
export interface SlowBaseFiles {
  aborts: number;
  /** Absolute paths in the base image. */
  paths: string[];
}

/** A base image reader's counters after a run (BaseImage.stats), with the image's stored bytes. */
export type BaseFetchStats = BaseImageStats & { imageBytes: number };

/** What a session of the worker's tree did, and the tree's state after it. */
export interface Worker9pFinished {
  /** The session's server counters. */
  stats: Record<string, number>;
  fsck?: { ok: boolean; problems: string[] };
  /** Over a base image: what its reader fetched since the worker started, and the image's stored bytes. */
  base?: BaseFetchStats;
  /** With Worker9pOptions.profile: the boot profile's entries (bytes read, in first-use order). */
  profile?: ProfileEntry[];
}

/**
 * worker/node.ts in a worker thread. The tree lives as long as the worker; 9P sessions come and go
 * (finish() ends one, session() starts the next), so several boots can share one tree.
 */
export interface Worker9p {
  /** The current session's port. */
  readonly port: FramePort;
  /**
   * Take the next message off `port` (it is then not dispatched as an event), waiting up to
   * timeoutMs for one: handle9p's `wait.receive`. Undefined if none came.
   */
  receive(timeoutMs: number): unknown;
  /** End the session: its server counters and a fsck of the tree. */
  finish(): Promise<Worker9pFinished>;
  /** Whether a session is being served (false after finish() until session()). */
  readonly serving: boolean;
  /** Serve a new session (a fresh Server over the same tree) on a new port. */
  session(): Promise<void>;
  /** Base image only, between sessions: drop the user's layer; the fetched base stays. */
  reset(): Promise<void>;
  onExit(cb: (why: string) => void): void;
  terminate(): Promise<void>;
  /** receive()'s time so far (a running total: take differences). */
  receiveTimes(): ReceiveTimes;
  /** Start the worker's probe (worker/probe.ts): CPU profile, event loop time, server time per type. */
  probeStart(intervalUs: number): Promise<void>;
  probeStop(): Promise<WorkerProbeResult>;
}

export interface Worker9pOptions {
  importDir?: string | undefined;
  latencyMs?: number;
  maxMsize?: number;
  /** The server prints a line per request and reply on stderr. */
  trace?: boolean;
  /** Serve this base image under an in-memory user's layer (worker/node.ts). */
  baseImage?: { dir: string; cacheDir?: string; slow?: SlowBaseFiles };
  /** Record the order of first content access by path. */
  profile?: boolean;
  /** receive()'s polling before it sleeps, µs (default REPLY_SPIN_US). */
  replySpinUs?: number;
}

type WorkerReply =
  | { type: "ready" }
  | { type: "error"; message: string }
  | ({ type: "finished" } & Worker9pFinished)
  | { type: "probed"; result: WorkerProbeResult };

function tsxApiUrl(): string {
  const cjs = createRequire(import.meta.url).resolve("tsx/esm/api");
  const mjs = cjs.replace(/\.cjs$/, ".mjs");
  return pathToFileURL(existsSync(mjs) ? mjs : cjs).href;
}

/** Start worker/node.ts (through tsx) and get the host end of its 9P MessagePort. */
export async function startWorker9p(options: Worker9pOptions = {}): Promise<Worker9p> {
  const { port1, port2 } = new MessageChannel();
  // The worker bumps bell[0] after each frame it posts (worker/node.ts), so receive() can sleep on it.
  const bell = new Int32Array(new SharedArrayBuffer(4));
  // `execArgv: ["--import", "tsx"]` does not reach a worker's entry module in Node 20, so a tiny
  // eval'd bootstrap registers tsx's loader in the worker and then imports worker/node.ts.
  const entry = new URL("../../worker/node.ts", import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApiUrl())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
  const worker = new Worker(bootstrap, {
    eval: true,
    workerData: {
      port: port2,
      importDir: options.importDir ? path.resolve(options.importDir) : undefined,
      baseImage: options.baseImage ? { ...options.baseImage, dir: path.resolve(options.baseImage.dir) } : undefined,
      latencyMs: options.latencyMs ?? 0,
      maxMsize: options.maxMsize,
      trace: options.trace ?? false,
      profile: options.profile ?? false,
      bell: bell.buffer,
    },
    transferList: [port2],
  });
  let exited: string | undefined;
  const exitListeners: ((why: string) => void)[] = [];
  const waiters: ((m: WorkerReply) => void)[] = [];
  worker.on("message", (m: WorkerReply) => waiters.shift()?.(m));
  worker.on("error", (err) => {
    exited ??= `error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`;
  });
  worker.on("exit", (code) => {
    exited ??= `exit code ${code}`;
    for (const cb of exitListeners) cb(exited);
    for (const w of waiters.splice(0)) w({ type: "error", message: `worker exited (${exited})` });
  });
  const next = () => new Promise<WorkerReply>((resolve) => waiters.push(resolve));
  const ready = await next();
  if (ready.type !== "ready") {
    await worker.terminate();
    throw new Error(`worker9p worker failed to start: ${ready.type === "error" ? ready.message : ready.type}`);
  }
  let port = port1;
  let serving = true;
  const spinUs = options.replySpinUs ?? REPLY_SPIN_US;
  const times: ReceiveTimes = { calls: 0, received: 0, spinMs: 0, sleepMs: 0, posts: 0, postMs: 0, slowPosts: 0 };
  const ask = async (message: { type: string; port?: MessagePort; intervalUs?: number }, transfer: MessagePort[] = []): Promise<WorkerReply> => {
    const reply = next();
    worker.postMessage(message, transfer);
    const r = await reply;
    if (r.type === "error") throw new Error(r.message);
    return r;
  };
  return {
    get port() {
      return timedPosts(port, times);
    },
    get serving() {
      return serving;
    },
    receive: (timeoutMs) => receiveWithin(port, bell, timeoutMs, spinUs, times),
    receiveTimes: () => ({ ...times }),
    async probeStart(intervalUs) {
      await ask({ type: "probe-start", intervalUs });
    },
    async probeStop() {
      const r = await ask({ type: "probe-stop" });
      if (r.type !== "probed") throw new Error("unexpected worker reply");
      return r.result;
    },
    async finish() {
      const r = await ask({ type: "finish" });
      if (r.type !== "finished") throw new Error("unexpected worker reply");
      serving = false;
      port.close();
      const { type: _, ...finished } = r;
      return finished;
    },
    async session() {
      const channel = new MessageChannel();
      await ask({ type: "session", port: channel.port2 }, [channel.port2]);
      port = channel.port1;
      serving = true;
    },
    async reset() {
      await ask({ type: "reset" });
    },
    onExit(cb) {
      if (exited) cb(exited);
      else exitListeners.push(cb);
    },
    async terminate() {
      exitListeners.length = 0;
      port.close();
      await worker.terminate();
    },
  };
}

/** `port`, timing each postMessage into `times` (on a loaded machine a post may lose the core to the thread it wakes). */
function timedPosts(port: MessagePort, times: ReceiveTimes): FramePort {
  return {
    postMessage(message, transfer) {
      const from = performance.now();
      port.postMessage(message, transfer);
      const took = performance.now() - from;
      times.posts++;
      times.postMs += took;
      if (took > 0.1) times.slowPosts++;
    },
    addEventListener: (type, listener) => port.addEventListener(type, listener as (ev: unknown) => void),
    start: () => port.start(),
  };
}

/**
 * The next message on `port`, waiting up to timeoutMs: polling for the first spinUs, then
 * sleeping on `bell`, which the sender bumps (and notifies) after each message it posts.
 */
function receiveWithin(port: MessagePort, bell: Int32Array, timeoutMs: number, spinUs: number, times: ReceiveTimes): unknown {
  const start = performance.now();
  const deadline = start + timeoutMs;
  const spinEnd = start + Math.min(spinUs / 1000, timeoutMs);
  times.calls++;
  for (;;) {
    // Read the bell before looking at the port: a message posted after this look changes it.
    const seen = Atomics.load(bell, 0);
    const got = receiveMessageOnPort(port);
    if (got) {
      times.received++;
      return got.message;
    }
    let now = performance.now();
    if (now >= deadline) return undefined;
    if (now < spinEnd) {
      const from = now;
      while (Atomics.load(bell, 0) === seen && (now = performance.now()) < spinEnd);
      times.spinMs += now - from;
    } else {
      Atomics.wait(bell, 0, seen, deadline - now);
      times.sleepMs += performance.now() - now;
    }
  }
}
