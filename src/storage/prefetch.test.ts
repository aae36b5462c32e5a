// TxOptions.prefetchEntries (issue 10.2): the writers of a batch have their entry lookups issued
// together before any body runs, and a body still sees its own writes over what was fetched.
import { describe, expect, it } from "vitest";
import { CommittedRecords } from "./committed-records.js";
import { MetadataOps } from "./indexeddb-metadata.js";
import type { EntryKey, EntryRecord, TxOptions } from "./store.js";
import { WriterBatcher } from "./writer-batcher.js";

/**
 * An IndexedDB object store as far as MetadataOps's entry methods use it:
 * requests take effect in the order issued (a get sees the writes issued
 * before it, not those after) and succeed in a later task.
 */
function fakeEntriesTx(data: Map<string, EntryRecord>, log: string[]): IDBTransaction {
  const later = <T>(value: T) => {
    const r = { result: undefined as T | undefined, onsuccess: null as null | (() => void), onerror: null };
    setTimeout(() => {
      r.result = value;
      r.onsuccess?.();
    });
    return r;
  };
  const store = {
    get(key: [number, string]) {
      log.push(`get ${key.join("/")}`);
      return later(data.get(key.join("/")));
    },
    put(rec: EntryRecord) {
      data.set(`${rec.dir}/${rec.name}`, rec);
      return later(undefined);
    },
    delete(key: [number, string]) {
      data.delete(key.join("/"));
      return later(undefined);
    },
    /** A directory's entries: the range is [dir, ""] .. [dir, []] (every name). */
    getAll(range: { lower: [number, string] }, count: number) {
      const dir = range.lower[0];
      log.push(`getAll ${dir}`);
      return later([...data.values()].filter((e) => e.dir === dir).slice(0, count));
    },
  };
  return { objectStore: () => store } as unknown as IDBTransaction;
}

const entry = (dir: number, name: string, ino: number): EntryRecord => ({ dir, name, ino, cookie: 3, dtype: 8 });

// Node has no IndexedDB: the key range the store builds, as the fake above reads it.
(globalThis as { IDBKeyRange?: unknown }).IDBKeyRange ??= { bound: (lower: unknown, upper: unknown) => ({ lower, upper }) };

describe("prefetchEntries", () => {
  it("MetadataOps issues the lookups at once, answers getEntry from them, and prefers its own writes", async () => {
    const data = new Map([["1/a", entry(1, "a", 10)], ["1/b", entry(1, "b", 11)]]);
    const log: string[] = [];
    const records = new CommittedRecords();
    // Too large to read whole (as if a lookup had found more than 256 entries): name by name.
    records.markLarge(1);
    const ops = new MetadataOps(fakeEntriesTx(data, log), { records, writer: true });
    ops.prefetchEntries([[1, "a"], [1, "b"], [1, "c"], [1, "a"]]);
    expect(log).toEqual(["get 1/a", "get 1/b", "get 1/c"]);
    // The first body renames b to c: its writes win over what was fetched before them.
    await ops.deleteEntry(1, "b");
    await ops.putEntry(entry(1, "c", 11));
    expect(await ops.getEntry(1, "a")).toEqual(entry(1, "a", 10));
    expect(await ops.getEntry(1, "b")).toBeUndefined();
    expect(await ops.getEntry(1, "c")).toEqual(entry(1, "c", 11));
    expect(log).toHaveLength(3); // no lookup went out twice
    expect(await ops.getEntry(1, "d")).toBeUndefined();
    expect(log).toEqual(["get 1/a", "get 1/b", "get 1/c", "get 1/d"]);
  });

  it("a small directory is read whole by one request: its names, present or not, are known from then on, own writes first", async () => {
    const data = new Map([["1/a", entry(1, "a", 10)], ["1/b", entry(1, "b", 11)], ["2/a", entry(2, "a", 12)]]);
    const log: string[] = [];
    const records = new CommittedRecords();
    const ops = new MetadataOps(fakeEntriesTx(data, log), { records, writer: true });
    ops.prefetchEntries([[1, "a"], [1, "b"], [1, "c"]]);
    expect(log).toEqual(["getAll 1"]);
    await ops.deleteEntry(1, "b");
    await ops.putEntry(entry(1, "c", 11));
    expect(await ops.getEntry(1, "a")).toEqual(entry(1, "a", 10));
    expect(await ops.getEntry(1, "b")).toBeUndefined();
    expect(await ops.getEntry(1, "c")).toEqual(entry(1, "c", 11));
    // Known whole: a name never asked for costs no request; the uncommitted writes are not in the records.
    expect(await ops.getEntry(1, "zz")).toBeUndefined();
    expect(records.entry("1/c", 1)).toBeNull();
    expect(records.entry("1/b", 1)?.ino).toBe(11);
    expect(log).toEqual(["getAll 1"]);
    // Another transaction, after that one committed, asks nothing of directory 1 again.
    records.apply(ops.ownInodes, ops.ownMeta, ops.ownEntries);
    const next = new MetadataOps(fakeEntriesTx(data, log), { records, writer: true });
    next.prefetchEntries([[1, "c"], [1, "d"]]);
    expect(await next.getEntry(1, "c")).toEqual(entry(1, "c", 11));
    expect(await next.getEntry(1, "d")).toBeUndefined();
    expect(log).toEqual(["getAll 1"]);
  });

  it("WriterBatcher hands the transaction every writer's entries of the batch, not those of writers already flushed", async () => {
    const seen: (readonly EntryKey[] | undefined)[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = new WriterBatcher<{ writes: number }>(async (body, options: TxOptions) => {
      seen.push(options.prefetchEntries);
      await gate;
      await body({ writes: 0 });
    });
    const first = b.run(async () => "first", { prefetchEntries: [[1, "x"]] });
    const ac = new AbortController();
    const queued = [
      b.run(async () => 1, { prefetchEntries: [[1, "a"]] }),
      b.run(async () => 2, { prefetchEntries: [[2, "b"], [3, "c"]] }),
      b.run(async () => 3, { signal: ac.signal, prefetchEntries: [[9, "gone"]] }).catch(() => "flushed"),
      b.run(async () => 4),
    ];
    ac.abort();
    release();
    expect(await first).toBe("first");
    expect(await Promise.all(queued)).toEqual([1, 2, "flushed", 4]);
    expect(seen).toEqual([[[1, "x"]], [[1, "a"], [2, "b"], [3, "c"]]]);
  });
});
