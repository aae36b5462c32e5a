/**
 * Backend-agnostic conformance checks for the Store contract (store.ts).
 *
 * Plain async functions that throw descriptive Errors, with no test framework
 * imported, so the same checks run under vitest in Node (memory store) and
 * inside a dedicated worker of real Chromium (IndexedDB and OPFS stores).
 *
 *   const report = await runStoreConformance(() => MemoryStore.open(), { reopen });
 *
 * Every check gets a fresh, empty store from `makeStore` and closes it.
 */
import { isAbortError } from "../protocol/errno.js";
import type { EntryRecord, InodeRecord, Store, StoreTx } from "./store.js";

export interface ConformanceOptions {
  /**
   * Close `store` and open the same persistent storage again. Without it the
   * persistence checks are skipped (memory store).
   */
  reopen?: (store: Store) => Promise<Store>;
  /** Run only the checks whose name contains one of these strings. */
  only?: string[];
  /** Called after each check (progress output). */
  onCheck?: (result: CheckResult) => void;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  /** What happened, where the contract allows more than one outcome. */
  note?: string;
  error?: string;
}

export interface ConformanceReport {
  results: CheckResult[];
  skipped: string[];
}

interface CheckEnv {
  store: Store;
  /** Replace env.store by a reopened one (only when options.reopen is given). */
  reopen(): Promise<void>;
  canReopen: boolean;
}

type Check = (env: CheckEnv) => Promise<string | void>;

// ---------------------------------------------------------------- helpers

class ConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConformanceError";
  }
}

function fail(msg: string): never {
  throw new ConformanceError(msg);
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) fail(msg);
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) {
    const head = Array.from(v.subarray(0, 8)).join(",");
    return `Uint8Array(${v.length})[${head}${v.length > 8 ? ",…" : ""}]`;
  }
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 200 ? s.slice(0, 200) + "…" : s;
  } catch {
    return String(v);
  }
}

