/**
 * Worker-side bodies of e2e/browser-stores.test.ts. Each export runs inside a
 * dedicated worker of real Chromium (real IndexedDB, real OPFS) through
 * harness.runInWorker, and returns a structured-cloneable report.
 */
import { runStoreConformance, type ConformanceReport } from "../../src/storage/conformance.js";
import { IndexedDBStore } from "../../src/storage/indexeddb.js";
import { OpfsStore, opfsDirectoryName, opfsStoreDbName, type OpfsStoreOptions, type SyncFileHandle } from "../../src/storage/opfs.js";
import { readHead } from "../../src/storage/journal-codec.js";
import { OverlayLayer } from "../../src/storage/opfs-overlay.js";
import { writeOverlay } from "../../src/storage/opfs-checkpoint.js";
import type { WorkerDb } from "../../src/storage/indexeddb-common.js";
import type { InodeRecord, Store } from "../../src/storage/store.js";
import type { WorkerContext } from "./protocol.js";
import { bytes } from "./test-bytes.js";

let unique = 0;
const freshName = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${unique++}`;

export async function conformanceIndexedDB(arg: { chunkSize?: number } | null, ctx: WorkerContext): Promise<ConformanceReport> {
  const opts = arg?.chunkSize ? { chunkSize: arg.chunkSize } : {};
  const names = new Map<Store, string>();
  const report = await runStoreConformance(
    async () => {
      const name = freshName("conf-idb");
      const s = await IndexedDBStore.open(name, opts);
      names.set(s, name);
      return s;
    },
    {
      reopen: async (s) => {
        const name = names.get(s)!;
        await s.close();
        const again = await IndexedDBStore.open(name, opts);
        names.set(again, name);
        return again;
      },
      onCheck: (r) => ctx.progress(r),
    },
  );
  for (const name of new Set(names.values())) await IndexedDBStore.destroy(name).catch(() => {});
  return report;
}

export async function conformanceOpfs(arg: OpfsStoreOptions | null, ctx: WorkerContext): Promise<ConformanceReport & { checks: string[] }> {
  const opts: OpfsStoreOptions = arg ?? {};
  const names = new Map<Store, string>();
  const problems: string[] = [];
  const checked: string[] = [];
  // Every store is checked for slot leaks before it is closed.
  const verify = async (s: Store): Promise<void> => {
    const r = await (s as OpfsStore).check();
    checked.push(`${names.get(s)}: hwm ${r.hwm}, used ${r.usedSlots}, free ${r.freeSlots}, inline ${r.inlineChunks}`);
    if (!r.ok) problems.push(`${names.get(s)}: ${r.problems.join("; ")}`);
  };
  const open = async (name: string): Promise<Store> => {
    const s = await OpfsStore.open(name, opts);
    names.set(s, name);
    const close = s.close.bind(s);
    s.close = async () => {
      await verify(s).catch((e) => problems.push(String(e)));
      await close();
    };
    return s;
  };
  const report = await runStoreConformance(() => open(freshName("conf-opfs")), {
    reopen: async (s) => {
      const name = names.get(s)!;
      await s.close();
      return open(name);
    },
    onCheck: (r) => ctx.progress(r),
  });
  for (const name of new Set(names.values())) await OpfsStore.destroy(name).catch(() => {});
  if (problems.length) throw new Error(`slot bookkeeping problems:\n${problems.join("\n")}`);
  return { ...report, checks: checked };
}

// ---------------------------------------------------------------- shared helpers

export type Kind = "indexeddb" | "opfs";

async function openStore(kind: Kind, name: string, opts: OpfsStoreOptions = {}): Promise<Store> {
  return kind === "indexeddb" ? IndexedDBStore.open(name, opts.chunkSize ? { chunkSize: opts.chunkSize } : {}) : OpfsStore.open(name, opts);
}

export async function destroyStore(arg: { kind: Kind; name: string }): Promise<void> {
  if (arg.kind === "indexeddb") await IndexedDBStore.destroy(arg.name);
  else await OpfsStore.destroy(arg.name);
}

const T0 = { sec: 1_700_000_000, nsec: 0 };
function fileInode(ino: number, size: number, version: number): InodeRecord {
  return { ino, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size, atime: T0, mtime: T0, ctime: T0, btime: T0, version, chunks: 0, parent: 0, nextCookie: 3 };
}


function same(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------- persistence across reload

/** A small tree with every kind of record; `verifyTree` checks it chunk by chunk. */
/** Names that are not UTF-8, as the server stores them (protocol/name-bytes.ts): Latin-1 "caf\xe9" and "caf\xe8". */
const RAW_NAMES = ["caf\udce9", "caf\udce8"];

async function writeTree(store: Store): Promise<void> {
  const cs = store.chunkSize;
  await store.transaction("readwrite", async (tx) => {
    await tx.putInode({ ...fileInode(1, 0, 1), mode: 0o40755, parent: 1, nextCookie: 3 + 20 + RAW_NAMES.length });
    // empty files named with bytes: a replay must not turn the names into U+FFFD (and into one name)
    for (const [i, name] of RAW_NAMES.entries()) {
      await tx.putInode(fileInode(40 + i, 0, 1));
      await tx.putEntry({ dir: 1, name, ino: 40 + i, cookie: 3 + 20 + i, dtype: 8 });
    }
    for (let f = 0; f < 20; f++) {
      const ino = 10 + f;
      const sizes = [cs, cs, 100 + f * 37];
      for (let c = 0; c < sizes.length; c++) await tx.putChunk(ino, c, bytes(sizes[c]!, ino * 100 + c));
      await tx.putInode(fileInode(ino, 2 * cs + 100 + f * 37, 1));
      await tx.putEntry({ dir: 1, name: `file-${f}`, ino, cookie: 3 + f, dtype: 8 });
    }
    await tx.putMeta("nextIno", 30);
  }, { durable: true });
}

async function verifyTree(store: Store): Promise<string[]> {
  const cs = store.chunkSize;
  const problems: string[] = [];
  await store.transaction("readonly", async (tx) => {
    if ((await tx.getMeta("nextIno")) !== 30) problems.push("meta nextIno");
    const list = await tx.listEntries(1, 0, 100);
    if (list.length !== 20 + RAW_NAMES.length) problems.push(`listEntries gave ${list.length} entries`);
    for (const [i, name] of RAW_NAMES.entries()) {
      if ((await tx.getEntry(1, name))?.ino !== 40 + i) problems.push(`entry ${JSON.stringify(name)} lost; names: ${JSON.stringify(list.map((e) => e.name))}`);
    }
    for (let f = 0; f < 20; f++) {
      const ino = 10 + f;
      const rec = await tx.getInode(ino);
      if (rec?.size !== 2 * cs + 100 + f * 37) problems.push(`inode ${ino}: ${JSON.stringify(rec)}`);
      const sizes = [cs, cs, 100 + f * 37];
      for (let c = 0; c < sizes.length; c++) {
        if (!same(await tx.getChunk(ino, c), bytes(sizes[c]!, ino * 100 + c))) problems.push(`chunk ${ino}:${c}`);
      }
    }
  });
  return problems;
}

/** Write the tree and leave the store open: the reload that follows kills this worker with it. */
export async function persistWrite(arg: { kind: Kind; name: string }): Promise<{ chunkSize: number }> {
  const store = await openStore(arg.kind, arg.name);
  await writeTree(store);
  // Deliberately not closed (OPFS handle still held): the page reload must cope.
  (globalThis as { keepAlive?: unknown }).keepAlive = store;
  return { chunkSize: store.chunkSize };
}

export async function persistVerify(arg: { kind: Kind; name: string }): Promise<{ problems: string[]; handleRetries: number; openMs: number }> {
  const started = performance.now();
  const store = await openStore(arg.kind, arg.name);
  const openMs = Math.round(performance.now() - started);
  try {
    const problems = await verifyTree(store);
    let handleRetries = 0;
    if (store instanceof OpfsStore) {
      handleRetries = store.openInfo.handleRetries;
      const check = await store.check();
      problems.push(...check.problems);
    }
    return { problems, handleRetries, openMs };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- ENOSPC under a lowered quota

export async function storageEstimate(): Promise<{ usage: number; quota: number }> {
  const e = await navigator.storage.estimate();
  return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
}

export async function quotaBaseline(arg: { kind: Kind; name: string }): Promise<{ usage: number; quota: number }> {
  const store = await openStore(arg.kind, arg.name);
  await writeTree(store);
  await store.close();
  return storageEstimate();
}

export interface QuotaReport {
  /** Bytes committed before the first ENOSPC. */
  committedBytes: number;
  error: string;
  errno: number | undefined;
  /** Problems with the earlier data or the failed transaction's leftovers (must be empty). */
  problems: string[];
  /** Bytes written (and read back) after deleting the filler files. */
  rewrittenBytes: number;
  /** With rewriteMayFail: the errno writing again stopped with, if it did. */
  rewriteErrno?: number;
  usage: { used: number; quota: number };
}

/** Fill the store until ENOSPC, check nothing earlier was hurt, delete, write again. */
export async function quotaFill(arg: { kind: Kind; name: string; maxBytes: number; chunkBytes?: number; rewriteMayFail?: boolean }): Promise<QuotaReport> {
  const store = await openStore(arg.kind, arg.name);
  // chunkBytes below the inline limit: every byte goes through the OPFS store's journal (and its checkpoints).
  const cs = arg.chunkBytes ?? store.chunkSize;
  const perFile = 4;
  const problems: string[] = [];
  let committed = 0;
  let failedIno = -1;
  let error = "no ENOSPC";
  let errno: number | undefined;
  try {
    for (let i = 0; committed < arg.maxBytes; i++) {
      const ino = 1000 + i;
      try {
        await store.transaction("readwrite", async (tx) => {
          for (let c = 0; c < perFile; c++) await tx.putChunk(ino, c, bytes(cs, ino * 10 + c));
          await tx.putInode(fileInode(ino, perFile * cs, 1));
          await tx.putMeta("filled", i + 1);
        });
        committed += perFile * cs;
      } catch (e) {
        error = `${(e as Error).name}: ${(e as Error).message}`;
        errno = (e as { errno?: number }).errno;
        failedIno = ino;
        break;
      }
    }
    if (failedIno < 0) return { committedBytes: committed, error, errno, problems: ["never hit ENOSPC"], rewrittenBytes: 0, usage: await store.usage() };
    const files = failedIno - 1000;
    problems.push(...(await verifyTree(store)).map((p) => `baseline ${p}`));
    await store.transaction("readonly", async (tx) => {
      if ((await tx.getMeta("filled")) !== files) problems.push(`meta filled = ${await tx.getMeta("filled")}, expected ${files}`);
      if (await tx.getInode(failedIno)) problems.push("the failed transaction's inode exists");
      for (let c = 0; c < perFile; c++) if (await tx.getChunk(failedIno, c)) problems.push(`the failed transaction's chunk ${c} exists`);
      // Spot-check filler files: committed before the failure, they must be whole.
      for (const i of [0, files >> 1, files - 1]) {
        if (i < 0) continue;
        const ino = 1000 + i;
        for (let c = 0; c < perFile; c++) if (!same(await tx.getChunk(ino, c), bytes(cs, ino * 10 + c))) problems.push(`filler ${ino}:${c} damaged`);
      }
    });
    // Free the space again (deleting needs no new space), a few files per transaction.
    for (let i = 0; i < files; i += 8) {
      await store
        .transaction("readwrite", async (tx) => {
          for (let j = i; j < Math.min(files, i + 8); j++) {
            await tx.deleteChunksFrom(1000 + j, 0);
            await tx.deleteInode(1000 + j);
          }
        })
        .catch((e: unknown) => {
          throw new Error(`deleting files ${i}.. of ${files} failed: ${String(e)}`);
        });
    }
    // Writing works again.
    let rewritten = 0;
    let rewriteErrno: number | undefined;
    for (let i = 0; i < Math.max(1, files >> 1) && rewriteErrno === undefined; i++) {
      const ino = 5000 + i;
      await store
        .transaction("readwrite", async (tx) => {
          for (let c = 0; c < perFile; c++) await tx.putChunk(ino, c, bytes(cs, ino * 10 + c));
          await tx.putInode(fileInode(ino, perFile * cs, 1));
        })
        .then(
          () => {
            rewritten += perFile * cs;
          },
          (e: unknown) => {
            if (arg.rewriteMayFail) {
              rewriteErrno = (e as { errno?: number }).errno ?? -1;
              return;
            }
            const why = store instanceof OpfsStore ? ` (last checkpoint error: ${store.lastCheckpointError})` : "";
            throw new Error(`writing again after deleting failed at file ${i} of ${Math.max(1, files >> 1)}: ${String(e)}${why}`);
          },
        );
    }
    await store.transaction("readonly", async (tx) => {
      for (let i = 0; i < rewritten / (perFile * cs); i++) {
        const ino = 5000 + i;
        for (let c = 0; c < perFile; c++) if (!same(await tx.getChunk(ino, c), bytes(cs, ino * 10 + c))) problems.push(`rewritten ${ino}:${c} damaged`);
      }
    });
    problems.push(...(await verifyTree(store)).map((p) => `baseline after rewrite ${p}`));
    if (store instanceof OpfsStore) problems.push(...(await store.check()).problems);
    return { committedBytes: committed, error, errno, problems, rewrittenBytes: rewritten, rewriteErrno, usage: await store.usage() };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- crash safety

