/**
 * The browser benchmark's measurements (scripts/bench/browser.ts), usable from
 * the page and from a harness worker:
 *
 *   - benchStack (page): the full stack — createFileServer() (worker), connect()
 *     (MessagePort), the 9P Client — sequential I/O and small-operation rates;
 *   - benchLayers (dedicated worker): the same loops one layer down at a time —
 *     the FileSystem called directly, and Server + Client in one thread, frames
 *     handed over by reference (9P codec and session, no MessagePort);
 *   - benchPort (page): the page ↔ worker MessagePort alone, against an echo
 *     worker shaped like the 9P transport (fs-echo-worker.ts);
 *   - benchCodec (page): encoding and decoding the frames the loops send.
 *
 * MB/s is 10^6 bytes per second of wall time, as in raw-throughput.ts.
 */
import { Client, createFileServer, portTransport, type StorageKind } from "../../src/index.js";
import { inProcessTransport } from "../../src/client/in-process.js";
import { bytes } from "./test-bytes.js";
import { FileSystem } from "../../src/fs/filesystem.js";
import { allocRread, allocTwrite, decodeMessage, encodeMessage, finishRread } from "../../src/protocol/codec.js";
import { GetattrMask, Mode, OpenFlags } from "../../src/protocol/constants.js";
import type { Attr } from "../../src/protocol/messages.js";
import { Server } from "../../src/server/server.js";
import { IndexedDBStore } from "../../src/storage/indexeddb.js";
import { MemoryStore } from "../../src/storage/memory.js";
import { req, txDone } from "../../src/storage/indexeddb-common.js";
import { OpfsStore } from "../../src/storage/opfs.js";
import type { Store } from "../../src/storage/store.js";

export interface BenchOptions {
  storage: StorageKind;
  /** Tree name (benchStack) — a fresh one per call is best. */
  name?: string;
  /** Bytes per sequential pass; default 64 MiB. */
  totalBytes?: number;
  /** Bytes per Twrite/Tread; default 512 KiB. */
  blockSize?: number;
  /** Duration of each small-operation measurement; default 2000 ms. */
  smallMs?: number;
  /** Requests in flight for the small operations; default 32. */
  depth?: number;
  /** Sequential passes run this many times, median reported; default 3. */
  repeat?: number;
  /** The bytes written; default "sparse" (see DataPattern). */
  pattern?: DataPattern;
  /** Skip the small-operation measurements (benchStack). */
  skipSmall?: boolean;
}

export interface IoFigures {
  /** Sequential writes, one request in flight, Tfsync at the end included. */
  writeMBps: number;
  /** Sequential reads, one request in flight. */
  readMBps: number;
  /** Sequential writes/reads with 4 requests in flight. */
  writeQ4MBps: number;
  readQ4MBps: number;
}

export interface SmallFigures {
  /** Tgetattr on one fid, `depth` in flight. */
  getattrPerS: number;
  /** Files per second of walk + Tlcreate + Twrite(100 B) + Tclunk, `depth` files in flight. */
  createFilesPerS: number;
  /** The same in 9P requests per second (4 per file). */
  createRequestsPerS: number;
}

export interface StackResult extends IoFigures, SmallFigures {
  what: string;
  chunkSize: number;
  msize: number;
  /** Each pass's figures, to judge the noise. */
  writeRuns: number[];
  readRuns: number[];
}

const KiB = 1024;
const MiB = 1024 * 1024;
const SMALL = new Uint8Array(100).fill(0x61);

const mbps = (bytes: number, ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
const perS = (n: number, ms: number) => Math.round(n / (ms / 1000));

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * What the benchmark writes. "sparse" is raw-throughput.ts's pattern (one
 * non-zero byte per 4 KiB), so figures compare with its raw ones: Chromium
 * compresses IndexedDB values, and that pattern compresses to almost nothing.
 * "random" does not compress at all.
 */
export type DataPattern = "sparse" | "random";