/** Path of the first difference, or null when deeply equal. Uint8Arrays compare by content. */
function diff(a: unknown, b: unknown, path = "$"): string | null {
  if (Object.is(a, b)) return null;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array)) return `${path}: ${show(a)} vs ${show(b)}`;
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length}`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `${path}[${i}]: ${a[i]} vs ${b[i]}`;
    return null;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!(Array.isArray(a) && Array.isArray(b))) return `${path}: ${show(a)} vs ${show(b)}`;
    if (a.length !== b.length) return `${path}: length ${a.length} vs ${b.length} (${show(a)} vs ${show(b)})`;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined).sort();
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined).sort();
    if (ka.join("\0") !== kb.join("\0")) return `${path}: keys [${ka}] vs [${kb}]`;
    for (const k of ka) {
      const d = diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return `${path}: ${show(a)} vs ${show(b)}`;
}

function assertEqual(actual: unknown, expected: unknown, what: string): void {
  const d = diff(actual, expected);
  if (d) fail(`${what}: got ${show(actual)}, expected ${show(expected)} (first difference at ${d})`);
}

async function expectReject(p: Promise<unknown>, check: (e: unknown) => boolean, what: string): Promise<unknown> {
  let value: unknown;
  try {
    value = await p;
  } catch (e) {
    if (!check(e)) fail(`${what}: rejected with the wrong error: ${e instanceof Error ? `${e.name}: ${e.message}` : show(e)}`);
    return e;
  }
  fail(`${what}: resolved (with ${show(value)}) instead of rejecting`);
}

const ts = (sec: number, nsec = 0) => ({ sec, nsec });

function inode(ino: number, over: Partial<InodeRecord> = {}): InodeRecord {
  return {
    ino,
    mode: 0o100644,
    uid: 1000,
    gid: 1000,
    nlink: 1,
    rdev: 0,
    size: 0,
    atime: ts(1_700_000_000, 1),
    mtime: ts(1_700_000_001, 999_999_999),
    ctime: ts(1_700_000_002, 500),
    btime: ts(1_600_000_000, 0),
    version: 1,
    chunks: 0,
    parent: 0,
    nextCookie: 3,
    ...over,
  };
}

function entry(dir: number, name: string, ino: number, cookie: number, dtype = 8): EntryRecord {
  return { dir, name, ino, cookie, dtype };
}

/** Deterministic bytes: different seeds give different contents. */
function bytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A view into a bigger buffer, as the 9P layer hands data over. */
function viewOf(data: Uint8Array): Uint8Array {
  const big = new Uint8Array(data.length + 64);
  big.set(data, 32);
  return big.subarray(32, 32 + data.length);
}

interface Probe {
  inodes?: number[];
  entries?: [number, string][];
  lists?: number[];
  chunks?: [number, number][];
  meta?: string[];
}

/** Everything `probe` names, read in one readonly transaction: compare before/after to prove nothing changed. */
async function snapshot(store: Store, probe: Probe): Promise<unknown> {
  return store.transaction("readonly", async (tx) => {
    const out: Record<string, unknown> = {};
    for (const ino of probe.inodes ?? []) out[`inode ${ino}`] = (await tx.getInode(ino)) ?? null;
    for (const [d, n] of probe.entries ?? []) out[`entry ${d}/${n}`] = (await tx.getEntry(d, n)) ?? null;
    for (const d of probe.lists ?? []) out[`list ${d}`] = await tx.listEntries(d, 0, 10_000);
    for (const [ino, i] of probe.chunks ?? []) {
      const c = await tx.getChunk(ino, i);
      out[`chunk ${ino}:${i}`] = c ? c.slice() : null;
    }
    for (const k of probe.meta ?? []) out[`meta ${k}`] = (await tx.getMeta(k)) ?? null;
    return out;
  });
}

/** A store with a little of everything, for the rollback checks. */
async function seed(store: Store): Promise<Probe> {
  const cs = store.chunkSize;
  await store.transaction("readwrite", async (tx) => {
    await tx.putInode(inode(1, { mode: 0o40755, parent: 1, nextCookie: 5, nlink: 2 }));
    await tx.putInode(inode(2, { size: cs + 10, chunks: 2 }));
    await tx.putEntry(entry(1, "a", 2, 3));
    await tx.putEntry(entry(1, "b", 3, 4));
    await tx.putChunk(2, 0, bytes(cs, 1));
    await tx.putChunk(2, 1, bytes(10, 2));
    await tx.putChunk(3, 0, bytes(100, 3));
    await tx.putMeta("nextIno", 4);
  });
  return {
    inodes: [1, 2, 3, 4],
    entries: [
      [1, "a"],
      [1, "b"],
      [1, "c"],
    ],
    lists: [1],
    chunks: [
      [2, 0],
      [2, 1],
      [2, 2],
      [3, 0],
    ],
    meta: ["nextIno", "other"],
  };
}

/** A body that changes every kind of record, mid-way through which things go wrong. */
async function scribble(tx: StoreTx, cs: number): Promise<void> {
  await tx.putInode(inode(2, { size: 3 * cs, version: 2 }));
  await tx.putChunk(2, 0, bytes(cs, 11));
  await tx.putChunk(2, 2, bytes(cs, 12));
  await tx.deleteChunk(3, 0);
  await tx.putEntry(entry(1, "c", 4, 5));
  await tx.deleteEntry(1, "a");
  await tx.putMeta("nextIno", 99);
  await tx.putInode(inode(4));
  await tx.deleteInode(1);
  await tx.deleteChunksFrom(2, 1);
}

/** Deterministic integers in [0, n), from a seed (xorshift32). */
function randomInts(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** One writer of a model check: it must commit, or — a planned failure — roll back with its own error. */
async function modelStep(store: Store, step: number, fail: boolean, body: (tx: StoreTx) => Promise<void>): Promise<void> {
  await expectReject(
    store
      .transaction("readwrite", async (tx) => {
        await body(tx);
        if (fail) throw new Error("planned rollback");
      })
      .then(() => {
        throw new Error("committed");
      }),
    (e) => (e as Error).message === (fail ? "planned rollback" : "committed"),
    `step ${step}`,
  );
}

// ---------------------------------------------------------------- checks

const checks: [string, Check][] = [];
const check = (name: string, fn: Check): void => {
  checks.push([name, fn]);
};

check("inodes: put, get, overwrite, delete", async ({ store }) => {
  const xattrValue = viewOf(bytes(40, 7));
  const full = inode(7, {
    mode: 0o120777,
    size: 12,
    target: "../some/where ünïcødé",
    xattrs: [
      ["user.a", xattrValue],
      ["security.selinux", new Uint8Array(0)],
      ["__proto__", bytes(3, 8)],
    ],
    nextCookie: 17,
    version: 5,
    chunks: 0,
  });
  const big = inode(2 ** 40 + 3, { size: 2 ** 50 });
  await store.transaction("readwrite", async (tx) => {
    await tx.putInode(full);
    await tx.putInode(big);
    await tx.putInode(inode(8));
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getInode(7), full, "getInode(7) after put");
    assertEqual(await tx.getInode(2 ** 40 + 3), big, "getInode(2^40+3)");
    assertEqual(await tx.getInode(9), undefined, "getInode of a missing inode");
  });
  const changed = { ...full, size: 99, version: 6, xattrs: undefined, target: undefined };
  await store.transaction("readwrite", async (tx) => {
    await tx.putInode(changed);
    await tx.deleteInode(8);
    await tx.deleteInode(12345); // missing: no error
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getInode(7), changed, "getInode(7) after overwrite");
    assertEqual(await tx.getInode(8), undefined, "getInode(8) after delete");
  });
});

check("entries: put, get, replace, delete", async ({ store }) => {
  const names = ["a", "A", "ab", "a b", "ünïcødé ✓", "x".repeat(255), ".hidden"];
  await store.transaction("readwrite", async (tx) => {
    let cookie = 3;
    for (const n of names) await tx.putEntry(entry(10, n, 100 + cookie, cookie++));
    await tx.putEntry(entry(11, "a", 999, 3, 4));
  });
  await store.transaction("readonly", async (tx) => {
    let cookie = 3;
    for (const n of names) assertEqual(await tx.getEntry(10, n), entry(10, n, 100 + cookie, cookie++), `getEntry(10, ${show(n)})`);
    assertEqual(await tx.getEntry(11, "a"), entry(11, "a", 999, 3, 4), "same name in another dir");
    assertEqual(await tx.getEntry(10, "missing"), undefined, "getEntry of a missing name");
    assertEqual(await tx.getEntry(12, "a"), undefined, "getEntry in a dir with no entries");
  });
  await store.transaction("readwrite", async (tx) => {
    await tx.putEntry(entry(10, "a", 555, 50, 10));
    await tx.deleteEntry(10, "ab");
    await tx.deleteEntry(10, "never-there");
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getEntry(10, "a"), entry(10, "a", 555, 50, 10), "replaced entry");
    assertEqual(await tx.getEntry(10, "ab"), undefined, "deleted entry");
    assertEqual(await tx.getEntry(11, "a"), entry(11, "a", 999, 3, 4), "other dir untouched");
  });
});

check("listEntries: cookie order, after, limit", async ({ store }) => {
  const n = 60;
  // Names inserted in an order unrelated to their cookies, cookies with gaps.
  const all: EntryRecord[] = [];
  for (let i = 0; i < n; i++) all.push(entry(10, `f${(i * 37) % n}-${i}`, 1000 + i, 3 + 2 * i));
  const shuffled = [...all].sort((x, y) => (x.name < y.name ? -1 : 1));
  await store.transaction("readwrite", async (tx) => {
    for (const e of shuffled) await tx.putEntry(e);
    // Neighbouring directories, in key order on both sides.
    for (const d of [1, 9, 11, 100]) for (let i = 0; i < 3; i++) await tx.putEntry(entry(d, `n${i}`, 5000 + i, 3 + i));
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.listEntries(10, 0, 1000), all, "listEntries(10, 0, 1000)");
    assertEqual(await tx.listEntries(10, 2, 5), all.slice(0, 5), "listEntries(10, 2, 5)");
    assertEqual(await tx.listEntries(10, all[9]!.cookie, 1000), all.slice(10), "after = the 10th cookie");
    assertEqual(await tx.listEntries(10, all[9]!.cookie + 1, 3), all.slice(10, 13), "after = between cookies");
    assertEqual(await tx.listEntries(10, all[n - 1]!.cookie, 10), [], "after = the last cookie");
    assertEqual(await tx.listEntries(10, 0, 0), [], "limit 0");
    assertEqual(await tx.listEntries(12, 0, 10), [], "a dir with no entries");
    assertEqual((await tx.listEntries(9, 0, 10)).map((e) => e.name), ["n0", "n1", "n2"], "neighbouring dir 9");
    // Paging with a small limit reproduces the whole listing.
    const paged: EntryRecord[] = [];
    for (let after = 0; ; ) {
      const page = await tx.listEntries(10, after, 7);
      assert(page.length <= 7, `page of ${page.length} entries exceeds limit 7`);
      if (page.length === 0) break;
      paged.push(...page);
      after = page[page.length - 1]!.cookie;
    }
    assertEqual(paged, all, "paged listing");
  });
  // Renaming over an existing name gives it a new (higher) cookie: it moves to the end, once.
  const moved = { ...all[0]!, cookie: 1000, ino: 77 };
  await store.transaction("readwrite", async (tx) => {
    await tx.putEntry(moved);
    await tx.deleteEntry(10, all[1]!.name);
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.listEntries(10, 0, 1000), [...all.slice(2), moved], "listing after replace and delete");
  });
});

check("chunks: put, get, tails, holes, overwrite, delete", async ({ store }) => {
  const cs = store.chunkSize;
  assert(Number.isInteger(cs) && cs > 0, `chunkSize ${cs} is not a positive integer`);
  const full = bytes(cs, 1);
  const tail = bytes(Math.max(1, cs >> 3) + 3, 2);
  const far = 2 ** 20 + 5;
  await store.transaction("readwrite", async (tx) => {
    await tx.putChunk(5, 0, viewOf(full));
    await tx.putChunk(5, 2, viewOf(tail));
    await tx.putChunk(5, far, bytes(1, 3));
    await tx.putChunk(6, 1, bytes(cs, 4));
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getChunk(5, 0), full, "full chunk 5:0");
    assertEqual(await tx.getChunk(5, 1), undefined, "hole 5:1");
    assertEqual(await tx.getChunk(5, 2), tail, "tail chunk 5:2 keeps its length");
    assertEqual(await tx.getChunk(5, 3), undefined, "past the last chunk");
    assertEqual(await tx.getChunk(5, far), bytes(1, 3), "chunk at a far index");
    assertEqual(await tx.getChunk(6, 0), undefined, "hole 6:0");
    assertEqual(await tx.getChunk(6, 1), bytes(cs, 4), "chunk 6:1");
    assertEqual(await tx.getChunk(7, 0), undefined, "inode without chunks");
  });
  await store.transaction("readwrite", async (tx) => {
    await tx.putChunk(5, 0, bytes(7, 5)); // shrinks
    await tx.putChunk(5, 2, bytes(cs, 6)); // grows
    await tx.deleteChunk(6, 1);
    await tx.deleteChunk(6, 2); // missing: no error
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getChunk(5, 0), bytes(7, 5), "chunk 5:0 overwritten shorter");
    assertEqual(await tx.getChunk(5, 2), bytes(cs, 6), "chunk 5:2 overwritten longer");
    assertEqual(await tx.getChunk(6, 1), undefined, "deleted chunk 6:1");
  });
});

check("chunks: many in one transaction, rewritten in later ones", async ({ store }) => {
  const cs = store.chunkSize;
  const n = 24;
  const version = new Map<number, number>();
  const len = (i: number) => (i === n - 1 ? (cs >> 1) + 1 : cs);
  await store.transaction("readwrite", async (tx) => {
    for (let i = 0; i < n; i++) {
      await tx.putChunk(40, i, bytes(len(i), 1000 + i));
      version.set(i, 1000 + i);
    }
  });
  for (let round = 0; round < 3; round++) {
    await store.transaction("readwrite", async (tx) => {
      for (let i = round; i < n; i += 3 + round) {
        const seedv = 2000 + round * 100 + i;
        await tx.putChunk(40, i, bytes(len(i), seedv));
        // Twice in one transaction: the second write wins.
        if (i % 2 === 0) await tx.putChunk(40, i, bytes(len(i), seedv + 50));
        version.set(i, i % 2 === 0 ? seedv + 50 : seedv);
      }
    });
  }
  await store.transaction("readonly", async (tx) => {
    for (let i = 0; i < n; i++) assertEqual(await tx.getChunk(40, i), bytes(len(i), version.get(i)!), `chunk 40:${i}`);
  });
});

check("deleteChunksFrom", async ({ store }) => {
  await store.transaction("readwrite", async (tx) => {
    for (let i = 0; i < 10; i++) await tx.putChunk(5, i, bytes(16, 50 + i));
    for (const ino of [4, 6]) for (let i = 0; i < 4; i++) await tx.putChunk(ino, i, bytes(16, ino * 10 + i));
    await tx.putChunk(5, 1000, bytes(16, 1));
  });
  await store.transaction("readwrite", async (tx) => {
    await tx.deleteChunksFrom(5, 4);
    await tx.deleteChunksFrom(9, 0); // nothing there
  });
  await store.transaction("readonly", async (tx) => {
    for (let i = 0; i < 4; i++) assertEqual(await tx.getChunk(5, i), bytes(16, 50 + i), `kept chunk 5:${i}`);
    for (let i = 4; i < 10; i++) assertEqual(await tx.getChunk(5, i), undefined, `deleted chunk 5:${i}`);
    assertEqual(await tx.getChunk(5, 1000), undefined, "deleted far chunk 5:1000");
    for (const ino of [4, 6]) for (let i = 0; i < 4; i++) assertEqual(await tx.getChunk(ino, i), bytes(16, ino * 10 + i), `neighbour chunk ${ino}:${i}`);
  });
  await store.transaction("readwrite", (tx) => tx.deleteChunksFrom(5, 0));
  await store.transaction("readonly", async (tx) => {
    for (let i = 0; i < 4; i++) assertEqual(await tx.getChunk(5, i), undefined, `chunk 5:${i} after deleteChunksFrom(5, 0)`);
    assertEqual(await tx.getChunk(4, 3), bytes(16, 43), "neighbour 4:3 after deleteChunksFrom(5, 0)");
  });
});

check("chunks: readers agree with a model through random commits and rollbacks", async ({ store }) => {
  // Stores may cache the committed chunk map (OPFS) and read straight into a
  // caller's buffer (readChunkInto): every commit, rollback and delete must
  // show through both at once, for small (inline) and slot-sized chunks.
  const cs = store.chunkSize;
  type Model = Map<string, Uint8Array>;
  let model: Model = new Map();
  let seedNo = 1000;
  const rand = randomInts(12345);
  const inos = [81, 82, 83];
  interface Seen {
    ino: number;
    index: number;
    chunk: Uint8Array | undefined;
    /** readChunkInto: where, how many bytes it said, and what it wrote. */
    into?: { within: number; len: number; got: number | undefined; bytes: Uint8Array };
  }
  const readAll = (): Promise<Seen[]> =>
    store.transaction("readonly", async (tx) => {
      const seen: Seen[] = [];
      for (const ino of inos) {
        for (let index = 0; index < 6; index++) {
          const c = await tx.getChunk(ino, index);
          const s: Seen = { ino, index, chunk: c?.slice() };
          if (tx.readChunkInto) {
            const within = rand(2) === 0 ? 0 : rand(cs);
            const dest = new Uint8Array(1 + rand(cs));
            const got = await tx.readChunkInto(ino, index, within, dest);
            s.into = { within, len: dest.length, got, bytes: dest.subarray(0, got ?? 0) };
          }
          seen.push(s);
        }
      }
      return seen;
    });
  /** Where `seen` departs from `m`, or null when it is exactly m. */
  const mismatch = (seen: Seen[], m: Model): string | null => {
    for (const s of seen) {
      const want = m.get(`${s.ino}:${s.index}`);
      const d = diff(s.chunk, want);
      if (d) return `getChunk(${s.ino}, ${s.index}): ${d}`;
      if (!s.into) continue;
      if (!want) {
        if (s.into.got !== undefined) return `readChunkInto(${s.ino}, ${s.index}) of a hole gave ${s.into.got}`;
        continue;
      }
      const n = Math.max(0, Math.min(s.into.len, want.length - s.into.within));
      if (s.into.got !== n) return `readChunkInto(${s.ino}, ${s.index}, ${s.into.within}) said ${s.into.got}, not ${n}`;
      const e = diff(s.into.bytes, want.subarray(s.into.within, s.into.within + n));
      if (e) return `readChunkInto(${s.ino}, ${s.index}, ${s.into.within}): ${e}`;
    }
    return null;
  };
  for (let step = 0; step < 40; step++) {
    const next: Model = new Map(model);
    const fail = rand(5) === 0;
    const readers: Promise<Seen[]>[] = [];
    await modelStep(store, step, fail, async (tx) => {
      for (let k = 1 + rand(4); k > 0; k--) {
        const ino = inos[rand(inos.length)]!;
        const index = rand(6);
        const op = rand(6);
        if (op <= 2) {
          const data = bytes(op === 0 ? 1 + rand(64) : op === 1 ? cs : 1 + rand(cs), seedNo++);
          await tx.putChunk(ino, index, viewOf(data));
          next.set(`${ino}:${index}`, data);
        } else if (op === 3) {
          await tx.getChunk(ino, index);
          await tx.deleteChunk(ino, index);
          next.delete(`${ino}:${index}`);
        } else if (op === 4) {
          await tx.deleteChunksFrom(ino, index);
          for (let i = index; i < 6; i++) next.delete(`${ino}:${i}`);
        } else {
          readers.push(readAll());
        }
      }
    });
    const before = model;
    if (!fail) model = next;
    // A reader beside the writer sees the whole state before it or the whole state after it.
    for (const seen of await Promise.all(readers)) {
      const a = mismatch(seen, before);
      const b = mismatch(seen, model);
      assert(a === null || b === null, `step ${step}, a reader beside the writer: ${a}; against the state after: ${b}`);
    }
    const m = mismatch(await readAll(), model);
    assert(m === null, `after step ${step}${fail ? " (rolled back)" : ""}: ${m}`);
  }
});

check("records: readers agree with a model through random commits and rollbacks", async ({ store }) => {
  // Stores may keep committed inode and entry records in memory (IndexedDB, OPFS): commits,
  // rollbacks and readers running beside writers must all see them exactly as stored.
  const rand = randomInts(777);
  type State = { inodes: Map<number, number>; entries: Map<string, number> };
  const inos = [91, 92, 93, 94];
  const names = ["a", "b", "c"];
  let model: State = { inodes: new Map(), entries: new Map() };
  let cookie = 3;
  const readAll = (): Promise<State> =>
    store.transaction("readonly", async (tx) => {
      const seen: State = { inodes: new Map(), entries: new Map() };
      for (let round = 0; round < 2; round++) {
        for (const ino of inos) {
          const rec = await tx.getInode(ino);
          if (rec) seen.inodes.set(ino, rec.version);
        }
        for (const n of names) {
          const e = await tx.getEntry(90, n);
          if (e) seen.entries.set(n, e.ino);
        }
      }
      return seen;
    });
  const same = (a: State, b: State): boolean => diff([...a.inodes].sort(), [...b.inodes].sort()) === null && diff([...a.entries].sort(), [...b.entries].sort()) === null;
  const show2 = (st: State) => JSON.stringify({ inodes: [...st.inodes], entries: [...st.entries] });
  for (let step = 0; step < 40; step++) {
    const next: State = { inodes: new Map(model.inodes), entries: new Map(model.entries) };
    const fail = rand(5) === 0;
    const readers: Promise<State>[] = [readAll()];
    await modelStep(store, step, fail, async (tx) => {
      for (let k = 1 + rand(4); k > 0; k--) {
        const op = rand(5);
        const ino = inos[rand(inos.length)]!;
        const name = names[rand(names.length)]!;
        if (op === 0) {
          const v = step * 10 + k;
          await tx.getInode(ino);
          await tx.putInode(inode(ino, { version: v }));
          next.inodes.set(ino, v);
        } else if (op === 1) {
          await tx.deleteInode(ino);
          next.inodes.delete(ino);
        } else if (op === 2) {
          await tx.getEntry(90, name);
          // Cookies are unique within a directory (Store contract): a fresh one per put.
          await tx.putEntry(entry(90, name, ino, cookie++));
          next.entries.set(name, ino);
        } else if (op === 3) {
          await tx.deleteEntry(90, name);
          next.entries.delete(name);
        } else {
          readers.push(readAll());
        }
      }
    });
    const before = model;
    if (!fail) model = next;
    for (const seen of await Promise.all(readers)) {
      assert(same(seen, before) || same(seen, model), `step ${step}: a reader saw ${show2(seen)}; before ${show2(before)}, after ${show2(model)}`);
    }
    const after = await readAll();
    assert(same(after, model), `after step ${step}${fail ? " (rolled back)" : ""}: saw ${show2(after)}, expected ${show2(model)}`);
  }
});

check("meta: put, get, overwrite", async ({ store }) => {
  const obj = { a: [1, 2, { b: "c" }], n: null, s: "ünï" };
  await store.transaction("readwrite", async (tx) => {
    assertEqual(await tx.getMeta("nextIno"), undefined, "missing meta");
    await tx.putMeta("nextIno", 2 ** 40);
    await tx.putMeta("label", "root");
    await tx.putMeta("obj", obj);
  });
  await store.transaction("readwrite", async (tx) => {
    assertEqual(await tx.getMeta<number>("nextIno"), 2 ** 40, "number meta");
    assertEqual(await tx.getMeta<string>("label"), "root", "string meta");
    assertEqual(await tx.getMeta("obj"), obj, "object meta");
    await tx.putMeta("nextIno", 3);
  });
  await store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getMeta("nextIno"), 3, "overwritten meta");
  });
});

check("xattrs: put, get, replace, delete, rollback, apart from meta, persist", async (env) => {
  const list: [string, Uint8Array][] = [
    ["user.big", viewOf(bytes(65536, 5))],
    ["__proto__", bytes(3, 8)],
    ["security.empty", new Uint8Array(0)],
  ];
  await env.store.transaction("readwrite", async (tx) => {
    assertEqual(await tx.getXattrs(7), undefined, "xattrs of an inode without any");
    await tx.putXattrs(7, list);
    assertEqual(await tx.getXattrs(7), list, "own putXattrs");
    await tx.putXattrs(8, [["user.x", bytes(1, 1)]]);
    await tx.putMeta("7", "a meta value named like an inode");
  });
  await env.store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getXattrs(7), list, "getXattrs(7) after commit");
    assertEqual(await tx.getMeta("7"), "a meta value named like an inode", "meta is a separate name space");
  });
  await expectReject(
    env.store.transaction("readwrite", async (tx) => {
      await tx.putXattrs(7, undefined);
      await tx.putXattrs(8, [["user.y", bytes(2, 2)]]);
      throw new Error("planned rollback");
    }),
    (e) => (e as Error).message === "planned rollback",
    "xattr rollback",
  );
  await env.store.transaction("readwrite", async (tx) => {
    assertEqual(await tx.getXattrs(7), list, "xattrs(7) after a rolled back delete");
    assertEqual(await tx.getXattrs(8), [["user.x", bytes(1, 1)]], "xattrs(8) after a rolled back replace");
    await tx.putXattrs(8, undefined);
    assertEqual(await tx.getXattrs(8), undefined, "own delete");
  });
  if (!env.canReopen) return;
  await env.reopen();
  await env.store.transaction("readonly", async (tx) => {
    assertEqual(await tx.getXattrs(7), list, "xattrs(7) after reopen");
    assertEqual(await tx.getXattrs(8), undefined, "xattrs(8) after reopen");
  });
});

check("read-your-writes inside a transaction", async ({ store }) => {
  const probe = await seed(store);
  const cs = store.chunkSize;
  await store.transaction("readwrite", async (tx) => {
    await tx.putChunk(2, 0, bytes(cs, 77));
    assertEqual(await tx.getChunk(2, 0), bytes(cs, 77), "own putChunk");
    await tx.putChunk(2, 0, bytes(5, 78));
    assertEqual(await tx.getChunk(2, 0), bytes(5, 78), "own second putChunk");
    await tx.deleteChunk(2, 1);
    assertEqual(await tx.getChunk(2, 1), undefined, "own deleteChunk");
    await tx.putChunk(2, 1, bytes(9, 79));
    await tx.putChunk(2, 3, bytes(9, 80));
    await tx.deleteChunksFrom(2, 1);
    assertEqual(await tx.getChunk(2, 1), undefined, "own deleteChunksFrom (1)");
    assertEqual(await tx.getChunk(2, 3), undefined, "own deleteChunksFrom (3)");
    assertEqual(await tx.getChunk(2, 0), bytes(5, 78), "deleteChunksFrom keeps lower chunks");
    await tx.putChunk(2, 1, bytes(11, 81));
    assertEqual(await tx.getChunk(2, 1), bytes(11, 81), "putChunk after deleteChunksFrom");
    await tx.putInode(inode(2, { version: 9 }));
    assertEqual((await tx.getInode(2))?.version, 9, "own putInode");
    await tx.deleteEntry(1, "a");
    assertEqual(await tx.getEntry(1, "a"), undefined, "own deleteEntry");
    assertEqual((await tx.listEntries(1, 0, 10)).map((e) => e.name), ["b"], "listEntries sees own delete");
    await tx.putMeta("nextIno", 5);
    assertEqual(await tx.getMeta("nextIno"), 5, "own putMeta");
  });
  const after = (await snapshot(store, probe)) as Record<string, unknown>;
  assertEqual(after["chunk 2:0"], bytes(5, 78), "committed chunk 2:0");
  assertEqual(after["chunk 2:1"], bytes(11, 81), "committed chunk 2:1");
  assertEqual(after["chunk 2:2"], null, "committed chunk 2:2");
});

check("commit: all changes of a transaction appear together", async ({ store }) => {
  const probe = await seed(store);
  const value = await store.transaction("readwrite", async (tx) => {
    await scribble(tx, store.chunkSize);
    return { answer: 42 };
  });
  assertEqual(value, { answer: 42 }, "transaction result");
  const s = (await snapshot(store, probe)) as Record<string, unknown>;
  assertEqual(s["inode 1"], null, "inode 1 deleted");
  assertEqual((s["inode 2"] as InodeRecord).version, 2, "inode 2 rewritten");
  assertEqual(s["inode 4"], inode(4), "inode 4 created");
  assertEqual(s["entry 1/a"], null, "entry a deleted");
  assertEqual(s["entry 1/c"], entry(1, "c", 4, 5), "entry c created");
  assertEqual(s["chunk 2:0"], bytes(store.chunkSize, 11), "chunk 2:0 rewritten");
  assertEqual(s["chunk 2:1"], null, "chunk 2:1 deleted by deleteChunksFrom");
  assertEqual(s["chunk 2:2"], null, "chunk 2:2 written then deleted by deleteChunksFrom");
  assertEqual(s["chunk 3:0"], null, "chunk 3:0 deleted");
  assertEqual(s["meta nextIno"], 99, "meta rewritten");
});

check("rollback: a throwing body changes nothing and its error comes back", async ({ store }) => {
  const probe = await seed(store);
  const before = await snapshot(store, probe);
  const boom = new Error("boom");
  const e = await expectReject(
    store.transaction("readwrite", async (tx) => {
      await scribble(tx, store.chunkSize);
      throw boom;
    }),
    () => true,
    "transaction whose body throws",
  );
  assert(e === boom, `rejected with ${show(e)} instead of the body's own error`);
  assertEqual(await snapshot(store, probe), before, "state after a throwing body");
  // A synchronous throw counts too.
  const sync = new Error("sync");
  const e2 = await expectReject(
    store.transaction("readwrite", (() => {
      throw sync;
    }) as (tx: StoreTx) => Promise<void>),
    () => true,
    "body that throws synchronously",
  );
  assert(e2 === sync, `synchronous throw: rejected with ${show(e2)}`);
  // The store is still usable.
  await store.transaction("readwrite", (tx) => tx.putMeta("other", 1));
  assertEqual((await snapshot(store, { meta: ["other"] })) as unknown, { "meta other": 1 }, "write after rollback");
});