/**
 * The crash workload, a pure function of the step number so that a verifier
 * can replay it: step s rewrites a few chunks of one of four files (some
 * full, some short tails, some past a hole), sometimes cuts the file first,
 * and bumps meta "seq" to s — all in one transaction, durable every fifth.
 */
function crashStep(s: number, cs: number) {
  const ino = 100 + (s % 4);
  const n = 1 + (s % 4);
  const start = (s * 3) % 12;
  const writes = Array.from({ length: n }, (_, j) => ({
    index: start + j,
    len: j === n - 1 && s % 3 === 0 ? 1000 + (s % 50) * 300 : cs,
    seed: s * 1000 + j,
  }));
  return { ino, writes, truncateFrom: s % 7 === 0 ? 6 : undefined, durable: s % 5 === 0 };
}

const CRASH_FILES = [100, 101, 102, 103];
const CRASH_MAX_INDEX = 16;

export async function crashWriter(arg: { name: string; chunkSize?: number; steps?: number }, ctx: WorkerContext): Promise<number> {
  const store = await OpfsStore.open(arg.name, arg.chunkSize ? { chunkSize: arg.chunkSize } : {});
  const cs = store.chunkSize;
  let s = ((await store.transaction("readonly", (tx) => tx.getMeta<number>("seq"))) ?? 0) + 1;
  ctx.progress({ started: s });
  for (const end = s + (arg.steps ?? 1e9); s < end; s++) {
    const step = crashStep(s, cs);
    await store.transaction(
      "readwrite",
      async (tx) => {
        const prev = (await tx.getMeta<number>("seq")) ?? 0;
        if (prev !== s - 1) throw new Error(`seq ${prev}, expected ${s - 1}`);
        if (step.truncateFrom !== undefined) await tx.deleteChunksFrom(step.ino, step.truncateFrom);
        for (const w of step.writes) await tx.putChunk(step.ino, w.index, bytes(w.len, w.seed));
        await tx.putInode(fileInode(step.ino, 0, s));
        await tx.putMeta("seq", s);
      },
      { durable: step.durable },
    );
    ctx.progress(s);
  }
  await store.close();
  return s - 1;
}