export function block(size: number, seed: number, pattern: DataPattern = "sparse"): Uint8Array {
  if (pattern !== "sparse") return bytes(size, seed);
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) b[i] = (seed + i) & 0xff;
  return b;
}

/** Run `n` indexed jobs with at most `depth` in flight. */
async function lanes(n: number, depth: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(depth, n) }, lane));
}

/** Run `job` with `depth` in flight until `ms` passed; returns jobs done and the time taken. */
async function forMs(ms: number, depth: number, job: (i: number) => Promise<void>): Promise<{ n: number; ms: number }> {
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const lane = async () => {
    while (performance.now() < deadline) {
      await job(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  return { n: done, ms: performance.now() - t0 };
}

// ---------------------------------------------------------------- loops over a 9P Client

async function seqPass(c: Client, path: string, total: number, size: number, depth: number, seed: number, pattern: DataPattern): Promise<{ writeMBps: number; readMBps: number }> {
  const data = block(size, seed, pattern);
  const n = Math.floor(total / size);
  const { fid } = await c.create(path, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
  try {
    let t = performance.now();
    await lanes(n, depth, async (i) => {
      const w = await c.write(fid, i * size, data);
      if (w !== size) throw new Error(`short write ${w} at block ${i}`);
    });
    await c.request({ type: "Tfsync", fid, datasync: 0 });
    const writeMBps = mbps(n * size, performance.now() - t);
    t = performance.now();
    let bad = -1;
    await lanes(n, depth, async (i) => {
      const d = await c.read(fid, i * size, size);
      if (d.length !== size || d[0] !== data[0] || d[size - 1] !== data[size - 1]) bad = i;
    });
    const readMBps = mbps(n * size, performance.now() - t);
    if (bad >= 0) throw new Error(`block ${bad} read back wrong`);
    return { writeMBps, readMBps };
  } finally {
    await c.clunk(fid);
    await c.unlink(path);
  }
}

export async function ioFigures(c: Client, o: BenchOptions): Promise<IoFigures & { writeRuns: number[]; readRuns: number[] }> {
  const total = o.totalBytes ?? 64 * MiB;
  const size = o.blockSize ?? 512 * KiB;
  if (c.maxIo < size) throw new Error(`msize ${c.msize} cannot carry ${size}-byte payloads`);
  const w: number[] = [];
  const r: number[] = [];
  const wq: number[] = [];
  const rq: number[] = [];
  for (let k = 0; k < (o.repeat ?? 3); k++) {
    const one = await seqPass(c, `seq-${k}.bin`, total, size, 1, k + 1, o.pattern ?? "sparse");
    w.push(one.writeMBps);
    r.push(one.readMBps);
    const four = await seqPass(c, `seq4-${k}.bin`, total, size, 4, k + 11, o.pattern ?? "sparse");
    wq.push(four.writeMBps);
    rq.push(four.readMBps);
  }
  return { writeMBps: median(w), readMBps: median(r), writeQ4MBps: median(wq), readQ4MBps: median(rq), writeRuns: w, readRuns: r };
}

export async function smallFigures(c: Client, o: BenchOptions): Promise<SmallFigures> {
  const ms = o.smallMs ?? 2000;
  const depth = o.depth ?? 32;
  await c.writeFile("small-target", "x");
  const { fid } = await c.walk("small-target");
  const g = await forMs(ms, depth, async () => {
    await c.request({ type: "Tgetattr", fid, mask: GetattrMask.BASIC });
  });
  await c.clunk(fid);
  await c.mkdir("small");
  const cr = await forMs(ms, depth, async (i) => {
    const { fid: f } = await c.create(`small/f${i}`, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC);
    await c.write(f, 0, SMALL);
    await c.clunk(f);
  });
  return { getattrPerS: perS(g.n, g.ms), createFilesPerS: perS(cr.n, cr.ms), createRequestsPerS: perS(cr.n * 4, cr.ms) };
}

// ---------------------------------------------------------------- full stack, in the page

export async function benchStack(o: BenchOptions): Promise<StackResult> {
  const server = await createFileServer({ storage: o.storage, name: o.name ?? `bench-${Math.random().toString(36).slice(2)}` });
  try {
    const c = await Client.connect(portTransport(server.connect()), { msize: 1024 * 1024 + 24 });
    try {
      const io = await ioFigures(c, o);
      const small = o.skipSmall ? { getattrPerS: NaN, createFilesPerS: NaN, createRequestsPerS: NaN } : await smallFigures(c, o);
      const stats = await server.control.stats();
      return { what: `${o.storage} via createFileServer + MessagePort`, chunkSize: stats.chunkSize, msize: c.msize, ...io, ...small };
    } finally {
      c.close();
    }
  } finally {
    await server.close();
  }
}

// ---------------------------------------------------------------- one layer down at a time, in a worker

export interface LayerResult extends IoFigures, SmallFigures {
  what: string;
  chunkSize: number;
}

async function openStore(kind: StorageKind, name: string): Promise<Store> {
  if (kind === "memory") return new MemoryStore();
  if (kind === "indexeddb") return IndexedDBStore.open(name);
  return OpfsStore.open(name);
}

async function destroyStore(kind: StorageKind, name: string): Promise<void> {
  if (kind === "indexeddb") await IndexedDBStore.destroy(name);
  else if (kind === "opfs") await OpfsStore.destroy(name);
}

/** The FileSystem API called directly: no 9P at all. */
async function fsLayer(fs: FileSystem, o: BenchOptions): Promise<IoFigures & SmallFigures> {
  const ctx = { signal: new AbortController().signal, name: "bench" };
  const total = o.totalBytes ?? 64 * MiB;
  const size = o.blockSize ?? 512 * KiB;
  const n = Math.floor(total / size);
  const pass = async (k: number, depth: number) => {
    const data = block(size, k + 1, o.pattern ?? "sparse");
    const { ino } = await fs.create(fs.rootIno, `fs-seq-${k}-${depth}`, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC, 0o644, 0, 0, ctx);
    let t = performance.now();
    await lanes(n, depth, async (i) => {
      await fs.write(ino, i * size, data, false, ctx);
    });
    await fs.fsync(ino, ctx);
    const w = mbps(n * size, performance.now() - t);
    t = performance.now();
    await lanes(n, depth, async (i) => {
      const dest = new Uint8Array(size);
      const got = await fs.readInto(ino, i * size, dest, ctx);
      if (got !== size) throw new Error(`short read ${got}`);
    });
    const r = mbps(n * size, performance.now() - t);
    await fs.unlink(fs.rootIno, `fs-seq-${k}-${depth}`, 0, ctx);
    await fs.release(ino); // create's reference: the last one frees the unlinked file

    return { w, r };
  };
  const w: number[] = [];
  const r: number[] = [];
  const wq: number[] = [];
  const rq: number[] = [];
  for (let k = 0; k < (o.repeat ?? 3); k++) {
    const one = await pass(k, 1);
    w.push(one.w);
    r.push(one.r);
    const four = await pass(k, 4);
    wq.push(four.w);
    rq.push(four.r);
  }
  const ms = o.smallMs ?? 2000;
  const depth = o.depth ?? 32;
  const { ino } = await fs.create(fs.rootIno, "fs-small-target", OpenFlags.RDWR | OpenFlags.CREAT, 0o644, 0, 0, ctx);
  let sink: Attr | undefined;
  const g = await forMs(ms, depth, async () => {
    sink = await fs.getattr(ino, ctx);
  });
  if (!sink) throw new Error("no getattr");
  const dirQid = await fs.mkdir(fs.rootIno, "fs-small", 0o755, 0, 0, ctx);
  const cr = await forMs(ms, depth, async (i) => {
    // What the 9P path does per file minus the fid bookkeeping: a lookup (the walk), a create, a write.
    await fs.walk(fs.rootIno, ["fs-small"], ctx);
    const f = await fs.create(dirQid.path, `f${i}`, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC, Mode.IFREG | 0o644, 0, 0, ctx);
    await fs.write(f.ino, 0, SMALL, false, ctx);
    await fs.release(f.ino); // as Tclunk does
  });
  return {
    writeMBps: median(w),
    readMBps: median(r),
    writeQ4MBps: median(wq),
    readQ4MBps: median(rq),
    getattrPerS: perS(g.n, g.ms),
    createFilesPerS: perS(cr.n, cr.ms),
    createRequestsPerS: perS(cr.n * 4, cr.ms),
  };
}


/** Run in a harness worker: the FileSystem directly, then Server + Client in this thread. */
export async function benchLayers(o: BenchOptions): Promise<LayerResult[]> {
  const out: LayerResult[] = [];
  for (const layer of ["fs", "server"] as const) {
    const name = `layers-${layer}-${Math.random().toString(36).slice(2)}`;
    const store = await openStore(o.storage, name);
    try {
      const fs = await FileSystem.open(store);
      if (layer === "fs") {
        out.push({ what: `${o.storage}: FileSystem API, no 9P (worker)`, chunkSize: store.chunkSize, ...(await fsLayer(fs, o)) });
      } else {
        const server = new Server(fs);
        const c = await Client.connect(inProcessTransport(server, { copyRequests: false }), { msize: 1024 * 1024 + 24 });
        try {
          const io = await ioFigures(c, o);
          const small = await smallFigures(c, o);
          out.push({ what: `${o.storage}: Server + Client in one thread, 9P codec, no MessagePort (worker)`, chunkSize: store.chunkSize, ...io, ...small });
        } finally {
          c.close();
          server.close();
        }
      }
    } finally {
      await store.close();
      await destroyStore(o.storage, name);
    }
  }
  return out;
}

// ---------------------------------------------------------------- the MessagePort alone

export interface PortResult {
  /** 512 KiB out (fresh buffer, transferred), 16 B back; one in flight. */
  sendMBps: number;
  /** 16 B out, 512 KiB back (fresh buffer in the worker); one in flight. */
  receiveMBps: number;
  /** 64 B both ways, 32 in flight. */
  smallRoundTripsPerS: number;
  /** 64 B both ways, one in flight: microseconds per round trip. */
  smallRoundTripUs: number;
}

export async function benchPort(arg: { blockSize?: number; totalBytes?: number; smallMs?: number }): Promise<PortResult> {
  const size = arg.blockSize ?? 512 * KiB;
  const n = Math.floor((arg.totalBytes ?? 64 * MiB) / size);
  const worker = new Worker(new URL("./fs-echo-worker.ts", import.meta.url), { type: "module" });
  const { port1, port2 } = new MessageChannel();
  worker.postMessage(port2, [port2]);
  const waiting: ((b: ArrayBuffer) => void)[] = [];
  port1.onmessage = (ev: MessageEvent<ArrayBuffer>) => waiting.shift()!(ev.data);
  const ask = (out: number, back: number): Promise<ArrayBuffer> => {
    const b = new Uint8Array(out);
    new DataView(b.buffer).setUint32(0, back, true);
    return new Promise((resolve) => {
      waiting.push(resolve);
      port1.postMessage(b.buffer, [b.buffer]);
    });
  };
  try {
    for (let i = 0; i < 50; i++) await ask(64, 64); // warm up (and wait for the worker to load)
    let t = performance.now();
    for (let i = 0; i < n; i++) await ask(size, 16);
    const sendMBps = mbps(n * size, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const got = await ask(16, size);
      if (got.byteLength !== size) throw new Error("short echo");
    }
    const receiveMBps = mbps(n * size, performance.now() - t);
    const ms = arg.smallMs ?? 1000;
    const many = await forMs(ms, 32, async () => void (await ask(64, 64)));
    const one = await forMs(Math.min(ms, 500), 1, async () => void (await ask(64, 64)));
    return { sendMBps, receiveMBps, smallRoundTripsPerS: perS(many.n, many.ms), smallRoundTripUs: Math.round((one.ms * 1000) / one.n) };
  } finally {
    port1.close();
    worker.terminate();
  }
}

// ---------------------------------------------------------------- the codec alone

export interface CodecResult {
  /** allocTwrite + copying 512 KiB in (what Client.write does), MB/s. */
  twriteEncodeMBps: number;
  /** decodeMessage of that frame (the server's side; payload is a view), per second. */
  twriteDecodePerS: number;
  /** allocRread + finishRread + decodeMessage of a 512 KiB Rread, per second. */
  rreadPerS: number;
  /** encode Tgetattr + decode it + encode Rgetattr + decode it, per second (one request's codec work). */
  getattrCodecPerS: number;
}

export function benchCodec(arg: { blockSize?: number; ms?: number }): CodecResult {
  const size = arg.blockSize ?? 512 * KiB;
  const ms = arg.ms ?? 300;
  const data = block(size, 5, "random");
  const timed = (f: () => void): { n: number; ms: number } => {
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) {
      f();
      n++;
    }
    return { n, ms: performance.now() - t0 };
  };
  let frame: Uint8Array = new Uint8Array(0);
  const enc = timed(() => {
    const w = allocTwrite(1, 1, 0, size);
    w.data.set(data);
    frame = w.frame;
  });
  const dec = timed(() => {
    decodeMessage(frame);
  });
  const rr = timed(() => {
    const r = allocRread(1, size);
    r.data[0] = 1;
    decodeMessage(finishRread(r.frame, size));
  });
  const attr: Attr = {
    valid: GetattrMask.BASIC,
    qid: { type: 0, version: 1, path: 2 },
    mode: 0o100644,
    uid: 0,
    gid: 0,
    nlink: 1,
    rdev: 0,
    size: 1,
    blksize: 4096,
    blocks: 1,
    atime: { sec: 1, nsec: 0 },
    mtime: { sec: 1, nsec: 0 },
    ctime: { sec: 1, nsec: 0 },
    btime: { sec: 0, nsec: 0 },
    gen: 0,
    dataVersion: 0,
  };
  const g = timed(() => {
    decodeMessage(encodeMessage({ type: "Tgetattr", tag: 1, fid: 1, mask: GetattrMask.BASIC }));
    decodeMessage(encodeMessage({ type: "Rgetattr", tag: 1, attr }));
  });
  return {
    twriteEncodeMBps: mbps(enc.n * size, enc.ms),
    twriteDecodePerS: perS(dec.n, dec.ms),
    rreadPerS: perS(rr.n, rr.ms),
    getattrCodecPerS: perS(g.n, g.ms),
  };
}

// ---------------------------------------------------------------- IndexedDB floors, in a worker

export interface IdbFloorResult {
  /** One readwrite transaction putting one small record, awaited one by one. */
  smallWriteTxUs: number;
  /** Readonly transactions getting one small record, 32 in flight. */
  smallReadTxPerS: number;
  /** raw-throughput.ts's rawIdb (one 512 KiB value per relaxed transaction, fresh buffers), with incompressible values. */
  randomWriteMBps: number;
  randomReadMBps: number;
}

/**
 * What IndexedDB itself costs per transaction, and raw 512 KiB values that do
 * not compress (raw-throughput.ts's pattern compresses to almost nothing).
 */
export async function benchIdbFloor(arg: { blockSize?: number; totalBytes?: number; ms?: number }): Promise<IdbFloorResult> {
  const size = arg.blockSize ?? 512 * KiB;
  const n = Math.max(1, Math.floor((arg.totalBytes ?? 64 * MiB) / size));
  const name = `idb-floor-${Math.random().toString(36).slice(2)}`;
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    open.result.createObjectStore("small");
    open.result.createObjectStore("big");
  };
  const db = await req(open);
  try {
    const rec = { mode: 0o100644, size: 1, mtime: { sec: 1, nsec: 0 } };
    const k = 300;
    let t = performance.now();
    for (let i = 0; i < k; i++) {
      const tx = db.transaction("small", "readwrite", { durability: "relaxed" });
      tx.objectStore("small").put({ ...rec, i }, i % 10);
      await txDone(tx);
    }
    const smallWriteTxUs = Math.round(((performance.now() - t) * 1000) / k);
    const reads = await forMs(arg.ms ?? 1000, 32, async (i) => {
      const tx = db.transaction("small", "readonly");
      await req(tx.objectStore("small").get(i % 10));
    });
    // Incompressible values: a pool reused (put() clones synchronously).
    const pool = Array.from({ length: 8 }, (_, i) => block(size, 100 + i, "random"));
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const tx = db.transaction("big", "readwrite", { durability: "relaxed" });
      tx.objectStore("big").put(pool[i % pool.length]!, i);
      await txDone(tx);
    }
    const randomWriteMBps = mbps(n * size, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const tx = db.transaction("big", "readonly");
      await req(tx.objectStore("big").get(i));
    }
    const randomReadMBps = mbps(n * size, performance.now() - t);
    return { smallWriteTxUs, smallReadTxPerS: perS(reads.n, reads.ms), randomWriteMBps, randomReadMBps };
  } finally {
    db.close();
    await req(indexedDB.deleteDatabase(name)).catch(() => {});
  }
}

// ---------------------------------------------------------------- profiling hooks (page)

/** A tree and a client kept open between calls, so Node can start a profiler in between. */
let held: { server: Awaited<ReturnType<typeof createFileServer>>; client: Client; fid: number; size: number; n: number; data: Uint8Array } | undefined;

/** Open a tree and create "prof.bin"; the worker is then up for Node to attach a profiler to. */
export async function profileOpen(o: BenchOptions): Promise<{ workerName: string }> {
  const name = o.name ?? `prof-${Math.random().toString(36).slice(2)}`;
  const server = await createFileServer({ storage: o.storage, name });
  const client = await Client.connect(portTransport(server.connect()), { msize: 1024 * 1024 + 24 });
  const size = o.blockSize ?? 512 * KiB;
  const { fid } = await client.create("prof.bin", OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
  held = { server, client, fid, size, n: Math.floor((o.totalBytes ?? 64 * MiB) / size), data: block(size, 3, o.pattern ?? "sparse") };
  return { workerName: `worker9p:${name}` };
}

/** One measured pass over the held tree: sequential writes, sequential reads, or pipelined Tgetattr. */
export async function profilePass(arg: { what: "write" | "read" | "getattr"; ms?: number }): Promise<{ ms: number; ops: number }> {
  const h = held;
  if (!h) throw new Error("profileOpen first");
  const t0 = performance.now();
  if (arg.what === "write") {
    for (let i = 0; i < h.n; i++) await h.client.write(h.fid, i * h.size, h.data);
    await h.client.request({ type: "Tfsync", fid: h.fid, datasync: 0 });
    return { ms: performance.now() - t0, ops: h.n };
  }
  if (arg.what === "read") {
    for (let i = 0; i < h.n; i++) await h.client.read(h.fid, i * h.size, h.size);
    return { ms: performance.now() - t0, ops: h.n };
  }
  const r = await forMs(arg.ms ?? 2000, 32, async () => {
    await h.client.request({ type: "Tgetattr", fid: h.fid, mask: GetattrMask.BASIC });
  });
  return { ms: r.ms, ops: r.n };
}

export async function profileClose(): Promise<void> {
  const h = held;
  held = undefined;
  if (!h) return;
  h.client.close();
  await h.server.close();
}