check("abort: an already-aborted signal rejects with AbortError and changes nothing", async ({ store }) => {
  const probe = await seed(store);
  const before = await snapshot(store, probe);
  const ac = new AbortController();
  ac.abort();
  await expectReject(
    store.transaction("readwrite", (tx) => scribble(tx, store.chunkSize), { signal: ac.signal }),
    isAbortError,
    "transaction with an aborted signal",
  );
  assertEqual(await snapshot(store, probe), before, "state after an aborted transaction");
});

check("abort: signal fired by the body mid-way rolls back", async ({ store }) => {
  const probe = await seed(store);
  const before = await snapshot(store, probe);
  const cs = store.chunkSize;
  // The body keeps going after the abort (as a handler would until it next
  // checks): later calls may fail or not, the outcome is still AbortError.
  const ac = new AbortController();
  await expectReject(
    store.transaction(
      "readwrite",
      async (tx) => {
        await tx.putInode(inode(2, { version: 50 }));
        await tx.putChunk(2, 0, bytes(cs, 51));
        ac.abort();
        try {
          await tx.getInode(2);
          await tx.putMeta("nextIno", 50);
          await tx.putChunk(2, 5, bytes(cs, 52));
        } catch {
          // Calls after an abort may reject; that is allowed.
        }
        return "finished";
      },
      { signal: ac.signal },
    ),
    isAbortError,
    "transaction aborted by its body",
  );
  assertEqual(await snapshot(store, probe), before, "state after abort (body caught)");
  // Same, with the body letting the failure of its next call propagate.
  const ac2 = new AbortController();
  await expectReject(
    store.transaction(
      "readwrite",
      async (tx) => {
        await scribble(tx, cs);
        ac2.abort();
        await tx.putChunk(3, 0, bytes(cs, 53));
        await tx.putMeta("nextIno", 51);
      },
      { signal: ac2.signal },
    ),
    isAbortError,
    "transaction aborted by its body (uncaught)",
  );
  assertEqual(await snapshot(store, probe), before, "state after abort (body did not catch)");
});

