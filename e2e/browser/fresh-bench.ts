/**
 * The headline figures of `npm run bench:browser` (issue 10's table), all in
 * one page and one run:
 *
 *   - freshIo (page): through createFileServer() + MessagePort + 9P Client,
 *     per round a fresh file: 512 KiB Twrite one in flight, Tfsync, then
 *     Tread of what was just written, one in flight — the read follows a
 *     fresh write+fsync, as an application's does;
 *   - rawFresh (dedicated worker): the same rounds on a raw OPFS sync access
 *     handle: write() calls of the same size, flush(), read() calls;
 *   - createRate (page): files created per second, walk + Tlcreate +
 *     1 KiB Twrite + Tclunk, 32 files in flight;
 *   - rawIdbFresh (dedicated worker): the floor under the IndexedDB store,
 *     raw IndexedDB doing the same rounds and creates with the store's records.
 *
 * MB/s is 10^6 bytes per second of wall time. Figures are medians over rounds.
 */
import { Client, createFileServer, portTransport, type FileServer, type StorageKind } from "../../src/index.js";
import { OpenFlags } from "../../src/protocol/constants.js";
import { OpfsStore, type SyncFileHandle } from "../../src/storage/opfs.js";
import { inProcessTransport } from "../../src/client/in-process.js";
import { FileSystem } from "../../src/fs/filesystem.js";
import { Server } from "../../src/server/server.js";
import { MemoryStore } from "../../src/storage/memory.js";
import type { InodeRecord, Store } from "../../src/storage/store.js";
import { openWorkerDb, req, txDone } from "../../src/storage/indexeddb-common.js";
import { unwrap } from "idb";

export interface FreshIoArg {
  storage: StorageKind;
  name: string;
  blockSize: number;
  /** Blocks per round (written, fsynced, then read back). */
  blocks: number;
  rounds: number;
}

export interface FreshIoResult {
  /** Median over rounds of the write phase (Tfsync included). */
  writeMBps: number;
  /** Median over rounds of the read phase, right after the write+fsync. */
  readMBps: number;
  writeRuns: number[];
  readRuns: number[];
  chunkSize: number;
}

export interface CreateRateArg {
  storage: StorageKind;
  name: string;
  ms: number;
  depth: number;
  fileBytes: number;
}

const mbps = (bytes: number, ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** raw-throughput.ts's pattern (one non-zero byte per 4 KiB), varied per round. */
function block(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) b[i] = (seed + i) & 0xff;
  return b;
}

async function withClient<T>(storage: StorageKind, name: string, run: (c: Client) => Promise<T>): Promise<{ value: T; chunkSize: number }> {
  const server = await createFileServer({ storage, name });
  try {
    const c = await Client.connect(portTransport(server.connect()), { msize: 1024 * 1024 + 24 });
    try {
      const value = await run(c);
      return { value, chunkSize: (await server.control.stats()).chunkSize };
    } finally {
      c.close();
    }
  } finally {
    await server.close();
  }
}