/** Freeze (busy-wait) right after a commit's data reached the file and before its metadata commit: the kill lands in between. */
export async function crashLeak(arg: { name: string }, ctx: WorkerContext): Promise<never> {
  const store = await OpfsStore.open(arg.name, {
    debugHooks: {
      afterDataWrite: () => {
        ctx.progress("frozen");
        for (;;) {
          // Spin until the worker is terminated.
        }
      },
    },
  });
  const cs = store.chunkSize;
  // Many new full chunks: more than the free list holds, so the file grows past the high-water mark.
  await store.transaction("readwrite", async (tx) => {
    for (let i = 0; i < 48; i++) await tx.putChunk(999, i, bytes(cs, 999_000 + i));
    await tx.putInode(fileInode(999, 48 * cs, 1));
    await tx.putMeta("seq", -1);
  });
  throw new Error("the commit went through: the hook did not freeze");
}

export interface CrashVerifyReport {
  seq: number;
  reclaimedBytes: number;
  handleRetries: number;
  problems: string[];
  slots: { hwm: number; used: number; free: number; fileBytes: number };
}

export async function crashVerify(arg: { name: string }): Promise<CrashVerifyReport> {
  const store = await OpfsStore.open(arg.name);
  const cs = store.chunkSize;
  const problems: string[] = [];
  try {
    const seq = (await store.transaction("readonly", (tx) => tx.getMeta<number>("seq"))) ?? 0;
    // Replay the workload up to the committed step.
    const expect = new Map<string, { len: number; seed: number }>();
    const version = new Map<number, number>();
    for (let s = 1; s <= seq; s++) {
      const st = crashStep(s, cs);
      if (st.truncateFrom !== undefined) for (let i = st.truncateFrom; i < CRASH_MAX_INDEX; i++) expect.delete(`${st.ino}:${i}`);
      for (const w of st.writes) expect.set(`${st.ino}:${w.index}`, { len: w.len, seed: w.seed });
      version.set(st.ino, s);
    }
    await store.transaction("readonly", async (tx) => {
      for (const ino of CRASH_FILES) {
        const rec = await tx.getInode(ino);
        if ((rec?.version ?? 0) !== (version.get(ino) ?? 0)) problems.push(`inode ${ino} version ${rec?.version}, expected ${version.get(ino)}`);
        for (let i = 0; i < CRASH_MAX_INDEX; i++) {
          const e = expect.get(`${ino}:${i}`);
          const got = await tx.getChunk(ino, i);
          if (!same(got, e ? bytes(e.len, e.seed) : undefined)) {
            problems.push(`chunk ${ino}:${i}: got ${got ? got.length + " bytes" : "none"}, expected ${e ? `${e.len} bytes of step ${Math.floor(e.seed / 1000)}` : "none"}`);
          }
        }
      }
      if (await tx.getInode(999)) problems.push("the frozen transaction's inode exists");
      if (await tx.getChunk(999, 0)) problems.push("the frozen transaction's chunk exists");
    });
    const check = await store.check();
    problems.push(...check.problems);
    return {
      seq,
      reclaimedBytes: store.openInfo.reclaimedBytes,
      handleRetries: store.openInfo.handleRetries,
      problems,
      slots: { hwm: check.hwm, used: check.usedSlots, free: check.freeSlots, fileBytes: check.fileBytes },
    };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- lazy open

export async function lazyPopulate(arg: { kind: Kind; name: string; n: number }): Promise<{ ms: number }> {
  const started = performance.now();
  const store = await openStore(arg.kind, arg.name);
  const batch = 1000;
  for (let b = 0; b < arg.n; b += batch) {
    await store.transaction("readwrite", async (tx) => {
      for (let i = b; i < Math.min(arg.n, b + batch); i++) {
        const ino = 2 + i;
        await tx.putInode(fileInode(ino, 64, 1));
        await tx.putEntry({ dir: 1, name: `f${i}`, ino, cookie: 3 + i, dtype: 8 });
        await tx.putChunk(ino, 0, bytes(64, ino));
      }
    });
  }
  await store.close();
  return { ms: Math.round(performance.now() - started) };
}

/** What the worker asked IndexedDB for: requests made, cursor steps, and records returned by getAll/getAllKeys. */
export interface IdbReads {
  requests: number;
  cursorSteps: number;
  recordsLoaded: number;
}

/**
 * Count IndexedDB reads in this worker from now until stop(): the native
 * prototypes are wrapped (the idb library calls them too), so every store and
 * every library layer is seen.
 */
function countIdbReads(): { stop: () => IdbReads } {
  const counts: IdbReads = { requests: 0, cursorSteps: 0, recordsLoaded: 0 };
  const restore: (() => void)[] = [];
  const wrap = (proto: object, method: string, after?: (req: IDBRequest) => void): void => {
    const target = proto as Record<string, unknown>;
    const original = target[method] as (...a: unknown[]) => unknown;
    target[method] = function (this: unknown, ...a: unknown[]) {
      const r = original.apply(this, a);
      if (after) after(r as IDBRequest);
      return r;
    };
    restore.push(() => {
      target[method] = original;
    });
  };
  const request = (): void => {
    counts.requests++;
  };
  const bulk = (req: IDBRequest): void => {
    counts.requests++;
    req.addEventListener("success", () => {
      counts.recordsLoaded += (req.result as unknown[]).length;
    });
  };
  for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
    for (const m of ["get", "getKey", "count", "openCursor", "openKeyCursor"]) wrap(proto, m, request);
    for (const m of ["getAll", "getAllKeys"]) wrap(proto, m, bulk);
  }
  for (const m of ["continue", "advance", "continuePrimaryKey"]) {
    wrap(IDBCursor.prototype, m, () => {
      counts.cursorSteps++;
    });
  }
  return {
    stop: () => {
      for (const r of restore) r();
      return { ...counts };
    },
  };
}

export interface LazyOpenReport {
  ok: boolean;
  /** What open() read from IndexedDB, and then the first getInode. */
  openReads: IdbReads;
  firstGetReads: IdbReads;
  /** OPFS: journal records replayed at open. */
  replayed: number;
  /** Informational only (a shared machine is too noisy to assert on). */
  openMs: number;
  firstGetMs: number;
}

export async function lazyOpen(arg: { kind: Kind; name: string; n: number }): Promise<LazyOpenReport> {
  const t0 = performance.now();
  let counter = countIdbReads();
  const store = await openStore(arg.kind, arg.name);
  const openReads = counter.stop();
  const t1 = performance.now();
  const ino = 2 + Math.floor(arg.n * 0.737);
  counter = countIdbReads();
  const ok = await store.transaction("readonly", async (tx) => {
    const rec = await tx.getInode(ino);
    return rec?.ino === ino;
  });
  const firstGetReads = counter.stop();
  const t2 = performance.now();
  // Not part of the counts: the rest is really there.
  const tail = await store.transaction("readonly", (tx) => tx.getChunk(2 + arg.n - 1, 0));
  const replayed = store instanceof OpfsStore ? store.openInfo.replayedRecords : 0;
  await store.close();
  return {
    ok: ok && same(tail, bytes(64, 2 + arg.n - 1)),
    openReads,
    firstGetReads,
    replayed,
    openMs: Math.round((t1 - t0) * 10) / 10,
    firstGetMs: Math.round((t2 - t1) * 10) / 10,
  };
}

// ---------------------------------------------------------------- handle contention

/** The channel on which holdStore waits to be told to let go (same origin: any worker or page can post). */
const releaseChannel = (name: string) => `worker9p-test-release:${name}`;

/** Open an OPFS store and keep its data file's handle until releaseStore({ name }) says so. */
export async function holdStore(arg: { name: string }, ctx: WorkerContext): Promise<void> {
  const channel = new BroadcastChannel(releaseChannel(arg.name));
  const released = new Promise<void>((resolve) => {
    channel.onmessage = () => resolve();
  });
  try {
    const store = await OpfsStore.open(arg.name);
    ctx.progress("open");
    await released;
    await store.close();
  } finally {
    channel.close();
  }
}

/** Tell holdStore({ name }) to close its store. */
export function releaseStore(arg: { name: string }): void {
  const channel = new BroadcastChannel(releaseChannel(arg.name));
  // Delivery is queued to every other channel of that name at postMessage time, so closing right after is fine.
  channel.postMessage("release");
  channel.close();
}

/**
 * Open a store whose handle another worker holds: retried within the budget,
 * or a clear error after it. Reports progress "retrying" when it first has to
 * wait, so a test can release the holder only then.
 */
export async function openContended(arg: { name: string; handleRetryMs: number }, ctx: WorkerContext): Promise<{ ok: boolean; retries: number; error?: string }> {
  try {
    const store = await OpfsStore.open(arg.name, {
      handleRetryMs: arg.handleRetryMs,
      debugHooks: { onHandleRetry: (n) => n === 0 && ctx.progress("retrying") },
    });
    const retries = store.openInfo.handleRetries;
    await store.close();
    return { ok: true, retries };
  } catch (e) {
    return { ok: false, retries: -1, error: String(e) };
  }
}

/**
 * Slots freed by a relaxed commit are not written again before a durable
 * commit (a power loss could undo the freeing and keep the new bytes). What
 * the data file's high-water mark does shows it: a rewrite after a relaxed
 * overwrite grows the file; after a durable commit, it reuses the slots.
 */
export async function slotReuseAfterDurability(): Promise<{ afterRelaxed: number[]; afterDurable: number[]; problems: string[] }> {
  const name = freshName("quarantine");
  // No checkpoint by itself: one is a durable point too, and would make slots usable on its own schedule.
  const store = await OpfsStore.open(name, { chunkSize: 4096, inlineLimit: 0, autoCheckpoint: false });
  const chunk = (seed: number) => new Uint8Array(4096).fill(seed);
  const put = (seed: number, durable = false) => store.transaction("readwrite", (tx) => tx.putChunk(9, 0, chunk(seed)), { durable });
  try {
    await put(1); // slot 0
    await put(2); // slot 1; slot 0 freed by a relaxed commit
    const a = (await store.check()).hwm;
    await put(3); // must not take slot 0 yet: slot 2
    const b = (await store.check()).hwm;
    await put(4, true); // slot 3, durable: slots 0..2 become usable
    const c = (await store.check()).hwm;
    await put(5); // reuses a freed slot: the file does not grow
    const d = await store.check();
    return { afterRelaxed: [a, b], afterDurable: [c, d.hwm], problems: d.problems };
  } finally {
    await store.close();
    await OpfsStore.destroy(name);
  }
}

/**
 * Step one of "a freed slot survives a reopen": slot 0 is written durably,
 * then freed by a relaxed commit; the store is left open (the worker is
 * killed next, so nothing gets to run at close).
 */
export async function relaxedFreeThenKilled(arg: { name: string }): Promise<void> {
  const store = await OpfsStore.open(arg.name, { chunkSize: 4096, inlineLimit: 0, autoCheckpoint: false });
  const put = (seed: number, durable: boolean) => store.transaction("readwrite", (tx) => tx.putChunk(9, 0, new Uint8Array(4096).fill(seed)), { durable });
  await put(1, true); // slot 0, durable
  await put(2, false); // slot 1; slot 0 freed by a relaxed commit
  (globalThis as { keepAlive?: unknown }).keepAlive = store;
}

/**
 * Step two: reopen and overwrite again (relaxed), recording the order of data
 * writes and durable points. Slot 0 is reused (the file does not grow), so a
 * durable point must come first: else a power loss could undo the freeing
 * and leave chunk 9:0 pointing at slot 0 with the new bytes in it.
 */
export async function reopenAndReuse(arg: { name: string }): Promise<{ events: string[]; hwm: number; problems: string[] }> {
  const events: string[] = [];
  const store = await OpfsStore.open(arg.name, {
    autoCheckpoint: false,
    debugHooks: { afterDataWrite: () => events.push("write"), afterDurable: () => events.push("durable") },
  });
  const problems: string[] = [];
  try {
    await store.transaction("readwrite", (tx) => tx.putChunk(9, 0, new Uint8Array(4096).fill(3)));
    const got = await store.transaction("readonly", (tx) => tx.getChunk(9, 0));
    if (got?.[0] !== 3) problems.push(`chunk 9:0 reads ${got?.[0]}`);
    const check = await store.check();
    problems.push(...check.problems);
    return { events, hwm: check.hwm, problems };
  } finally {
    await store.close();
    events.push("closed");
  }
}

/**
 * A checkpoint's strict IndexedDB commit makes the chunk refs of relaxed
 * commits durable: the data file must be flushed before it, or a power loss
 * could leave a durable ref to a slot whose new bytes were lost — and whose
 * old bytes are another (deleted) file's (invariants 6, 11). Records the
 * order of data writes, data-file flushes and checkpoint commits around a
 * relaxed overwrite checkpointed by close(), and what a reopen reads.
 */
export async function checkpointAfterRelaxed(): Promise<{ events: string[]; read: number[]; problems: string[] }> {
  const name = freshName("checkpoint-flush");
  const events: string[] = [];
  const store = await OpfsStore.open(name, {
    chunkSize: 4096,
    inlineLimit: 0,
    autoCheckpoint: false,
    debugHooks: {
      afterDataWrite: () => events.push("write"),
      afterDataFlush: () => events.push("flush"),
      afterCheckpointCommit: () => events.push("checkpoint"),
    },
  });
  const put = (seed: number, durable: boolean) => store.transaction("readwrite", (tx) => tx.putChunk(9, 0, new Uint8Array(4096).fill(seed)), { durable });
  try {
    await put(1, true); // slot 0, durable
    await put(2, false); // slot 1, relaxed: its bytes may sit in the page cache only
  } finally {
    await store.close();
  }
  const again = await OpfsStore.open(name);
  try {
    const got = await again.transaction("readonly", (tx) => tx.getChunk(9, 0));
    return { events, read: got ? [got[0]!, got[4095]!] : [], problems: (await again.check()).problems };
  } finally {
    await again.close();
    await OpfsStore.destroy(name);
  }
}

/**
 * Keep IndexedDB from running readwrite transactions over "meta" (a checkpoint's) created after
 * this call: a readonly transaction created first is kept alive by a chain of requests, and
 * IndexedDB starts a readwrite transaction only once the earlier ones over its stores finished.
 * The returned function lets go and resolves once the hold is over. No timing involved.
 */
export async function holdIndexedDB(dbName: string): Promise<() => Promise<void>> {
  const db = await new Promise<IDBDatabase>((resolve, reject) => {
    const r = indexedDB.open(dbName);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const tx = db.transaction("meta", "readonly");
  const over = new Promise<void>((resolve) => {
    tx.oncomplete = tx.onabort = () => {
      db.close();
      resolve();
    };
  });
  let held = true;
  const spin = (): void => {
    if (held) tx.objectStore("meta").get("held").onsuccess = spin;
  };
  spin();
  return () => {
    held = false;
    return over;
  };
}

/**
 * Invariant 6 across a background checkpoint (14): slot 0, freed by a relaxed commit before the
 * checkpoint starts, is released by a durable commit while IndexedDB commits it, taken again, and
 * freed again by a relaxed commit. The checkpoint's strict commit holds only commits up to its
 * start, so that second freeing is not durable when it lands: the next relaxed write must not
 * go to slot 0 (a power loss could undo the freeing and keep the new bytes in a slot a durable
 * commit's chunk points at). The checkpoint's commit is held until those commits landed.
 */
export async function quarantineAcrossBackgroundCheckpoint(): Promise<{ events: string[]; hwm: number; read: number | undefined; problems: string[] }> {
  const name = freshName("checkpoint-quarantine");
  const events: string[] = [];
  let during: Promise<void> = Promise.resolve();
  let release: (() => Promise<void>) | undefined;
  const put = (seed: number, durable = false) => store.transaction("readwrite", (tx) => tx.putChunk(9, 0, new Uint8Array(4096).fill(seed)), { durable });
  const store: OpfsStore = await OpfsStore.open(name, {
    chunkSize: 4096,
    inlineLimit: 0,
    autoCheckpoint: false,
    debugHooks: {
      checkpointIssued: () => {
        during = (async () => {
          try {
            await put(3, true); // slot 2, durable: slots 0 and 1 usable again
            await put(4); // slot 0; frees slot 2
            await put(5); // slot 1; frees slot 0, relaxed
            events.push("commits");
          } finally {
            await release?.();
          }
        })();
      },
      afterCheckpointCommit: () => events.push("checkpoint"),
    },
  });
  try {
    await put(1); // slot 0
    await put(2); // slot 1; slot 0 freed by a relaxed commit
    release = await holdIndexedDB(opfsStoreDbName(name));
    await store.checkpointInBackground();
    await during;
    await put(6); // slot 0's last freeing is not durable: a new slot (3)
    const check = await store.check();
    const got = await store.transaction("readonly", (tx) => tx.getChunk(9, 0));
    return { events: [...events], hwm: check.hwm, read: got?.[0], problems: check.problems };
  } finally {
    // Never leave the hold on (a checkpoint that did not start would never reach the hook): close would wait for it.
    await release?.();
    await store.close();
    await OpfsStore.destroy(name);
  }
}

export interface OverlayBoundReport {
  /** The commit refused while checkpoints failed (-1: none was), its error, and the overlay then. */
  failedAt: number;
  error: string;
  overlayAtFailure: number;
  /** Records in the overlay after the same commit went through once checkpoints worked again. */
  overlayAfterRecovery: number;
  /** After a reopen: the last commit's meta value and the inodes present. */
  lastAfterReopen: number | undefined;
  present: number;
  problems: string[];
}

/**
 * Checkpoints keep failing (an IndexedDB error that is not the quota): the
 * overlay, in memory and replayed whole at open, must not grow without bound
 * (invariant 13). Past maxOverlayRecords a writer is refused with EIO,
 * committing nothing; once checkpoints work again, writes go on and nothing
 * committed is lost.
 */
export async function overlayBoundWhenCheckpointsFail(arg: { limit: number }): Promise<OverlayBoundReport> {
  const name = freshName("overlay-bound");
  let failing = true;
  const store = await OpfsStore.open(name, {
    autoCheckpoint: false,
    maxOverlayRecords: arg.limit,
    debugHooks: {
      beforeCheckpoint: () => {
        if (failing) throw new Error("simulated IndexedDB failure");
      },
    },
  });
  const commit = (i: number) =>
    store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(300 + i, 0, i));
      await tx.putMeta("last", i);
    });
  const report: OverlayBoundReport = { failedAt: -1, error: "", overlayAtFailure: -1, overlayAfterRecovery: -1, lastAfterReopen: undefined, present: 0, problems: [] };
  let reached = 0;
  try {
    for (let i = 1; i <= arg.limit * 3; i++) {
      try {
        await commit(i);
        reached = i;
      } catch (e) {
        report.failedAt = i;
        report.error = `${(e as { errno?: number }).errno} ${String(e)}`;
        report.overlayAtFailure = store.overlay.records;
        break;
      }
    }
    failing = false;
    await commit(reached + 1);
    reached++;
    report.overlayAfterRecovery = store.overlay.records;
  } finally {
    await store.close();
  }
  const again = await OpfsStore.open(name);
  try {
    await again.transaction("readonly", async (tx) => {
      report.lastAfterReopen = await tx.getMeta<number>("last");
      for (let i = 1; i <= arg.limit * 3; i++) if (await tx.getInode(300 + i)) report.present++;
    });
    report.problems = (await again.check()).problems;
    if (report.present !== reached) report.problems.push(`${report.present} inodes present, ${reached} committed`);
  } finally {
    await again.close();
    await OpfsStore.destroy(name);
  }
  return report;
}

