// Boot the Linux guest in v86 under Node with a 9P tree and run a shell script: runGuest().
// The busybox initramfs mounts the tree at /mnt (root "busybox"), or the tree is the root file
// system (root "debian": `npm run image`'s Debian root). The command line is cli.ts
// (npm run guest); options and tests are in scripts/guest/README.md.
//
// fs "worker9p" (default) serves the tree from worker9p's Server in a worker thread
// (worker/node.ts, started by worker9p.ts) through createHandle9p; "v86" uses v86's built-in 9P
// server. The script goes into the initramfs as /guest/script.sh (with extra files next to it in
// /guest/) and runs once the tree is mounted; the run ends with the script's status. The mount
// options are "trans=virtio,version=9p2000.L" + DEFAULT_MOUNT_OPTS + mountOpts (later options win).
// replyWaitMs (worker9p, default DEFAULT_REPLY_WAIT_MS, 0: off): handle9p blocks up to that long
// for each request's reply (see "Waiting for the reply" in src/transport/handle9p.ts), spinning
// REPLY_SPIN_US first and then sleeping in Atomics.wait on a counter the worker bumps per reply.

import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { V86 } from "v86";
import { messageTypeName } from "../../src/protocol/codec.js";
import { createHandle9p, type Handle9p, type Handle9pControl } from "../../src/transport/handle9p.js";
import { buildCpio, type CpioEntry } from "./cpio.js";
import { ensureGuestImage, REPO_ROOT, type GuestImage } from "./image.js";
import { ensureDebianImage, type DebianImage } from "../image/build.js";
import { ensureV86Format, type V86FormatResult } from "../image/v86-format.js";
import type { ProfileEntry } from "../../src/storage/image/profile.js";
import { hookV86Counts, importIntoV86 } from "./v86-server.js";
import { startWorker9p, type BaseFetchStats, type SlowBaseFiles, type Worker9p } from "./worker9p.js";

export type { BaseFetchStats };

/**
 * Mount options added after "trans=virtio,version=9p2000.L" unless --mount-opts overrides them.
 * msize=131072 (128 KiB) is spelled out so every run asks both servers for the same size (v86's
 * server and worker9p both accept it; Linux's virtio transport allows up to 512000). The cache
 * mode stays the kernel's default, which in Linux 6.1 is cache=none.
 */
export const DEFAULT_MOUNT_OPTS = "msize=131072";
export const BASE_MOUNT_OPTS = "trans=virtio,version=9p2000.L";

/**
 * worker9p: how long handle9p waits for a request's reply before returning to the guest. Most
 * replies take 30–100 µs; one that takes longer is delivered later, asynchronously.
 */
export const DEFAULT_REPLY_WAIT_MS = 2;

export type GuestFs = "worker9p" | "v86";

/** busybox: the initramfs is the root and the tree is mounted at /mnt; debian: the tree is the root. */
export type GuestRoot = "busybox" | "debian";

/**
 * Mount options of the Debian root (after the base and default options, before --mount-opts).
 * msize=512000 is the largest the virtio transport allows: fewer round trips for large files.
 * The cache mode stays the kernel's default, none: cache=loose sends 7× fewer requests for a boot
 * plus python3 and cc (scripts/guest/README.md), but the guest would then keep stale pages and
 * attributes of files the page changes behind its back (uploads, reset of the user's layer).
 */
export const DEBIAN_MOUNT_OPTS = "msize=512000";

