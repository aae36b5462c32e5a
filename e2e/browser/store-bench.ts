/**
 * Store-level throughput in a dedicated worker, shaped like the file-system
 * layer uses a Store (src/fs/data.ts): one transaction per 9P read or write,
 * chunks fetched one awaited getChunk at a time, whole chunks put without
 * reading them, partial chunks read-patched-put. Used to choose chunk sizes
 * and printed by the browser tests beside the raw figures of raw-throughput.ts.
 */
import { IndexedDBStore } from "../../src/storage/indexeddb.js";
import { OpfsStore } from "../../src/storage/opfs.js";
import type { InodeRecord, Store, StoreTx } from "../../src/storage/store.js";

export interface StoreBenchOptions {
  kind: "indexeddb" | "opfs";
  chunkSize?: number;
  inlineLimit?: number;
  /** File size for the sequential passes; default 32 MiB. */
  totalBytes?: number;
  /** Bytes per sequential read/write call; default 512 KiB. */
  ioSize?: number;
  /** Random 4 KiB writes and reads; default 300 each. */
  randomOps?: number;
  durable?: boolean;
}

export interface StoreBenchResult {
  kind: string;
  chunkSize: number;
  seqWriteMBps: number;
  seqOverwriteMBps: number;
  seqReadMBps: number;
  rand4kWriteUs: number;
  rand4kReadUs: number;
}

const INO = 100;

function inode(): InodeRecord {
  const t = { sec: 0, nsec: 0 };
  return { ino: INO, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size: 0, atime: t, mtime: t, ctime: t, btime: t, version: 0, chunks: 0, parent: 0, nextCookie: 3 };
}

async function write(tx: StoreTx, cs: number, offset: number, data: Uint8Array): Promise<void> {
  const rec = (await tx.getInode(INO))!;
  for (let done = 0; done < data.length; ) {
    const pos = offset + done;
    const index = Math.floor(pos / cs);
    const within = pos - index * cs;
    const take = Math.min(cs - within, data.length - done);
    let buf: Uint8Array;
    if (take === cs) buf = data.slice(done, done + take);
    else {
      const old = index * cs < rec.size ? await tx.getChunk(INO, index) : undefined;
      buf = new Uint8Array(Math.max(old?.length ?? 0, within + take));
      if (old) buf.set(old);
      buf.set(data.subarray(done, done + take), within);
    }
    await tx.putChunk(INO, index, buf);
    done += take;
  }
  rec.size = Math.max(rec.size, offset + data.length);
  rec.version++;
  await tx.putInode(rec);
}

async function read(tx: StoreTx, cs: number, offset: number, dest: Uint8Array): Promise<void> {
  await tx.getInode(INO);
  for (let done = 0; done < dest.length; ) {
    const pos = offset + done;
    const index = Math.floor(pos / cs);
    const within = pos - index * cs;
    const take = Math.min(cs - within, dest.length - done);
    const c = await tx.getChunk(INO, index);
    if (c) dest.set(c.subarray(within, within + take), done);
    done += take;
  }
}

const mbps = (bytes: number, ms: number) => Math.round((bytes / 1e6 / (ms / 1000)) * 10) / 10;

export async function storeBench(o: StoreBenchOptions): Promise<StoreBenchResult> {
  const name = `bench-${o.kind}-${Math.random().toString(36).slice(2)}`;
  const store: Store =
    o.kind === "indexeddb"
      ? await IndexedDBStore.open(name, o.chunkSize ? { chunkSize: o.chunkSize } : {})
      : await OpfsStore.open(name, { ...(o.chunkSize ? { chunkSize: o.chunkSize } : {}), ...(o.inlineLimit !== undefined ? { inlineLimit: o.inlineLimit } : {}) });
  const cs = store.chunkSize;
  const total = o.totalBytes ?? 32 * 1024 * 1024;
  const io = o.ioSize ?? 512 * 1024;
  const n = Math.floor(total / io);
  const txo = { durable: o.durable ?? false };
  try {
    await store.transaction("readwrite", (tx) => tx.putInode(inode()));
    const data = new Uint8Array(io);
    for (let i = 0; i < io; i += 512) data[i] = i & 0xff;
    let t = performance.now();
    for (let i = 0; i < n; i++) await store.transaction("readwrite", (tx) => write(tx, cs, i * io, data), txo);
    const seqWrite = mbps(n * io, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < n; i++) await store.transaction("readwrite", (tx) => write(tx, cs, i * io, data), txo);
    const seqOverwrite = mbps(n * io, performance.now() - t);
    t = performance.now();
    for (let i = 0; i < n; i++) {
      const dest = new Uint8Array(io);
      await store.transaction("readonly", (tx) => read(tx, cs, i * io, dest));
    }
    const seqRead = mbps(n * io, performance.now() - t);
    const ops = o.randomOps ?? 300;
    let x = 12345;
    const rnd = () => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x;
    };
    const small = new Uint8Array(4096).fill(7);
    t = performance.now();
    for (let i = 0; i < ops; i++) {
      const off = (rnd() % (total / 4096)) * 4096;
      await store.transaction("readwrite", (tx) => write(tx, cs, off, small), txo);
    }
    const randW = ((performance.now() - t) * 1000) / ops;
    t = performance.now();
    for (let i = 0; i < ops; i++) {
      const off = (rnd() % (total / 4096)) * 4096;
      const dest = new Uint8Array(4096);
      await store.transaction("readonly", (tx) => read(tx, cs, off, dest));
    }
    const randR = ((performance.now() - t) * 1000) / ops;
    return { kind: o.kind, chunkSize: cs, seqWriteMBps: seqWrite, seqOverwriteMBps: seqOverwrite, seqReadMBps: seqRead, rand4kWriteUs: Math.round(randW), rand4kReadUs: Math.round(randR) };
  } finally {
    await store.close();
    if (o.kind === "indexeddb") await IndexedDBStore.destroy(name);
    else await OpfsStore.destroy(name);
  }
}

/** Several configurations round-robin, `repeat` times, medians reported (the machine is noisy). */
export async function storeBenchMatrix(arg: { configs: StoreBenchOptions[]; repeat?: number }): Promise<StoreBenchResult[]> {
  const runs: StoreBenchResult[][] = arg.configs.map(() => []);
  for (let r = 0; r < (arg.repeat ?? 1); r++) for (let i = 0; i < arg.configs.length; i++) runs[i]!.push(await storeBench(arg.configs[i]!));
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return runs.map((rs) => ({
    kind: rs[0]!.kind,
    chunkSize: rs[0]!.chunkSize,
    seqWriteMBps: med(rs.map((r) => r.seqWriteMBps)),
    seqOverwriteMBps: med(rs.map((r) => r.seqOverwriteMBps)),
    seqReadMBps: med(rs.map((r) => r.seqReadMBps)),
    rand4kWriteUs: med(rs.map((r) => r.rand4kWriteUs)),
    rand4kReadUs: med(rs.map((r) => r.rand4kReadUs)),
  }));
}