// ---------------------------------------------------------------- the metadata journal: torn tail, damaged middle

/** Write `commits` relaxed commits (one small file each) and leave the store open: the worker is killed next, so they live in the journal only. */
export async function journalWriteThenKilled(arg: { name: string; commits: number }): Promise<{ replayedBefore: number }> {
  const store = await OpfsStore.open(arg.name, { autoCheckpoint: false });
  for (let i = 1; i <= arg.commits; i++) {
    await store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(200 + i, 100, i));
      await tx.putChunk(200 + i, 0, bytes(100, 200 + i));
      await tx.putMeta("journaled", i);
    });
  }
  (globalThis as { keepAlive?: unknown }).keepAlive = store;
  return { replayedBefore: store.openInfo.replayedRecords };
}

async function journalFile(name: string): Promise<FileSystemFileHandle> {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle("worker9p");
  const dir = await top.getDirectoryHandle(opfsDirectoryName(name));
  return dir.getFileHandle("journal");
}

/** Damage the journal as a crash or a bad disk would: "tear" cuts the last record short; "flip" changes a byte of the first record. */
export async function journalDamage(arg: { name: string; how: "tear" | "flip" }): Promise<{ records: number }> {
  const h = await ((await journalFile(arg.name)) as unknown as SyncFileHandle).createSyncAccessHandle();
  try {
    const bytes = new Uint8Array(h.getSize());
    h.read(bytes, { at: 0 });
    const frames: { at: number; size: number }[] = [];
    for (let at = 0; ; ) {
      const head = readHead(bytes.subarray(at));
      if (!head) break;
      frames.push({ at, size: head.size });
      at += head.size;
    }
    if (arg.how === "tear") {
      const last = frames[frames.length - 1]!;
      // A crash mid-append: the record's second half never reached the file.
      h.write(new Uint8Array(last.size - Math.floor(last.size / 2)), { at: last.at + Math.floor(last.size / 2) });
    } else {
      const first = frames[0]!;
      h.write(new Uint8Array([bytes[first.at + 24]! ^ 0x5a]), { at: first.at + 24 });
    }
    h.flush();
    return { records: frames.length };
  } finally {
    h.close();
  }
}