export interface RunGuestOptions {
  fs?: GuestFs;
  /** What the guest boots into (default busybox). debian: the tree served is `npm run image`'s root. */
  root?: GuestRoot;
  /** The Debian image to serve (default: ensureDebianImage()). */
  debianImage?: DebianImage;
  /**
   * worker9p with root debian: serve the image's written base image (<image>/base, lazily read,
   * under an in-memory user's layer; the default) or import its rootfs folder into the memory store.
   */
  debianTree?: "base" | "import";
  /**
   * worker9p only: serve the tree of this worker (started by startWorker9p or kept from an earlier
   * run with keepWorker9p) instead of starting one: the boot sees what earlier boots left in the
   * tree, as after a page reload. The options that shape the tree (root's tree, importDir,
   * baseImage, slowBaseFiles, profile, trace, and latencyMs but for the script's W9P_LATENCY_MS)
   * are the worker's own then. The run does not stop it.
   */
  worker9p?: Worker9p;
  /** worker9p only: leave the worker running after the run (result.worker9p; the caller terminates it). */
  keepWorker9p?: boolean;
  /** worker9p over a base image only: fetches of these base files' pieces wait until aborted (worker/slow-base.ts). */
  slowBaseFiles?: SlowBaseFiles;
  /** The script's text (takes precedence over scriptFile). */
  script?: string;
  scriptFile?: string;
  /** Extra files for /guest/ in the initramfs: name → content or a host path (string starting with "@"). */
  files?: Record<string, string | Uint8Array>;
  /** Host folder whose contents are copied into the served tree's root before boot. */
  importDir?: string;
  /** worker9p only: serve this base image (a writeImage() folder, lazily read) as the tree, under an in-memory user's layer; with root debian it replaces the import. */
  baseImage?: string;
  /** Appended to the base and default mount options (later options win). */
  mountOpts?: string;
  /** worker9p only: reads/writes of files named slow* wait this long, abortably. */
  latencyMs?: number;
  memoryMb?: number;
  timeoutS?: number;
  /** Exported to the script (W9P_FS and W9P_LATENCY_MS are always set). */
  env?: Record<string, string>;
  /** worker9p only: how a request discarded after a Tflush gives back its virtqueue slot. */
  discard?: "empty" | "eintr";
  /** worker9p only: the server prints a line per request and reply on stderr. */
  trace?: boolean;
  /** worker9p only: record the bytes of files the guest used, in first-use order (result.profile). */
  profile?: boolean;
  /** worker9p only: how long handle9p waits for each reply (ms; default DEFAULT_REPLY_WAIT_MS, 0: never). */
  replyWaitMs?: number;
  /** worker9p only: of each wait, how long handle9p polls before it sleeps (µs; default worker9p.ts REPLY_SPIN_US). */
  replySpinUs?: number;
  /**
   * Drive the guest's serial console once the emulator runs (e.g. the Debian root's login shell,
   * which starts when no script is given). The run ends when the console prints "@@W9P-EXIT n".
   */
  interact?: (console: GuestConsole) => Promise<void>;
  /** Write the guest console to this callback as it arrives (CLI: process.stdout). */
  echo?: (text: string) => void;
  image?: GuestImage;
  log?: (line: string) => void;
  /**
   * Called when the guest prints "@@W9P-PHASE name" on its console, synchronously (the emulator is
   * stopped in the middle of its slice): a benchmark's script names the window it measures.
   */
  onPhase?: (name: string, probe: HostProbe) => void;
}

/** The host's running totals at a phase mark (take differences between two marks). */
export interface HostCounters {
  /** performance.now() at the mark. */
  at: number;
  /** Requests by message name. */
  counts: Record<string, number>;
  /** Summed request → reply milliseconds by message name (v86: pop from the virtqueue → reply pushed). */
  latencyMs: Record<string, number>;
  /** worker9p: milliseconds the emulator spent inside handle9p (posting, waiting, delivering replies). */
  handle9pMs: number;
  /** worker9p: handle9p calls by duration, bucket i holding those of 2^(i/4) to 2^((i+1)/4) µs (durationBucket). */
  handle9pHistogram: number[];
  /** v86: milliseconds the emulator spent inside its 9P server's synchronous part (virtqueue pop → has_request). */
  v86ServerMs: number;
}

/** What onPhase gets: the counters so far, and the worker9p worker serving the run. */
export interface HostProbe {
  counters(): HostCounters;
  worker9p?: Worker9p;
}