check("abort: signal fired from outside while the body awaits its calls", async ({ store }) => {
  const probe = await seed(store);
  const before = await snapshot(store, probe);
  const steps = 400;
  let reached = 0;
  const ac = new AbortController();
  let fired = -1;
  const p = store.transaction(
    "readwrite",
    async (tx) => {
      await tx.putInode(inode(2, { version: 60 }));
      for (let i = 0; i < steps; i++) {
        reached = i;
        // The timer is armed from inside but fires from the event loop, like a Tflush.
        if (i === 20) setTimeout(() => {
          fired = reached;
          ac.abort();
        }, 0);
        await tx.putChunk(9, i, bytes(64, i));
        await tx.getChunk(9, i);
      }
      await tx.putMeta("nextIno", 60);
    },
    { signal: ac.signal },
  );
  let outcome: string;
  try {
    await p;
    outcome = "committed";
  } catch (e) {
    if (!isAbortError(e)) fail(`rejected with ${e instanceof Error ? e.name + ": " + e.message : show(e)} instead of AbortError`);
    outcome = "aborted";
  }
  const after = (await snapshot(store, { ...probe, chunks: [...probe.chunks!, [9, 0], [9, steps - 1]] })) as Record<string, unknown>;
  if (outcome === "aborted") {
    assertEqual(after["chunk 9:0"], null, "first chunk of an aborted transaction");
    assertEqual(after["chunk 9:" + (steps - 1)], null, "last chunk of an aborted transaction");
    const { ["chunk 9:0"]: _a, ["chunk 9:" + (steps - 1)]: _b, ...rest } = after;
    assertEqual(rest, before, "state after the aborted transaction");
    return `aborted (timer fired at step ${fired} of ${steps})`;
  }
  // The store ran the whole body before the timer could fire (memory store: no real I/O).
  assertEqual(after["chunk 9:0"], bytes(64, 0), "first chunk of a committed transaction");
  assertEqual(after["chunk 9:" + (steps - 1)], bytes(64, steps - 1), "last chunk of a committed transaction");
  assertEqual(after["meta nextIno"], 60, "meta of a committed transaction");
  return "committed before the timer fired";
});