export interface JournalReopenReport {
  ok: boolean;
  error?: string;
  journaled?: number;
  present?: number[];
  tornTail?: boolean;
  replayed?: number;
  problems: string[];
}

/** Reopen after damage: what survived, whether the store works on, or the error open gave. */
export async function journalReopen(arg: { name: string; commits: number }): Promise<JournalReopenReport> {
  let store: OpfsStore;
  try {
    store = await OpfsStore.open(arg.name);
  } catch (e) {
    return { ok: false, error: String(e), problems: [] };
  }
  const problems: string[] = [];
  try {
    const seen = await store.transaction("readonly", async (tx) => {
      const present: number[] = [];
      for (let i = 1; i <= arg.commits; i++) {
        const rec = await tx.getInode(200 + i);
        const chunk = await tx.getChunk(200 + i, 0);
        if (rec && same(chunk, bytes(100, 200 + i))) present.push(i);
        else if (rec || chunk) problems.push(`commit ${i} half there: inode ${!!rec}, chunk ${!!chunk}`);
      }
      return { present, journaled: (await tx.getMeta<number>("journaled")) ?? 0 };
    });
    // Writing works on after the repair, and survives a reopen.
    await store.transaction("readwrite", (tx) => tx.putMeta("after", 1));
    problems.push(...(await store.check()).problems);
    const info = store.openInfo;
    await store.close();
    store = await OpfsStore.open(arg.name);
    if ((await store.transaction("readonly", (tx) => tx.getMeta("after"))) !== 1) problems.push("a write after the repair was lost");
    return { ok: true, ...seen, tornTail: info.tornJournalTail, replayed: info.replayedRecords, problems };
  } finally {
    await store.close();
  }
}