export interface RunGuestResult {
  /** The script's exit status; 124 on timeout, 125 on a kernel panic or harness failure. */
  exitCode: number;
  /** The guest console (kernel messages and the script's output), "\n" line ends. */
  output: string;
  /** Host milliseconds from starting the emulator until /mnt was mounted (debian: until its init is ready). */
  bootMs: number;
  /** Host milliseconds spent importing a folder into the served tree (before the emulator starts). */
  importMs?: number;
  /** debian: host milliseconds from starting the emulator until the initramfs mounted the 9P root. */
  rootMountedMs?: number;
  /** Host milliseconds the script ran (mounted → exit line). */
  scriptMs: number;
  totalMs: number;
  /** 9P requests by message name (e.g. Twalk), counted on the host. */
  counts: Record<string, number>;
  /** Mean host-side milliseconds from request to reply, by message type (v86: virtqueue pop → reply pushed). */
  meanLatencyMs?: Record<string, number>;
  /** Why the run did not end with the script's own status, if it did not. */
  error?: string;
  mountOpts: string;
  /** With options.profile: the boot profile's entries (src/storage/image/profile.ts), in first-use order. */
  profile?: ProfileEntry[];
  /**
   * worker9p only: the server's counters, the tree's fsck after the run, discarded slots, and
   * how many requests handle9p's wait answered / gave up on.
   */
  server?: {
    stats: Record<string, number>;
    fsck?: { ok: boolean; problems: string[] };
    /** With a base image: what its reader fetched (requests, fetchedBytes, cacheHits) and the image's stored bytes. */
    base?: BaseFetchStats;
    discarded: number;
    answeredInWait: number;
    waitTimeouts: number;
  };
  /** With keepWorker9p (or worker9p given): the worker, still serving its tree. */
  worker9p?: Worker9p;
}

/** The guest's serial console, for RunGuestOptions.interact. */
export interface GuestConsole {
  /** Type text on the console. */
  send(text: string): void;
  /**
   * The console output from the end of the previous match up to and including the first match of
   * `pattern` (waits for it; the run's timeout ends a wait that never matches).
   */
  waitFor(pattern: RegExp): Promise<string>;
}

const MARK = "@@W9P-";

/** Quarter-octave buckets from 1 µs up to 2^16 µs (65 ms; longer ones land in the last). */
const DURATION_BUCKETS = 64;
function durationBucket(us: number): number {
  return Math.min(DURATION_BUCKETS - 1, Math.max(0, Math.floor(4 * Math.log2(Math.max(us, 1)))));
}