check("abort: signal fired after the commit changes nothing", async ({ store }) => {
  const ac = new AbortController();
  await store.transaction("readwrite", (tx) => tx.putMeta("k", "v"), { signal: ac.signal });
  ac.abort();
  assertEqual((await snapshot(store, { meta: ["k"] })) as unknown, { "meta k": "v" }, "committed value after a late abort");
});

check("readonly: sees committed state; writes in it fail and change nothing", async ({ store }) => {
  const probe = await seed(store);
  const before = await snapshot(store, probe);
  await store.transaction("readonly", async (tx) => {
    assertEqual((await tx.getInode(2))?.size, store.chunkSize + 10, "committed inode");
    assertEqual(await tx.getChunk(2, 1), bytes(10, 2), "committed chunk");
    assertEqual(await tx.getMeta("nextIno"), 4, "committed meta");
  });
  await expectReject(
    store.transaction("readonly", async (tx) => {
      await tx.putMeta("nextIno", 1000);
      await tx.putChunk(2, 0, bytes(4, 4));
    }),
    () => true,
    "a write in a readonly transaction",
  );
  assertEqual(await snapshot(store, probe), before, "state after a write attempt in a readonly transaction");
});

check("isolation: a reader never sees half of a concurrent writer's transaction", async ({ store }) => {
  const cs = store.chunkSize;
  await store.transaction("readwrite", async (tx) => {
    await tx.putInode(inode(20, { version: 1 }));
    await tx.putInode(inode(21, { version: 1 }));
    await tx.putChunk(20, 0, bytes(cs, 1));
  });
  const seen: string[] = [];
  const readers: Promise<void>[] = [];
  const read = () =>
    store.transaction("readonly", async (tx) => {
      const a = (await tx.getInode(20))!.version;
      const c = await tx.getChunk(20, 0);
      const b = (await tx.getInode(21))!.version;
      const cv = diff(c, bytes(cs, a)) === null ? a : -1;
      seen.push(`${a}/${cv}/${b}`);
    });
  readers.push(read());
  const writers: Promise<void>[] = [];
  for (let v = 2; v <= 4; v++) {
    writers.push(
      store.transaction("readwrite", async (tx) => {
        await tx.putInode(inode(20, { version: v }));
        readers.push(read());
        await tx.putChunk(20, 0, bytes(cs, v));
        for (let i = 0; i < 5; i++) await tx.getInode(21);
        await tx.putInode(inode(21, { version: v }));
      }),
    );
    readers.push(read());
  }
  await Promise.all(writers);
  await Promise.all(readers);
  for (const s of seen) {
    const [a, c, b] = s.split("/");
    assert(a === b && a === c, `a reader saw inode 20 v${a}, its chunk v${c}, inode 21 v${b}: a torn transaction`);
  }
  return `readers saw versions ${[...new Set(seen.map((s) => s.split("/")[0]))].join(",")}`;
});