// ---------------------------------------------------------------- issue 8.1: create and unlink in one batch

export interface CreateUnlinkReport {
  /** What the creator's open file answered after another request unlinked it in the same commit. */
  nlink: number;
  size: number;
  read: number[];
  /** After the creator's last release. */
  inodeGone: boolean;
  problems: string[];
}

/**
 * On a real store: a writer is committing, meanwhile a create of "f" and an
 * unlink of "f" queue — the store's WriterBatcher runs them in one
 * transaction. The creator's file must outlive the unlink until it lets go.
 */
export async function createUnlinkOneBatch(arg: { kind: Kind; name: string }): Promise<CreateUnlinkReport> {
  const { FileSystem } = await import("../../src/fs/filesystem.js");
  const { OpenFlags } = await import("../../src/protocol/constants.js");
  const store = await openStore(arg.kind, arg.name);
  try {
    const fs = await FileSystem.open(store);
    const ctx = { signal: new AbortController().signal };
    const R = fs.rootIno;
    const busy = await fs.create(R, "busy", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    // Submitted in one task: the write's batch is running when the other two queue behind it, together.
    const writing = fs.write(busy.ino, 0, new Uint8Array(1000), false, ctx);
    const creating = fs.create(R, "f", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    const unlinking = fs.unlink(R, "f", 0, ctx);
    await writing;
    const f = await creating;
    await unlinking;
    await fs.write(f.ino, 0, new Uint8Array([1, 2, 3]), false, ctx);
    const attr = await fs.getattr(f.ino, ctx);
    const buf = new Uint8Array(3);
    await fs.readInto(f.ino, 0, buf, ctx);
    await fs.release(f.ino);
    await fs.release(busy.ino);
    const gone = await store.transaction("readonly", async (tx) => (await tx.getInode(f.ino)) === undefined);
    return { nlink: attr.nlink, size: attr.size, read: [...buf], inodeGone: gone, problems: (await fs.fsck()).problems };
  } finally {
    await store.close();
  }
}

/** Commit `commits` small files (journal only), then close: freeze right after the checkpoint's IndexedDB commit, before the journal is emptied. */
/**
 * Invariant 14: a background checkpoint lets writers commit while IndexedDB commits it. Commits
 * 1..half are made; a checkpoint starts; as soon as its writes are issued, commits half+1..commits
 * are made, and they land before the checkpoint's commit does (the events say so). The store is
 * left open (the worker is killed next): the journal keeps the records the checkpoint holds, which
 * a reopen skips, and the later ones, which it replays.
 */
export async function checkpointWhileWriting(arg: { name: string; commits: number }): Promise<{ events: string[]; journalBytes: number; helperWrites: number }> {
  const events: string[] = [];
  const half = arg.commits >> 1;
  const commit = (i: number) =>
    store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(200 + i, 100, i));
      await tx.putChunk(200 + i, 0, bytes(100, 200 + i), true);
      await tx.putMeta("journaled", i);
    });
  let during: Promise<void> = Promise.resolve();
  const store: OpfsStore = await OpfsStore.open(arg.name, {
    autoCheckpoint: false,
    // Each commit starts at once: the three run in microtasks, before IndexedDB's commit (a task) can land.
    batchAcrossTasks: false,
    // Small as it is, the helper writes it (invariant 15).
    checkpointHelperMinBytes: 0,
    debugHooks: {
      checkpointIssued: () => {
        // Records the checkpoint holds are flushed when it starts (invariant 14).
        const j = (store as unknown as { journal: { flushes: number } }).journal;
        events.push(j.flushes > flushesBefore ? "issued, journal flushed" : "issued, journal NOT flushed");
        during = (async () => {
          for (let i = half + 1; i <= arg.commits; i++) {
            await commit(i);
            events.push(`commit ${i}`);
          }
        })();
      },
      afterCheckpointCommit: () => events.push("checkpoint"),
    },
  });
  for (let i = 1; i <= half; i++) await commit(i);
  const flushesBefore = (store as unknown as { journal: { flushes: number } }).journal.flushes;
  await store.checkpointInBackground();
  await during;
  (globalThis as { keepAlive?: unknown }).keepAlive = store;
  return { events, journalBytes: (store as unknown as { journal: { bytes: number } }).journal.bytes, helperWrites: store.checkpointWriter.helperWrites };
}

