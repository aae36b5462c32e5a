/**
 * Raw storage throughput in the calling dedicated worker, with no store in
 * between: the yardstick the stores (and the browser benchmark) are compared
 * against. Call through the harness:
 *   runInWorker("/e2e/browser/raw-throughput.ts", "rawOpfs", { blockSize: 512 * 1024 })
 *
 * MB/s here is 10^6 bytes per second of wall time, as in browser.md.
 */
import { req, txDone } from "../../src/storage/indexeddb-common.js";
import type { SyncFileHandle } from "../../src/storage/opfs.js";

export interface RawOptions {
  /** Bytes per call (OPFS) or per value (IndexedDB). */
  blockSize: number;
  /** Bytes moved per direction; default 32 MiB. */
  totalBytes?: number;
  /** IndexedDB only: values per transaction (1 = one transaction per block). Default 1. */
  perTx?: number;
  /** IndexedDB: "strict" or "relaxed" (default). OPFS: flush() after every call when "strict". */
  durability?: "strict" | "relaxed";
  /** Name of the scratch file / database (deleted afterwards). */
  name?: string;
}

export interface RawResult {
  what: string;
  blockSize: number;
  totalBytes: number;
  writeMBps: number;
  readMBps: number;
}

function mbps(bytes: number, ms: number): number {
  return Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;
}

function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) b[i] = (seed + i) & 0xff;
  return b;
}

export async function rawOpfs(opts: RawOptions): Promise<RawResult> {
  const { blockSize } = opts;
  const total = opts.totalBytes ?? 32 * 1024 * 1024;
  const n = Math.max(1, Math.floor(total / blockSize));
  const name = opts.name ?? `raw-opfs-${blockSize}-${Math.random().toString(36).slice(2)}`;
  const root = await navigator.storage.getDirectory();
  const fh = (await root.getFileHandle(name, { create: true })) as unknown as SyncFileHandle;
  const h = await fh.createSyncAccessHandle();
  try {
    const buf = pattern(blockSize, 1);
    let t = performance.now();
    for (let i = 0; i < n; i++) {
      h.write(buf, { at: i * blockSize });
      if (opts.durability === "strict") h.flush();
    }
    h.flush();
    const writeMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < n; i++) {
      // A fresh buffer per call, as a reader handing data onward must.
      const out = new Uint8Array(blockSize);
      h.read(out, { at: i * blockSize });
    }
    const readMs = performance.now() - t;
    return { what: "opfs", blockSize, totalBytes: n * blockSize, writeMBps: mbps(n * blockSize, writeMs), readMBps: mbps(n * blockSize, readMs) };
  } finally {
    h.close();
    await root.removeEntry(name).catch(() => {});
  }
}

export async function rawIdb(opts: RawOptions): Promise<RawResult> {
  const { blockSize } = opts;
  const total = opts.totalBytes ?? 32 * 1024 * 1024;
  const perTx = opts.perTx ?? 1;
  const n = Math.max(perTx, Math.floor(total / blockSize / perTx) * perTx);
  const name = opts.name ?? `raw-idb-${blockSize}-${Math.random().toString(36).slice(2)}`;
  const durability = opts.durability ?? "relaxed";
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => open.result.createObjectStore("v");
  const db = await req(open);
  try {
    let t = performance.now();
    for (let i = 0; i < n; i += perTx) {
      const tx = db.transaction("v", "readwrite", { durability });
      const s = tx.objectStore("v");
      // Fresh buffers: a store receives new data on every write.
      for (let j = 0; j < perTx; j++) s.put(pattern(blockSize, i + j), i + j);
      await txDone(tx);
    }
    const writeMs = performance.now() - t;
    t = performance.now();
    for (let i = 0; i < n; i += perTx) {
      const tx = db.transaction("v", "readonly");
      const s = tx.objectStore("v");
      const gets: Promise<unknown>[] = [];
      for (let j = 0; j < perTx; j++) gets.push(req(s.get(i + j)));
      await Promise.all(gets);
      await txDone(tx);
    }
    const readMs = performance.now() - t;
    return {
      what: `idb x${perTx}/tx ${durability}`,
      blockSize,
      totalBytes: n * blockSize,
      writeMBps: mbps(n * blockSize, writeMs),
      readMBps: mbps(n * blockSize, readMs),
    };
  } finally {
    db.close();
    await req(indexedDB.deleteDatabase(name)).catch(() => {});
  }
}

/**
 * Several measurements in one worker call (the benchmark prints them beside
 * the store's). With `repeat`, configurations run round-robin that many times
 * and each reports its median: a shared 2-core machine is noisy run to run.
 */
export async function rawMatrix(arg: { opfs?: RawOptions[]; idb?: RawOptions[]; repeat?: number }): Promise<RawResult[]> {
  const jobs: (() => Promise<RawResult>)[] = [
    ...(arg.opfs ?? []).map((o) => () => rawOpfs(o)),
    ...(arg.idb ?? []).map((o) => () => rawIdb(o)),
  ];
  const runs: RawResult[][] = jobs.map(() => []);
  for (let r = 0; r < (arg.repeat ?? 1); r++) {
    for (let i = 0; i < jobs.length; i++) runs[i]!.push(await jobs[i]!());
  }
  return runs.map((rs) => ({
    ...rs[0]!,
    writeMBps: median(rs.map((x) => x.writeMBps)),
    readMBps: median(rs.map((x) => x.readMBps)),
  }));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