check("concurrency: concurrent read-modify-write transactions lose no update", async ({ store }) => {
  await store.transaction("readwrite", async (tx) => {
    await tx.putMeta("counter", 0);
    await tx.putChunk(30, 0, new Uint8Array(0));
  });
  const n = 30;
  const results = await Promise.allSettled(
    Array.from({ length: n }, (_, i) =>
      store.transaction("readwrite", async (tx) => {
        const c = (await tx.getMeta<number>("counter")) ?? -1000;
        const old = (await tx.getChunk(30, 0)) ?? new Uint8Array(0);
        const next = new Uint8Array(old.length + 1);
        next.set(old);
        next[old.length] = i;
        await tx.putChunk(30, 0, next);
        await tx.putMeta("counter", c + 1);
        // Every fifth one fails after doing its writes: it must not count.
        if (i % 5 === 4) throw new Error(`planned failure ${i}`);
      }),
    ),
  );
  const failed = results.filter((r) => r.status === "rejected").length;
  assertEqual(failed, n / 5, "number of failed transactions");
  const s = (await snapshot(store, { meta: ["counter"], chunks: [[30, 0]] })) as Record<string, unknown>;
  assertEqual(s["meta counter"], n - n / 5, "counter after concurrent increments");
  const chunk = s["chunk 30:0"] as Uint8Array;
  assertEqual(chunk.length, n - n / 5, "chunk length after concurrent appends");
  const got = [...chunk].sort((a, b) => a - b);
  const want = Array.from({ length: n }, (_, i) => i).filter((i) => i % 5 !== 4);
  assertEqual(got, want, "appended bytes (each surviving transaction exactly once)");
});