/**
 * OPFS invariant 15: a background checkpoint is pending in the helper worker (just started: it
 * still has to load and open the database) when an IndexedDB write of checkpointed state is
 * started in this thread. The later one must commit last: it wins.
 */
export async function checkpointOrderAcrossHelper(): Promise<{ order: unknown; helperWrites: number }> {
  const name = freshName("checkpoint-order");
  let later: Promise<void> = Promise.resolve();
  const store: OpfsStore = await OpfsStore.open(name, {
    autoCheckpoint: false,
    checkpointHelperMinBytes: 0,
    debugHooks: {
      checkpointIssued: () => {
        const layer = new OverlayLayer();
        layer.apply(1_000_000, { inodes: [], entries: [], meta: [["order", "later"]], cuts: [], chunks: [], taken: [], freed: [], hwm: 0 });
        const db = (store as unknown as { db: WorkerDb }).db;
        later = store.checkpointWriter.afterHelper(() => writeOverlay(db, [layer]));
      },
    },
  });
  try {
    await store.transaction("readwrite", (tx) => tx.putMeta("order", "earlier"));
    await store.checkpointInBackground();
    await later;
    const db = (store as unknown as { db: WorkerDb }).db;
    return { order: await db.get("meta", "order"), helperWrites: store.checkpointWriter.helperWrites };
  } finally {
    await store.close();
    await OpfsStore.destroy(name);
  }
}

/**
 * The idle checkpoint's timer fires while a background checkpoint's IndexedDB commit is pending
 * (simulated in checkpointIssued: the store is asked for a checkpoint then), and commits landed
 * meanwhile: once the pending one finishes, they must still get a checkpoint of their own — the
 * store goes idle, and nothing else would ever write them to IndexedDB before close.
 */
export async function idleAfterBackgroundCheckpoint(arg: { name: string }): Promise<{ emptied: boolean; checkpoints: number }> {
  type Inside = { overlay: { empty: boolean }; checkpoints: { schedule(): Promise<void> } };
  let checkpoints = 0;
  let during: Promise<void> = Promise.resolve();
  // The hook runs as a checkpoint's IndexedDB commit lands, just before the overlay drops what it held.
  let secondCheckpoint = (): void => undefined;
  const commit = (i: number) =>
    store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(400 + i, 0, i));
      await tx.putMeta("idle", i);
    });
  const store: OpfsStore = await OpfsStore.open(arg.name, {
    batchAcrossTasks: false,
    debugHooks: {
      afterCheckpointCommit: () => {
        if (++checkpoints === 2) secondCheckpoint();
      },
      checkpointIssued: () => {
        if (checkpoints > 0) return;
        during = (async () => {
          await commit(2);
          // What the idle timer does when it fires now.
          void (store as unknown as Inside).checkpoints.schedule();
        })();
      },
    },
  });
  await commit(1);
  await store.checkpointInBackground();
  await during;
  // No more writes: only the store's own idle checkpoint (after CHECKPOINT_IDLE_MS) can empty the
  // overlay now, as the second checkpoint. The cap only turns its absence into a failure, not a hang.
  const inside = store as unknown as Inside;
  if (checkpoints < 2) {
    await new Promise<void>((resolve) => {
      secondCheckpoint = resolve;
      setTimeout(resolve, 20_000);
    });
  }
  // Past the hook's synchronous caller: the overlay has dropped what the checkpoint held.
  await Promise.resolve();
  const emptied = inside.overlay.empty;
  await store.close();
  return { emptied, checkpoints };
}

export async function checkpointFreeze(arg: { name: string; commits: number }, ctx: WorkerContext): Promise<never> {
  const store = await OpfsStore.open(arg.name, {
    autoCheckpoint: false,
    debugHooks: {
      afterCheckpointCommit: () => {
        ctx.progress("frozen");
        for (;;) {
          // Spin until the worker is terminated.
        }
      },
    },
  });
  for (let i = 1; i <= arg.commits; i++) {
    await store.transaction("readwrite", async (tx) => {
      await tx.putInode(fileInode(200 + i, 100, i));
      await tx.putChunk(200 + i, 0, bytes(100, 200 + i));
      await tx.putMeta("journaled", i);
    });
  }
  await store.close();
  throw new Error("the checkpoint went through: the hook did not freeze");
}

/**
 * IndexedDB invariant 1 (indexeddb.ts): a reader answered partly from the committed records and
 * partly from IndexedDB sees one committed state, even when a writer's transaction is open as it
 * turns to IndexedDB. Each round commits inode 5 with a chunk as long as its size, then starts a
 * writer that changes both and, in the same task, a reader of both (inode first: from memory; or
 * chunk first: from IndexedDB, or with committed chunks kept in memory, both from memory).
 * Returns the [size, chunk length] pairs the readers saw.
 */
export async function idbReaderDuringCommit(arg: { rounds: number; chunkCacheBytes?: number }): Promise<{ seen: [number, number][]; problems: string[] }> {
  const name = freshName("idb-reader");
  const store = await IndexedDBStore.open(name, { chunkCacheBytes: arg.chunkCacheBytes });
  const rec = (size: number): InodeRecord => {
    const t = { sec: 1, nsec: 0 };
    return { ino: 5, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size, atime: t, mtime: t, ctime: t, btime: t, version: size, chunks: 1, parent: 0, nextCookie: 0 };
  };
  const write = (size: number) =>
    store.transaction("readwrite", async (tx) => {
      await tx.putInode(rec(size));
      await tx.putChunk(5, 0, new Uint8Array(size).fill(size));
    });
  const seen: [number, number][] = [];
  const problems: string[] = [];
  try {
    let size = 1;
    await write(size);
    for (let round = 0; round < arg.rounds; round++) {
      const writing = write(++size);
      const inodeFirst = round % 2 === 0;
      const reading = store.transaction("readonly", async (tx) => {
        const first = inodeFirst ? (await tx.getInode(5))?.size : (await tx.getChunk(5, 0))?.length;
        const second = inodeFirst ? (await tx.getChunk(5, 0))?.length : (await tx.getInode(5))?.size;
        return (inodeFirst ? [first, second] : [second, first]) as [number, number];
      });
      await writing;
      const pair = await reading;
      seen.push(pair);
      if (pair[0] !== pair[1]) problems.push(`round ${round} (${inodeFirst ? "inode" : "chunk"} first): size ${pair[0]} with a chunk of ${pair[1]} bytes`);
    }
  } finally {
    await store.close();
    await IndexedDBStore.destroy(name);
  }
  return { seen, problems };
}

/**
 * A create's name check on the IndexedDB store, against real IndexedDB key ranges: a directory of
 * `small` entries is read whole at its first lookup (later names answered from memory), one of
 * `large` entries is looked up name by name. After a reopen (nothing in memory), in each: an
 * exclusive create of an existing name (first, last) must fail with EEXIST, of a new name
 * succeed, and a walk must find what exists and nothing else. Returns what went wrong.
 */