export async function runGuest(options: RunGuestOptions = {}): Promise<RunGuestResult> {
  const fsKind = options.fs ?? "worker9p";
  const rootKind = options.root ?? "busybox";
  const log = options.log ?? (() => {});
  const image = options.image ?? (await ensureGuestImage({ log }));
  const timeoutMs = (options.timeoutS ?? 300) * 1000;
  let importDir = options.importDir;
  let baseImage = options.baseImage;
  /** --fs v86 with the Debian root: v86's own lazily loaded format of the same tree */
  let v86Base: V86FormatResult | undefined;
  if (rootKind === "debian" && !baseImage) {
    if (importDir) throw new Error("--import and --image debian do not go together: the Debian image is the tree served");
    const debian = options.debianImage ?? (await ensureDebianImage({ log }));
    const written = existsSync(path.join(debian.dir, "base", "image.json"));
    if (fsKind === "v86") v86Base = await ensureV86Format(debian, log);
    else if (options.debianTree === "import") importDir = debian.rootfs;
    else if (!written) throw new Error(`no base image in ${debian.dir}: run npm run image`);
    else baseImage = path.join(debian.dir, "base");
  }
  const mountOpts = [BASE_MOUNT_OPTS, DEFAULT_MOUNT_OPTS, rootKind === "debian" ? DEBIAN_MOUNT_OPTS : "", options.mountOpts]
    .filter(Boolean)
    .join(",");
  const script = options.script ?? (options.scriptFile ? await fsp.readFile(options.scriptFile, "utf8") : undefined);

  const [bios, vgaBios, kernel, baseInitrd] = await Promise.all(
    [image.bios, image.vgaBios, image.kernel, image.initrd].map((f) => fsp.readFile(f)),
  );
  const initrd = concat(baseInitrd!, await runArchive(script, options.files ?? {}, mountOpts, rootKind === "debian", {
    W9P_FS: fsKind,
    W9P_LATENCY_MS: String(fsKind === "worker9p" ? (options.latencyMs ?? 0) : 0),
    ...options.env,
  }));

  const counts: Record<string, number> = {};
  /** worker9p: total host milliseconds from handing a request to the port to its reply, by type */
  const latency: Record<string, number> = {};
  const count = (type: number) => {
    const name = messageTypeName(type) ?? `type${type}`;
    counts[name] = (counts[name] ?? 0) + 1;
  };
  const addLatency = (type: number, ms: number) => {
    const name = messageTypeName(type) ?? `type${type}`;
    latency[name] = (latency[name] ?? 0) + ms;
  };
  let handle9pMs = 0;
  const handle9pHistogram = new Array<number>(DURATION_BUCKETS).fill(0);
  const v86Server = { ms: 0 };

  /** The worker outlives this run when it is the caller's, or handed to the caller with the result. */
  let keep = !!options.worker9p;
  let t0 = performance.now();
  let importMs: number | undefined;
  let server: Worker9p | undefined;
  let handle9p: (Handle9p & Handle9pControl) | undefined;
  if (fsKind === "worker9p") {
    if (options.worker9p) {
      server = options.worker9p;
      if (!server.serving) await server.session();
    } else {
      if (options.slowBaseFiles && !baseImage) throw new Error("slowBaseFiles needs a tree over a base image");
      server = await startWorker9p({
        importDir,
        ...(baseImage ? { baseImage: { dir: baseImage, ...(options.slowBaseFiles ? { slow: options.slowBaseFiles } : {}) } } : {}),
        latencyMs: options.latencyMs ?? 0,
        trace: options.trace ?? false,
        profile: options.profile ?? false,
        ...(options.replySpinUs !== undefined ? { replySpinUs: options.replySpinUs } : {}),
      });
      if (importDir) {
        // Boot times start once the tree is ready (the layered store will not import at all).
        importMs = performance.now() - t0;
        t0 = performance.now();
      }
    }
    const waitMs = options.replyWaitMs ?? DEFAULT_REPLY_WAIT_MS;
    const inner = createHandle9p(server.port, {
      discard: options.discard ?? "empty",
      ...(waitMs > 0 ? { wait: { ms: waitMs, receive: server.receive } } : {}),
    });
    const wrapped = ((req: Uint8Array, reply: (b: Uint8Array) => void) => {
      const type = req[4]!;
      count(type);
      const sent = performance.now();
      inner(req, (buf) => {
        addLatency(type, performance.now() - sent);
        reply(buf);
      });
      const took = performance.now() - sent;
      handle9pMs += took;
      handle9pHistogram[durationBucket(took * 1000)]!++;
    }) as Handle9p & Handle9pControl;
    for (const key of ["pending", "discarded", "answeredInWait", "waitTimeouts"] as const) {
      Object.defineProperty(wrapped, key, { get: () => inner[key] });
    }
    handle9p = wrapped;
  }

  const emulator = new V86({
    wasm_path: fileURLToPath(new URL("../../node_modules/v86/build/v86.wasm", import.meta.url)),
    bios: { buffer: toArrayBuffer(bios!) },
    vga_bios: { buffer: toArrayBuffer(vgaBios!) },
    bzimage: { buffer: toArrayBuffer(kernel!) },
    initrd: { buffer: toArrayBuffer(initrd) },
    cmdline: "console=ttyS0 tsc=reliable mitigations=off random.trust_cpu=on quiet",
    memory_size: (options.memoryMb ?? (rootKind === "debian" ? 512 : 256)) * 1024 * 1024,
    filesystem: handle9p ? { handle9p } : v86Base ? { basefs: v86Base.basefs, baseurl: v86Base.baseurl } : {},
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
  });

  const decoder = new TextDecoder();
  let output = "";
  let line = "";
  let exitStatus: number | undefined;
  let failure: string | undefined;
  let mountedAt: number | undefined;
  let rootMountedAt: number | undefined;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  /** Where the next GuestConsole.waitFor starts looking. */
  let consumed = 0;
  const consoleWaiters: { pattern: RegExp; resolve: (text: string) => void }[] = [];
  const checkWaiters = () => {
    const w = consoleWaiters[0];
    if (!w) return;
    const m = w.pattern.exec(output.slice(consumed));
    if (!m) return;
    const text = output.slice(consumed, consumed + m.index + m[0].length);
    consumed += m.index + m[0].length;
    consoleWaiters.shift();
    w.resolve(text);
    checkWaiters();
  };
  const guestConsole: GuestConsole = {
    send: (text) => emulator.serial0_send(text),
    waitFor: (pattern) =>
      new Promise((resolve) => {
        consoleWaiters.push({ pattern, resolve });
        checkWaiters();
      }),
  };

  const probe: HostProbe = {
    counters: () => ({
      at: performance.now(),
      counts: { ...counts },
      latencyMs: { ...latency },
      handle9pMs,
      handle9pHistogram: [...handle9pHistogram],
      v86ServerMs: v86Server.ms,
    }),
    ...(server ? { worker9p: server } : {}),
  };
  const onLine = (raw: string) => {
    // An interactive bash wraps its output in terminal control sequences (bracketed paste).
    const l = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "");
    if (l.startsWith(MARK)) {
      const [tag, arg] = l.slice(MARK.length).split(/\s+/, 2);
      if (tag === "MOUNTED") mountedAt = performance.now();
      else if (tag === "PHASE" && arg) options.onPhase?.(arg, probe);
      else if (tag === "ROOT") rootMountedAt = performance.now();
      else if (tag === "EXIT") {
        exitStatus = Number(arg);
        // The result is in: freeze the guest now. Left running while the server is finished and
        // checked, its init went on powering off over a 9P root being shut down, and once died of
        // SIGBUS there ("Attempted to kill init"), failing a run that had passed.
        void emulator.stop();
        finish();
      } else if (tag === "ERROR") log(`guest: ${l}`);
    } else if (/Kernel panic/.test(l) && exitStatus !== undefined) {
      log(`guest: after its exit line: ${l.trim()}`);
    } else if (/Kernel panic/.test(l)) {
      failure ??= `kernel panic: ${l.trim()}`;
      // let the panic's backtrace reach the console before stopping
      setTimeout(finish, 500);
    }
  };
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    const text = decoder.decode(new Uint8Array([byte]), { stream: true });
    if (!text) return;
    options.echo?.(text);
    for (const ch of text) {
      if (ch === "\r") continue;
      output += ch;
      if (ch === "\n") {
        onLine(line);
        line = "";
      } else line += ch;
    }
    if (consoleWaiters.length > 0) checkWaiters();
  });

  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
    if (fsKind === "v86") {
      if (importDir) await importIntoV86(emulator, importDir);
      hookV86Counts(emulator, count, addLatency, v86Server);
    }
    server?.onExit((why) => {
      failure ??= `the worker9p worker died: ${why}`;
      finish();
    });
    timer = setTimeout(() => {
      failure ??= `timeout: the guest did not finish within ${timeoutMs / 1000} s (${mountedAt ? "the script hung" : "it did not boot and mount"})`;
      finish();
    }, timeoutMs);
    emulator.run();
    options.interact?.(guestConsole).catch((err: unknown) => {
      failure ??= `interaction failed: ${err instanceof Error ? err.message : String(err)}`;
      finish();
    });
    await finished;
    const end = performance.now();
    if (line) onLine(line);

    let serverInfo: RunGuestResult["server"];
    let profile: ProfileEntry[] | undefined;
    if (server) {
      try {
        const { profile: order, ...info } = await server.finish();
        profile = order;
        serverInfo = {
          ...info,
          discarded: handle9p?.discarded ?? 0,
          answeredInWait: handle9p?.answeredInWait ?? 0,
          waitTimeouts: handle9p?.waitTimeouts ?? 0,
        };
      } catch (err) {
        failure ??= `worker9p: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
    const exitCode = exitStatus !== undefined && failure === undefined ? exitStatus : exitStatus ?? (failure?.startsWith("timeout") ? 124 : 125);
    // Handed over only with a result: a run that throws stops a worker it started.
    if (options.keepWorker9p) keep = true;
    return {
      exitCode,
      output,
      bootMs: Math.round((mountedAt ?? end) - t0),
      ...(importMs !== undefined ? { importMs: Math.round(importMs) } : {}),
      ...(rootMountedAt ? { rootMountedMs: Math.round(rootMountedAt - t0) } : {}),
      scriptMs: mountedAt ? Math.round(end - mountedAt) : 0,
      totalMs: Math.round(end - t0),
      counts,
      ...(Object.keys(latency).length > 0 ? { meanLatencyMs: Object.fromEntries(Object.entries(latency).map(([k, v]) => [k, v / (counts[k] ?? 1)])) } : {}),
      ...(failure ? { error: failure } : {}),
      mountOpts,
      ...(profile ? { profile } : {}),
      ...(serverInfo ? { server: serverInfo } : {}),
      ...(keep && server ? { worker9p: server } : {}),
    };
  } finally {
    clearTimeout(timer);
    await emulator.destroy().catch(() => {});
    if (!keep) await server?.terminate();
  }
}

// ---------------------------------------------------------------- initramfs

/** The per-run cpio appended to the cached initramfs: /guest/config, /guest/script.sh, extras. */
async function runArchive(
  script: string | undefined,
  files: Record<string, string | Uint8Array>,
  mountOpts: string,
  root: boolean,
  env: Record<string, string>,
): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const entries: CpioEntry[] = [{ kind: "dir", path: "guest" }];
  const q = (v: string) => `'${v.replace(/'/g, "'\\''")}'`;
  let config = `W9P_MOUNT_OPTS=${q(mountOpts)}\n`;
  if (root) config += "W9P_ROOT=1\n";
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad environment variable name ${k}`);
    config += `export ${k}=${q(v)}\n`;
  }
  entries.push({ kind: "file", path: "guest/config", data: enc.encode(config) });
  if (script !== undefined) entries.push({ kind: "file", path: "guest/script.sh", data: enc.encode(script), mode: 0o755 });
  for (const [name, content] of Object.entries(files)) {
    if (name.includes("/") || name === "config" || name === "script.sh") throw new Error(`--file ${name}: use a plain name other than config/script.sh`);
    const data =
      typeof content === "string" ? (content.startsWith("@") ? await fsp.readFile(content.slice(1)) : enc.encode(content)) : content;
    entries.push({ kind: "file", path: `guest/${name}`, data, mode: 0o755 });
  }
  return gzipSync(buildCpio(entries), { level: 1 });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  // The kernel only recognizes an archive at a 4-aligned offset (zero padding between is skipped).
  const pad = (4 - (a.length % 4)) % 4;
  const out = new Uint8Array(a.length + pad + b.length);
  out.set(a, 0);
  out.set(b, a.length + pad);
  return out;
}

function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

export function formatCounts(counts: Record<string, number>, meanLatencyMs?: Record<string, number>): string {
  const rows = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, n]) => s + n, 0);
  const lat = (name: string) => (meanLatencyMs?.[name] !== undefined ? `  ${(meanLatencyMs[name]! * 1000).toFixed(0).padStart(8)} µs mean round trip` : "");
  return rows.map(([name, n]) => `  ${name.padEnd(12)} ${String(n).padStart(8)}${lat(name)}`).join("\n") + `\n  ${"total".padEnd(12)} ${String(total).padStart(8)}`;
}

export { REPO_ROOT };