check("concurrency: aborting some transactions leaves the others intact", async ({ store }) => {
  const cs = store.chunkSize;
  const n = 12;
  const acs = Array.from({ length: n }, () => new AbortController());
  const ps = acs.map((ac, i) =>
    store.transaction(
      "readwrite",
      async (tx) => {
        await tx.putChunk(50 + i, 0, bytes(cs, i));
        await tx.putMeta(`done${i}`, true);
        await tx.getChunk(50 + i, 0);
        await tx.putChunk(50 + i, 1, bytes(100, i));
      },
      { signal: ac.signal },
    ),
  );
  for (let i = 0; i < n; i += 3) acs[i]!.abort();
  const results = await Promise.allSettled(ps);
  for (let i = 0; i < n; i++) {
    const r = results[i]!;
    if (i % 3 === 0) {
      assert(r.status === "rejected" && isAbortError(r.reason), `aborted transaction ${i}: ${r.status === "rejected" ? show(String(r.reason)) : "committed"}`);
    } else {
      assert(r.status === "fulfilled", `transaction ${i} failed: ${r.status === "rejected" ? String(r.reason) : ""}`);
    }
  }
  await store.transaction("readonly", async (tx) => {
    for (let i = 0; i < n; i++) {
      const aborted = i % 3 === 0;
      assertEqual(await tx.getChunk(50 + i, 0), aborted ? undefined : bytes(cs, i), `chunk of transaction ${i}`);
      assertEqual(await tx.getChunk(50 + i, 1), aborted ? undefined : bytes(100, i), `tail of transaction ${i}`);
      assertEqual(await tx.getMeta(`done${i}`), aborted ? undefined : true, `meta of transaction ${i}`);
    }
  });
});