/** One round's write phase: a fresh file, `blocks` Twrites one in flight, then Tfsync. Returns the open fid. */
async function writeFresh(c: Client, path: string, data: Uint8Array, blocks: number): Promise<number> {
  const { fid } = await c.create(path, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
  for (let i = 0; i < blocks; i++) {
    const n = await c.write(fid, i * data.length, data);
    if (n !== data.length) throw new Error(`short write ${n}`);
  }
  await c.request({ type: "Tfsync", fid, datasync: 0 });
  return fid;
}

/** One round's read phase: the blocks just written, one Tread in flight, checked. */
async function readBack(c: Client, fid: number, data: Uint8Array, blocks: number): Promise<void> {
  const size = data.length;
  let bad = -1;
  for (let i = 0; i < blocks; i++) {
    const d = await c.read(fid, i * size, size);
    if (d.length !== size || d[0] !== data[0] || d[size - 4096] !== data[size - 4096]) bad = i;
  }
  if (bad >= 0) throw new Error(`block ${bad} read back wrong`);
}

export async function freshIo(arg: FreshIoArg): Promise<FreshIoResult> {
  const { blockSize: size, blocks } = arg;
  const { value, chunkSize } = await withClient(arg.storage, arg.name, async (c) => {
    if (c.maxIo < size) throw new Error(`msize ${c.msize} cannot carry ${size}-byte payloads`);
    const w: number[] = [];
    const r: number[] = [];
    for (let round = 0; round < arg.rounds; round++) {
      const data = block(size, round + 1);
      const path = `fresh-${round}.bin`;
      let t = performance.now();
      const fid = await writeFresh(c, path, data, blocks);
      w.push(mbps(blocks * size, performance.now() - t));
      t = performance.now();
      await readBack(c, fid, data, blocks);
      r.push(mbps(blocks * size, performance.now() - t));
      await c.clunk(fid);
      await c.unlink(path);
    }
    return { w, r };
  });
  return { writeMBps: median(value.w), readMBps: median(value.r), writeRuns: value.w, readRuns: value.r, chunkSize };
}

/**
 * Recycled frame buffers against exact frames in fresh buffers (portTransport's
 * `recycle: false`, the wire before transport/frame-pool.ts): two clients of one
 * file server write a fresh file each (one 512 KiB Twrite in flight, taking
 * turns every TURN requests, the first to go alternating), Tfsync, then read
 * them back the same way. Each turn is timed (a page's clock ticks in 100 µs),
 * so a median per client holds up on a loaded machine where a round's MB/s
 * does not.
 */
const TURN = 8;

export async function recycleAB(arg: FreshIoArg): Promise<{ recycled: { w: number[]; r: number[] }; exact: { w: number[]; r: number[] }; chunkSize: number }> {
  const { blockSize: size } = arg;
  const blocks = Math.ceil(arg.blocks / TURN) * TURN;
  const server = await createFileServer({ storage: arg.storage, name: arg.name });
  try {
    const clients = {
      recycled: await Client.connect(portTransport(server.connect()), { msize: 1024 * 1024 + 24 }),
      exact: await Client.connect(portTransport(server.connect(), { recycle: false }), { msize: 1024 * 1024 + 24 }),
    };
    /** µs per request. */
    const out = { recycled: { w: [] as number[], r: [] as number[] }, exact: { w: [] as number[], r: [] as number[] } };
    const both = ["recycled", "exact"] as const;
    try {
      for (let round = 0; round < arg.rounds; round++) {
        const data = block(size, round + 1);
        const fids = { recycled: 0, exact: 0 };
        for (const which of both) fids[which] = (await clients[which].create(`ab-${which}-${round}.bin`, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC)).fid;
        for (let i = 0; i < blocks; i += TURN) {
          for (const which of (i / TURN + round) % 2 === 0 ? both : ([...both].reverse() as ("recycled" | "exact")[])) {
            const t = performance.now();
            for (let j = i; j < i + TURN; j++) {
              const n = await clients[which].write(fids[which], j * size, data);
              if (n !== size) throw new Error(`short write ${n}`);
            }
            out[which].w.push(((performance.now() - t) * 1000) / TURN);
          }
        }
        for (const which of both) await clients[which].request({ type: "Tfsync", fid: fids[which], datasync: 0 });
        for (let i = 0; i < blocks; i += TURN) {
          for (const which of (i / TURN + round) % 2 === 0 ? both : ([...both].reverse() as ("recycled" | "exact")[])) {
            const t = performance.now();
            for (let j = i; j < i + TURN; j++) {
              const d = await clients[which].read(fids[which], j * size, size);
              if (d.length !== size || d[0] !== data[0] || d[size - 4096] !== data[size - 4096]) throw new Error(`block ${j} read back wrong`);
            }
            out[which].r.push(((performance.now() - t) * 1000) / TURN);
          }
        }
        for (const which of both) {
          await clients[which].clunk(fids[which]);
          await clients[which].unlink(`ab-${which}-${round}.bin`);
        }
      }
    } finally {
      for (const which of both) clients[which].close();
    }
    return { ...out, chunkSize: (await server.control.stats()).chunkSize };
  } finally {
    await server.close();
  }
}

/** The same rounds on a raw sync access handle (run in a dedicated worker). */
export async function rawFresh(arg: { blockSize: number; blocks: number; rounds: number }): Promise<{ writeMBps: number; readMBps: number; writeRuns: number[]; readRuns: number[] }> {
  const { blockSize: size, blocks } = arg;
  const root = await navigator.storage.getDirectory();
  const w: number[] = [];
  const r: number[] = [];
  for (let round = 0; round < arg.rounds; round++) {
    const name = `raw-fresh-${round}-${Math.random().toString(36).slice(2)}`;
    const fh = (await root.getFileHandle(name, { create: true })) as unknown as SyncFileHandle;
    const h = await fh.createSyncAccessHandle();
    try {
      const data = block(size, round + 1);
      let t = performance.now();
      for (let i = 0; i < blocks; i++) h.write(data, { at: i * size });
      h.flush();
      w.push(mbps(blocks * size, performance.now() - t));
      t = performance.now();
      for (let i = 0; i < blocks; i++) {
        // A fresh buffer per call, as a reader handing the data onward needs.
        const out = new Uint8Array(size);
        h.read(out, { at: i * size });
      }
      r.push(mbps(blocks * size, performance.now() - t));
    } finally {
      h.close();
      await root.removeEntry(name).catch(() => {});
    }
  }
  return { writeMBps: median(w), readMBps: median(r), writeRuns: w, readRuns: r };
}

/** walk + Tlcreate + Twrite + Tclunk of new files under `dir`, `depth` at once, for `ms`. */
async function createFiles(c: Client, dir: string, ms: number, depth: number, fileBytes: number): Promise<{ files: number; ms: number }> {
  const data = block(fileBytes, 7);
  await c.mkdir(dir);
  let next = 0;
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + ms;
  const lane = async () => {
    while (performance.now() < deadline) {
      const { fid } = await c.create(`${dir}/f${next++}`, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC);
      await c.write(fid, 0, data);
      await c.clunk(fid);
      done++;
    }
  };
  await Promise.all(Array.from({ length: depth }, lane));
  return { files: done, ms: performance.now() - t0 };
}

export async function createRate(arg: CreateRateArg): Promise<{ filesPerS: number; files: number }> {
  const { value } = await withClient(arg.storage, arg.name, async (c) => {
    const r = await createFiles(c, "creates", arg.ms, arg.depth, arg.fileBytes);
    return { filesPerS: Math.round(r.files / (r.ms / 1000)), files: r.files };
  });
  return value;
}

// --- Profiled passes (bench:browser --profile): the same three passes as above, on a server held
// open between calls, so that Node can start and stop the worker's CPU profiler around each one.

let held: { server: FileServer; client: Client; passes: number; fid?: number; data?: Uint8Array } | undefined;

/** Opens a tree and a client for freshPass; the 9P worker's name is returned for the profiler. */
export async function freshProfileOpen(arg: { storage: StorageKind; name: string }): Promise<{ workerName: string }> {
  if (held) throw new Error("freshProfileClose first");
  const server = await createFileServer({ storage: arg.storage, name: arg.name });
  const client = await Client.connect(portTransport(server.connect()), { msize: 1024 * 1024 + 24 });
  held = { server, client, passes: 0 };
  return { workerName: `worker9p:${arg.name}` };
}

/**
 * One pass: "write" (fresh file, blocks × Twrite, Tfsync), "read" (the file the last write pass
 * left, read back), or "create" (files created for `ms`). Returns its wall time and operations
 * (Twrite/Tread requests, or files).
 */
export async function freshPass(arg: { what: "write" | "read" | "create"; blockSize: number; blocks: number; ms: number; depth: number; fileBytes: number }): Promise<{ ms: number; ops: number }> {
  const h = held;
  if (!h) throw new Error("freshProfileOpen first");
  const n = h.passes++;
  const t0 = performance.now();
  if (arg.what === "write") {
    h.data = block(arg.blockSize, n + 1);
    h.fid = await writeFresh(h.client, `prof-${n}.bin`, h.data, arg.blocks);
    return { ms: performance.now() - t0, ops: arg.blocks };
  }
  if (arg.what === "read") {
    if (h.fid === undefined || !h.data) throw new Error("a write pass first");
    await readBack(h.client, h.fid, h.data, arg.blocks);
    return { ms: performance.now() - t0, ops: arg.blocks };
  }
  const r = await createFiles(h.client, `creates-${n}`, arg.ms, arg.depth, arg.fileBytes);
  return { ms: r.ms, ops: r.files };
}

export async function freshProfileClose(): Promise<void> {
  const h = held;
  held = undefined;
  if (!h) return;
  h.client.close();
  await h.server.close();
}

/**
 * Checkpoints that hold writers vs checkpoints that let them go on (OPFS invariant 14), written in
 * this worker, vs the same written by the helper worker (invariant 15), side by side in one
 * dedicated worker: files created per second through Server + Client in one thread
 * (no MessagePort, whose noise would drown the difference), `rounds` alternating rounds of each
 * and of the memory store. Medians.
 */
export async function checkpointCreateAB(arg: { ms: number; depth: number; fileBytes: number; rounds: number }): Promise<{ holding: number[]; background: number[]; helper: number[]; memory: number[] }> {
  const out = { holding: [] as number[], background: [] as number[], helper: [] as number[], memory: [] as number[] };
  for (let round = 0; round < arg.rounds; round++) {
    for (const kind of ["holding", "background", "helper", "memory"] as const) {
      const name = `ab-${kind}-${round}-${Math.random().toString(36).slice(2)}`;
      const store: Store =
        kind === "memory" ? new MemoryStore() : await OpfsStore.open(name, { checkpointHoldsWriters: kind === "holding", checkpointInHelper: kind === "helper" });
      try {
        const c = await Client.connect(inProcessTransport(new Server(await FileSystem.open(store)), { copyRequests: false }), { msize: 1024 * 1024 + 24 });
        const r = await createFiles(c, "creates", arg.ms, arg.depth, arg.fileBytes);
        c.close();
        out[kind].push(Math.round(r.files / (r.ms / 1000)));
      } finally {
        await store.close();
        if (kind !== "memory") await OpfsStore.destroy(name);
      }
    }
  }
  return out;
}

// --- Raw IndexedDB floor (bench:browser's headline, beside raw OPFS): what IndexedDB itself does with
// the IndexedDB store's own records, in a dedicated worker, in the same run.

export interface RawIdbFreshResult {
  /** One relaxed readwrite transaction per 512 KiB block (its chunks as values), as the store does with one Twrite in flight; then a strict one (Tfsync). */
  writeTxPerBlockMBps: number;
  /** One strict readwrite transaction for all the round's blocks. */
  writeTxPerRoundMBps: number;
  /** One readonly transaction per block, one get() per chunk. */
  readGetMBps: number;
  /** One readonly transaction per block, one getAll() over its chunks. */
  readGetAllMBps: number;
  /** Create-like transactions (a new inode, its entry, the directory's inode, the next-inode counter, a 1 KiB chunk), one per file, 32 in flight. */
  createTxPerFilePerS: number;
  /** The same records, 32 files per transaction, one transaction at a time. */
  createTxPer32PerS: number;
}

/**
 * raw IndexedDB rounds shaped like freshIo's: per round `blocks` × `blockSize` bytes written as
 * `chunkSize` values keyed [ino, index] into the store's own schema (openWorkerDb), then read back;
 * then `files` create-like transactions. Medians over rounds.
 */
export async function rawIdbFresh(arg: { blockSize: number; blocks: number; rounds: number; chunkSize: number; files: number }): Promise<RawIdbFreshResult> {
  const { blockSize: size, blocks, chunkSize } = arg;
  const per = size / chunkSize;
  const name = `raw-idb-fresh-${Math.random().toString(36).slice(2)}`;
  const db = unwrap(await openWorkerDb(name, false, () => {}));
  const runs: Record<keyof RawIdbFreshResult, number[]> = {
    writeTxPerBlockMBps: [], writeTxPerRoundMBps: [], readGetMBps: [], readGetAllMBps: [], createTxPerFilePerS: [], createTxPer32PerS: [],
  };
  const bytes = blocks * size;
  let ino = 1;
  try {
    for (let round = 0; round < arg.rounds; round++) {
      const data = block(size, round + 1);
      // Values the size of the store's chunks (a put clones at once, so they can be reused).
      const chunks = Array.from({ length: per }, (_, i) => data.slice(i * chunkSize, (i + 1) * chunkSize));
      for (const perRound of [false, true]) {
        const file = ino++;
        const t = performance.now();
        let tx: IDBTransaction | undefined;
        for (let b = 0; b < blocks; b++) {
          const last = b === blocks - 1;
          // The round ends durable, as the store's Tfsync does: per block, a strict transaction of
          // the inode after the relaxed ones; per round, the one transaction is strict.
          tx ??= db.transaction(["chunks", "inodes"], "readwrite", { durability: perRound ? "strict" : "relaxed" });
          for (let i = 0; i < per; i++) tx.objectStore("chunks").put(chunks[i]!, [file, b * per + i]);
          tx.objectStore("inodes").put(newRecord(file, (b + 1) * size));
          if (!perRound || last) {
            await txDone(tx);
            tx = undefined;
          }
          if (!perRound && last) {
            const sync = db.transaction("inodes", "readwrite", { durability: "strict" });
            sync.objectStore("inodes").put(newRecord(file, blocks * size));
            await txDone(sync);
          }
        }
        (perRound ? runs.writeTxPerRoundMBps : runs.writeTxPerBlockMBps).push(mbps(bytes, performance.now() - t));
      }
      const file = ino - 1;
      for (const all of [false, true]) {
        const t = performance.now();
        for (let b = 0; b < blocks; b++) {
          const tx = db.transaction("chunks", "readonly");
          const s = tx.objectStore("chunks");
          const first = b * per;
          const got = all
            ? ((await req(s.getAll(IDBKeyRange.bound([file, first], [file, first + per - 1]), per))) as Uint8Array[])
            : ((await Promise.all(Array.from({ length: per }, (_, i) => req(s.get([file, first + i]))))) as Uint8Array[]);
          if (got.length !== per || got[0]![0] !== data[0]) throw new Error(`raw IndexedDB block ${b} read back wrong`);
        }
        (all ? runs.readGetAllMBps : runs.readGetMBps).push(mbps(bytes, performance.now() - t));
      }
      const small = block(1024, 7);
      for (const batched of [false, true]) {
        const dir = ino++;
        const t = performance.now();
        if (batched) {
          for (let f = 0; f < arg.files; f += 32) {
            const tx = db.transaction(["inodes", "entries", "chunks", "meta"], "readwrite", { durability: "relaxed" });
            for (let j = f; j < Math.min(arg.files, f + 32); j++) createLike(tx, dir, j, ino++, small);
            await txDone(tx);
          }
        } else {
          let next = 0;
          const lane = async (): Promise<void> => {
            while (next < arg.files) {
              const tx = db.transaction(["inodes", "entries", "chunks", "meta"], "readwrite", { durability: "relaxed" });
              createLike(tx, dir, next++, ino++, small);
              await txDone(tx);
            }
          };
          await Promise.all(Array.from({ length: 32 }, lane));
        }
        const perS = Math.round(arg.files / ((performance.now() - t) / 1000));
        (batched ? runs.createTxPer32PerS : runs.createTxPerFilePerS).push(perS);
      }
    }
  } finally {
    db.close();
    await req(indexedDB.deleteDatabase(name)).catch(() => {});
  }
  const out = {} as RawIdbFreshResult;
  for (const k of Object.keys(runs) as (keyof RawIdbFreshResult)[]) out[k] = median(runs[k]);
  return out;
}

function newRecord(ino: number, size: number): InodeRecord {
  const t = { sec: 1_700_000_000, nsec: 0 };
  return { ino, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size, atime: t, mtime: t, ctime: t, btime: t, version: 1, chunks: 1, parent: 0, nextCookie: 0 };
}

/** What a create + small write puts: the new inode, its entry, the directory's inode, the inode counter, the data. */
function createLike(tx: IDBTransaction, dir: number, n: number, ino: number, data: Uint8Array): void {
  tx.objectStore("inodes").put(newRecord(ino, data.length));
  tx.objectStore("entries").put({ dir, name: `f${n}`, ino, cookie: 3 + n, dtype: 8 });
  tx.objectStore("inodes").put({ ...newRecord(dir, 0), mode: 0o40755, nextCookie: 4 + n });
  tx.objectStore("meta").put(ino + 1, "nextIno");
  tx.objectStore("chunks").put(data, [ino, 0]);
}
