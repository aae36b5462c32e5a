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
 *     1 KiB Twrite + Tclunk, 32 files in flight.
 *
 * MB/s is 10^6 bytes per second of wall time. Figures are medians over rounds.
 */
import { Client, createFileServer, portTransport, type StorageKind } from "../../src/index.js";
import { OpenFlags } from "../../src/protocol/constants.js";
import type { SyncFileHandle } from "../../src/storage/opfs.js";

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

export async function freshIo(arg: FreshIoArg): Promise<FreshIoResult> {
  const { blockSize: size, blocks } = arg;
  const { value, chunkSize } = await withClient(arg.storage, arg.name, async (c) => {
    if (c.maxIo < size) throw new Error(`msize ${c.msize} cannot carry ${size}-byte payloads`);
    const w: number[] = [];
    const r: number[] = [];
    for (let round = 0; round < arg.rounds; round++) {
      const data = block(size, round + 1);
      const path = `fresh-${round}.bin`;
      const { fid } = await c.create(path, OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.TRUNC);
      let t = performance.now();
      for (let i = 0; i < blocks; i++) {
        const n = await c.write(fid, i * size, data);
        if (n !== size) throw new Error(`short write ${n}`);
      }
      await c.request({ type: "Tfsync", fid, datasync: 0 });
      w.push(mbps(blocks * size, performance.now() - t));
      t = performance.now();
      let bad = -1;
      for (let i = 0; i < blocks; i++) {
        const d = await c.read(fid, i * size, size);
        if (d.length !== size || d[0] !== data[0] || d[size - 4096] !== data[size - 4096]) bad = i;
      }
      r.push(mbps(blocks * size, performance.now() - t));
      if (bad >= 0) throw new Error(`block ${bad} read back wrong`);
      await c.clunk(fid);
      await c.unlink(path);
    }
    return { w, r };
  });
  return { writeMBps: median(value.w), readMBps: median(value.r), writeRuns: value.w, readRuns: value.r, chunkSize };
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

export async function createRate(arg: CreateRateArg): Promise<{ filesPerS: number; files: number }> {
  const { value } = await withClient(arg.storage, arg.name, async (c) => {
    const data = block(arg.fileBytes, 7);
    await c.mkdir("creates");
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    const deadline = t0 + arg.ms;
    const lane = async () => {
      while (performance.now() < deadline) {
        // walk (inside create) + Tlcreate + Twrite + Tclunk
        const { fid } = await c.create(`creates/f${next++}`, OpenFlags.WRONLY | OpenFlags.CREAT | OpenFlags.TRUNC);
        await c.write(fid, 0, data);
        await c.clunk(fid);
        done++;
      }
    };
    await Promise.all(Array.from({ length: arg.depth }, lane));
    return { filesPerS: Math.round(done / ((performance.now() - t0) / 1000)), files: done };
  });
  return value;
}