check("durable: a durable commit is visible like any other", async ({ store }) => {
  const cs = store.chunkSize;
  await store.transaction(
    "readwrite",
    async (tx) => {
      await tx.putChunk(60, 0, bytes(cs, 60));
      await tx.putMeta("durable", 1);
    },
    { durable: true },
  );
  const s = (await snapshot(store, { chunks: [[60, 0]], meta: ["durable"] })) as Record<string, unknown>;
  assertEqual(s["chunk 60:0"], bytes(cs, 60), "durably committed chunk");
  assertEqual(s["meta durable"], 1, "durably committed meta");
});

check("persistence: everything survives close and reopen", async (env) => {
  if (!env.canReopen) return "skipped (no reopen)";
  const probe = await seed(env.store);
  const cs = env.store.chunkSize;
  await env.store.transaction("readwrite", async (tx) => {
    for (let i = 0; i < 8; i++) await tx.putChunk(70, i, bytes(i === 7 ? 33 : cs, 700 + i));
    await tx.putInode(inode(70, { size: 7 * cs + 33, chunks: 8, xattrs: [["user.k", bytes(5, 1)]] }));
  });
  await expectReject(
    env.store.transaction("readwrite", async (tx) => {
      await tx.putMeta("nextIno", 12345);
      await tx.putChunk(70, 0, bytes(cs, 1));
      throw new Error("rolled back before close");
    }),
    () => true,
    "rolled-back transaction before close",
  );
  const full: Probe = { ...probe, inodes: [...probe.inodes!, 70], chunks: [...probe.chunks!, ...Array.from({ length: 9 }, (_, i) => [70, i] as [number, number])] };
  const before = await snapshot(env.store, full);
  await env.reopen();
  assertEqual(env.store.chunkSize, cs, "chunkSize after reopen");
  assertEqual(await snapshot(env.store, full), before, "state after reopen");
  await env.store.transaction("readwrite", (tx) => tx.putChunk(70, 0, bytes(cs, 71)));
  await env.reopen();
  const again = (await snapshot(env.store, { chunks: [[70, 0]] })) as Record<string, unknown>;
  assertEqual(again["chunk 70:0"], bytes(cs, 71), "write after the first reopen, after a second reopen");
});

check("persistence: names that are not UTF-8 survive close and reopen, byte for byte", async (env) => {
  if (!env.canReopen) return "skipped (no reopen)";
  // Raw bytes reach the store as lone surrogates (protocol/name-bytes.ts): "caf\udce9" is Latin-1 "caf\xe9".
  const names = ["caf\udce9", "caf\udce8", "\udcff\udcfe", "caf\u00e9"];
  const expected = names.map((n, i) => entry(80, n, 81 + i, 3 + i));
  await env.store.transaction("readwrite", async (tx) => {
    await tx.putInode(inode(80, { mode: 0o40755, parent: 1, nextCookie: 3 + names.length, nlink: 2 }));
    for (const e of expected) await tx.putEntry(e);
    await tx.putInode(inode(81, { mode: 0o120777, size: 8, target: "../caf\udce9" }));
  });
  await env.reopen();
  await env.store.transaction("readonly", async (tx) => {
    assertEqual(await tx.listEntries(80, 0, 10), expected, "entries after reopen");
    for (const e of expected) assertEqual(await tx.getEntry(80, e.name), e, `getEntry(80, ${show(e.name)}) after reopen`);
    assertEqual((await tx.getInode(81))?.target, "../caf\udce9", "symlink target after reopen");
  });
});

// ---------------------------------------------------------------- runner

/** Names of all checks, in the order they run. */
export const conformanceCheckNames: readonly string[] = checks.map(([n]) => n);

/**
 * Run every check against fresh stores. Resolves with a report when all pass;
 * rejects with one Error listing every failing check otherwise.
 */
export async function runStoreConformance(
  makeStore: () => Promise<Store>,
  options: ConformanceOptions | ((store: Store) => Promise<Store>) = {},
): Promise<ConformanceReport> {
  const opts: ConformanceOptions = typeof options === "function" ? { reopen: options } : options;
  const results: CheckResult[] = [];
  const skipped: string[] = [];
  for (const [name, fn] of checks) {
    if (opts.only && !opts.only.some((s) => name.includes(s))) {
      skipped.push(name);
      continue;
    }
    const started = performance.now();
    const env: CheckEnv = {
      store: await makeStore(),
      canReopen: !!opts.reopen,
      async reopen() {
        if (!opts.reopen) throw new Error("no reopen");
        env.store = await opts.reopen(env.store);
      },
    };
    let result: CheckResult;
    try {
      const note = await fn(env);
      result = { name, ok: true, ms: Math.round(performance.now() - started), ...(note ? { note } : {}) };
    } catch (e) {
      const msg = e instanceof ConformanceError ? e.message : e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
      result = { name, ok: false, ms: Math.round(performance.now() - started), error: msg };
    } finally {
      await env.store.close().catch(() => {});
    }
    results.push(result);
    opts.onCheck?.(result);
  }
  const failures = results.filter((r) => !r.ok);
  if (failures.length > 0) {
    throw new Error(
      `Store conformance: ${failures.length} of ${results.length} checks failed:\n` + failures.map((f) => `  ✗ ${f.name}: ${f.error}`).join("\n"),
    );
  }
  return { results, skipped };
}