export async function idbNameChecks(arg: { small: number; large: number }): Promise<{ problems: string[] }> {
  const { FileSystem } = await import("../../src/fs/filesystem.js");
  const { OpenFlags } = await import("../../src/protocol/constants.js");
  const { FsError } = await import("../../src/protocol/errno.js");
  const name = freshName("idb-names");
  const ctx = { signal: new AbortController().signal };
  const problems: string[] = [];
  const dirs: [string, number][] = [["small", arg.small], ["large", arg.large]];
  let store = await IndexedDBStore.open(name);
  try {
    let fs = await FileSystem.open(store);
    for (const [d, n] of dirs) {
      const q = await fs.mkdir(fs.rootIno, d, 0o755, 0, 0, ctx);
      for (let i = 0; i < n; i++) await fs.mknod(q.path, `f${i}`, 0o100644, 0, 0, 0, 0, ctx);
    }
    await store.close();
    store = await IndexedDBStore.open(name);
    fs = await FileSystem.open(store);
    const excl = OpenFlags.CREAT | OpenFlags.EXCL | OpenFlags.RDWR;
    for (const [d, n] of dirs) {
      const dir = (await fs.walk(fs.rootIno, [d], ctx)).ino;
      for (const taken of ["f0", `f${n - 1}`, "f0"]) {
        const r = await fs.create(dir, taken, excl, 0o644, 0, 0, ctx).then(
          () => "created",
          (e: unknown) => (e instanceof FsError ? `errno ${e.errno}` : String(e)),
        );
        if (r !== "errno 17") problems.push(`${d}: exclusive create of existing ${taken}: ${r}`);
      }
      for (const fresh of ["new1", "new2"]) {
        const c = await fs.create(dir, fresh, excl, 0o644, 0, 0, ctx);
        await fs.release(c.ino);
      }
      for (const [look, there] of [["f1", true], ["new1", true], ["absent", false], [`f${n}`, false]] as const) {
        const found = await fs.walk(dir, [look], ctx).then((w) => w.qids.length === 1, () => false);
        if (found !== there) problems.push(`${d}: walk to ${look} found ${found}, expected ${there}`);
      }
    }
    problems.push(...(await fs.fsck()).problems);
  } finally {
    await store.close();
    await IndexedDBStore.destroy(name);
  }
  return { problems };
}

export interface EnospcPendingReport {
  wrote: boolean;
  error: string | undefined;
  /** Times the simulated quota refused the write. */
  refused: number;
  /** Slots given back when the write went through (-1: it never did). */
  trimmedWhenWritten: number;
  /** Slots given back in all (openInfo), the background checkpoint's shrink after the write included. */
  trimmed: number;
  checkpointError: string | undefined;
  problems: string[];
}

/**
 * Out of space while a background checkpoint is pending in the helper (invariants 11, 15): the
 * writer's ENOSPC path writes the deletions first, after that checkpoint, whose commit may leave
 * the overlay empty meanwhile; it must still give the data file's free tail back before the
 * writer tries once more. The quota is simulated: a write finds room only once that tail is given
 * back (a big file at the end was just deleted). The helper's commit is held by a reader until
 * the writer has met the quota, so the order does not depend on timing.
 */
export async function enospcWhileCheckpointPending(): Promise<EnospcPendingReport> {
  const name = freshName("enospc-pending");
  let release: (() => Promise<void>) | undefined;
  let quota = false;
  let refused = 0;
  let trimmedWhenWritten = -1;
  let write: Promise<unknown> = Promise.resolve();
  // New chunks (isNew): no lookup of a committed ref, which the held reader could hold up.
  const put = (ino: number, n: number, seed: number) =>
    store.transaction("readwrite", async (tx) => {
      for (let i = 0; i < n; i++) await tx.putChunk(ino, i, new Uint8Array(4096).fill(seed), true);
    });
  const store: OpfsStore = await OpfsStore.open(name, {
    chunkSize: 4096,
    inlineLimit: 0,
    autoCheckpoint: false,
    debugHooks: {
      afterDataWrite: () => {
        if (!quota) return;
        if (store.openInfo.trimmedSlots > 0) {
          trimmedWhenWritten = store.openInfo.trimmedSlots;
          return;
        }
        refused++;
        // The first refusal: the writer is on its ENOSPC path now, so let the checkpoint commit.
        void release?.();
        throw new DOMException("simulated: no room until the file's free tail is given back", "QuotaExceededError");
      },
      checkpointIssued: () => {
        quota = true;
        write = put(3, 1, 3);
      },
    },
  });
  try {
    await put(1, 1, 1); // slot 0
    await put(2, 8, 2); // slots 1..8, at the end of the file
    await store.transaction("readwrite", (tx) => tx.deleteChunksFrom(2, 0)); // freed by a relaxed commit
    release = await holdIndexedDB(opfsStoreDbName(name));
    await store.checkpointInBackground();
    let wrote = true;
    let error: string | undefined;
    await write.catch((e: unknown) => {
      wrote = false;
      error = String(e);
    });
    const problems = (await store.check()).problems;
    const got = await store.transaction("readonly", (tx) => tx.getChunk(3, 0));
    if (wrote && got?.[0] !== 3) problems.push(`file 3 reads ${got?.[0]}`);
    return { wrote, error, refused, trimmedWhenWritten, trimmed: store.openInfo.trimmedSlots, checkpointError: store.lastCheckpointError, problems };
  } finally {
    await release?.();
    await store.close();
    await OpfsStore.destroy(name);
  }
}

/**
 * A Tfsync on the IndexedDB store is a strict transaction that may have nothing of its own to
 * write (FileSystem.fsync only reads the inode). Chromium syncs a strict transaction's writes
 * to disk, and one that writes nothing costs what a relaxed one does (measured in a worker: a
 * strict transaction with only a get ≈ 0.5–1.6 ms like a relaxed put, one with a put 6–15 ms): no
 * sync, so the relaxed commits before it would not be made durable. Such a transaction must carry
 * a write. What this returns: the store's sync record before and after an fsync that wrote nothing.
 */
export async function idbEmptyFsyncWrites(): Promise<{ before: unknown; after: unknown }> {
  const { FileSystem } = await import("../../src/fs/filesystem.js");
  const { OpenFlags } = await import("../../src/protocol/constants.js");
  const { indexedDBStoreDbName } = await import("../../src/storage/indexeddb.js");
  const name = freshName("idb-fsync");
  const store = await IndexedDBStore.open(name);
  const syncRecord = async (): Promise<unknown> => {
    const open = indexedDB.open(indexedDBStoreDbName(name));
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    try {
      const get = db.transaction("internal", "readonly").objectStore("internal").get("synced");
      return await new Promise((resolve, reject) => {
        get.onsuccess = () => resolve(get.result);
        get.onerror = () => reject(get.error);
      });
    } finally {
      db.close();
    }
  };
  try {
    const fs = await FileSystem.open(store);
    const ctx = { signal: new AbortController().signal };
    const f = await fs.create(fs.rootIno, "f", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    await fs.write(f.ino, 0, new Uint8Array([1, 2, 3]), false, ctx);
    const before = await syncRecord();
    await fs.fsync(f.ino, ctx);
    const after = await syncRecord();
    await fs.release(f.ino);
    return { before, after };
  } finally {
    await store.close();
    await IndexedDBStore.destroy(name);
  }
}
