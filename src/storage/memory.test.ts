import { describe, expect, it, vi } from "vitest";
import { Errno, FsError, isAbortError } from "../protocol/errno.js";
import { MemoryStore } from "./memory.js";
import type { EntryRecord, InodeRecord, StoreTx } from "./store.js";

const T0 = { sec: 0, nsec: 0 };

function inode(ino: number, extra: Partial<InodeRecord> = {}): InodeRecord {
  return {
    ino, mode: 0o100644, uid: 0, gid: 0, nlink: 1, rdev: 0, size: 0,
    atime: T0, mtime: T0, ctime: T0, btime: T0, version: 0, chunks: 0, parent: 0, nextCookie: 0,
    ...extra,
  };
}

function entry(dir: number, name: string, ino: number, cookie: number): EntryRecord {
  return { dir, name, ino, cookie, dtype: 8 };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

async function snapshot(s: MemoryStore): Promise<unknown> {
  return s.transaction("readonly", async (tx) => ({
    a: await tx.getInode(1),
    b: await tx.getInode(2),
    e: await tx.listEntries(1, 0, 100),
    c: await tx.getChunk(2, 0),
    m: await tx.getMeta("k"),
    stats: s.debugStats(),
  }));
}

async function seed(s: MemoryStore): Promise<void> {
  await s.transaction("readwrite", async (tx) => {
    await tx.putInode(inode(1, { mode: 0o40755 }));
    await tx.putInode(inode(2));
    await tx.putEntry(entry(1, "f", 2, 3));
    await tx.putChunk(2, 0, new Uint8Array([1, 2, 3]));
    await tx.putMeta("k", 7);
  });
}

async function mutate(tx: StoreTx): Promise<void> {
  await tx.putInode(inode(2, { size: 99 }));
  await tx.deleteInode(1);
  await tx.putEntry(entry(1, "g", 2, 4));
  await tx.deleteEntry(1, "f");
  await tx.putChunk(2, 0, new Uint8Array([9]));
  await tx.putChunk(2, 5, new Uint8Array([9]));
  await tx.putMeta("k", 8);
}

describe("MemoryStore transactions", () => {
  it("reads its own writes inside the transaction and commits them all", async () => {
    const s = new MemoryStore();
    await seed(s);
    await s.transaction("readwrite", async (tx) => {
      await mutate(tx);
      expect((await tx.getInode(2))?.size).toBe(99);
      expect(await tx.getInode(1)).toBeUndefined();
      expect(await tx.getEntry(1, "f")).toBeUndefined();
      expect((await tx.listEntries(1, 0, 10)).map((e) => e.name)).toEqual(["g"]);
      expect(await tx.getChunk(2, 0)).toEqual(new Uint8Array([9]));
      expect(await tx.getMeta("k")).toBe(8);
      // Outside readers still see the old state only after the commit: the writer holds the lock.
    });
    const after = await s.transaction("readonly", async (tx) => ({
      size: (await tx.getInode(2))?.size,
      names: (await tx.listEntries(1, 0, 10)).map((e) => e.name),
    }));
    expect(after).toEqual({ size: 99, names: ["g"] });
  });

  it("rolls back everything when the body throws, and rethrows", async () => {
    const s = new MemoryStore();
    await seed(s);
    const before = await snapshot(s);
    const boom = new Error("boom");
    await expect(s.transaction("readwrite", async (tx) => { await mutate(tx); throw boom; })).rejects.toBe(boom);
    expect(await snapshot(s)).toEqual(before);
  });

  it("rolls back on an abort that fires while the body runs, rejecting at once", async () => {
    const s = new MemoryStore();
    await seed(s);
    const before = await snapshot(s);
    const ac = new AbortController();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p = s.transaction("readwrite", async (tx) => { await mutate(tx); await gate; return 1; }, { signal: ac.signal });
    await tick();
    ac.abort();
    await expect(p).rejects.toSatisfy(isAbortError);
    release();
    await tick();
    expect(await snapshot(s)).toEqual(before);
  });

  it("rejects with the signal's own AbortError reason when it is one", async () => {
    const s = new MemoryStore();
    const ac = new AbortController();
    ac.abort();
    await expect(s.transaction("readonly", async () => 1, { signal: ac.signal })).rejects.toBe(ac.signal.reason);
  });

  it("an abort right before the commit step rolls back", async () => {
    const s = new MemoryStore();
    await seed(s);
    const before = await snapshot(s);
    const ac = new AbortController();
    const p = s.transaction("readwrite", async (tx) => { await mutate(tx); ac.abort(); return 1; }, { signal: ac.signal });
    await expect(p).rejects.toSatisfy(isAbortError);
    expect(await snapshot(s)).toEqual(before);
  });

  it("an abort after the commit changes nothing: the value is returned", async () => {
    const s = new MemoryStore();
    await seed(s);
    const ac = new AbortController();
    const p = s.transaction("readwrite", async (tx) => { await tx.putMeta("k", 42); return "done"; }, { signal: ac.signal });
    const settled = p.then((v) => { ac.abort(); return v; });
    await expect(settled).resolves.toBe("done");
    expect(await s.transaction("readonly", (tx) => tx.getMeta("k"))).toBe(42);
  });

  it("calls after an abort reject inside the body", async () => {
    const s = new MemoryStore();
    const ac = new AbortController();
    let inner: unknown;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const p = s.transaction("readwrite", async (tx) => {
      await gate;
      try { await tx.getMeta("x"); } catch (e) { inner = e; }
    }, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toSatisfy(isAbortError);
    release();
    await tick();
    expect(isAbortError(inner)).toBe(true);
    // The lock went back once the body settled.
    await expect(s.transaction("readwrite", async () => 5)).resolves.toBe(5);
  });

  it("refuses writes in a readonly transaction", async () => {
    const s = new MemoryStore();
    await expect(s.transaction("readonly", (tx) => tx.putMeta("k", 1))).rejects.toThrow(/readonly/);
  });

  it("freezes stored records so shared objects cannot be mutated in place", async () => {
    const s = new MemoryStore();
    await seed(s);
    const rec = await s.transaction("readonly", async (tx) => (await tx.getInode(2))!);
    expect(Object.isFrozen(rec)).toBe(true);
  });
});

describe("MemoryStore readers/writer lock", () => {
  it("runs an uncontended readonly body synchronously", () => {
    const s = new MemoryStore();
    let ran = false;
    void s.transaction("readonly", async () => { ran = true; });
    expect(ran).toBe(true);
  });

  it("lets readers share and keeps writers exclusive, in FIFO order", async () => {
    const s = new MemoryStore();
    const log: string[] = [];
    const gates: Record<string, () => void> = {};
    const job = (name: string, mode: "readonly" | "readwrite"): Promise<void> =>
      s.transaction(mode, async () => {
        log.push(`+${name}`);
        await new Promise<void>((r) => (gates[name] = r));
        log.push(`-${name}`);
      });
    const r1 = job("r1", "readonly");
    const r2 = job("r2", "readonly");
    const w1 = job("w1", "readwrite");
    const r3 = job("r3", "readonly"); // queues behind the waiting writer
    const w2 = job("w2", "readwrite");
    await tick();
    expect(log).toEqual(["+r1", "+r2"]);
    gates.r1!();
    await tick();
    expect(log).toEqual(["+r1", "+r2", "-r1"]);
    gates.r2!();
    await tick();
    expect(log.slice(3)).toEqual(["-r2", "+w1"]);
    gates.w1!();
    await tick();
    expect(log.slice(5)).toEqual(["-w1", "+r3"]);
    gates.r3!();
    await tick();
    expect(log.slice(7)).toEqual(["-r3", "+w2"]);
    gates.w2!();
    await Promise.all([r1, r2, w1, r3, w2]);
  });

  it("isolates readers from an uncommitted writer", async () => {
    const s = new MemoryStore();
    await seed(s);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const w = s.transaction("readwrite", async (tx) => { await tx.putMeta("k", 100); await gate; });
    const r = s.transaction("readonly", (tx) => tx.getMeta<number>("k"));
    await tick();
    release();
    await w;
    // The reader waited for the writer (it never saw a half state); it sees the commit.
    expect(await r).toBe(100);
  });

  it("an abort while waiting for the lock leaves the queue and lets later waiters run", async () => {
    const s = new MemoryStore();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holder = s.transaction("readwrite", async () => { await gate; });
    const ac = new AbortController();
    let ran = false;
    const waiting = s.transaction("readwrite", async () => { ran = true; }, { signal: ac.signal });
    const reader = s.transaction("readonly", async () => "read");
    ac.abort();
    await expect(waiting).rejects.toSatisfy(isAbortError);
    release();
    await holder;
    await expect(reader).resolves.toBe("read");
    expect(ran).toBe(false);
  });
});

describe("MemoryStore chunks, entries and quota", () => {
  it("deleteChunksFrom drops stored and pending chunks from an index on", async () => {
    const s = new MemoryStore({ chunkSize: 4 });
    await s.transaction("readwrite", async (tx) => {
      for (let i = 0; i < 5; i++) await tx.putChunk(7, i, new Uint8Array([i]));
    });
    await s.transaction("readwrite", async (tx) => {
      await tx.putChunk(7, 6, new Uint8Array([6]));
      await tx.deleteChunksFrom(7, 2);
      expect(await tx.getChunk(7, 1)).toEqual(new Uint8Array([1]));
      expect(await tx.getChunk(7, 3)).toBeUndefined();
      expect(await tx.getChunk(7, 6)).toBeUndefined();
      await tx.putChunk(7, 3, new Uint8Array([33]));
    });
    expect(s.debugChunkIndices(7)).toEqual([0, 1, 3]);
    expect(s.debugStats().used).toBe(s.debugRecount());
  });

  it("rejects chunks longer than chunkSize", async () => {
    const s = new MemoryStore({ chunkSize: 4 });
    await expect(s.transaction("readwrite", (tx) => tx.putChunk(1, 0, new Uint8Array(5)))).rejects.toThrow(RangeError);
  });

  it("lists entries in cookie order, in pages, merging the transaction's own changes", async () => {
    const s = new MemoryStore();
    await s.transaction("readwrite", async (tx) => {
      for (let i = 0; i < 10; i++) await tx.putEntry(entry(1, `n${i}`, 100 + i, 3 + i));
    });
    await s.transaction("readwrite", async (tx) => {
      await tx.deleteEntry(1, "n2");
      await tx.putEntry(entry(1, "n5", 200, 13)); // replaced under a new cookie
      await tx.putEntry(entry(1, "x", 201, 14));
      const names = (await tx.listEntries(1, 0, 100)).map((e) => e.name);
      expect(names).toEqual(["n0", "n1", "n3", "n4", "n6", "n7", "n8", "n9", "n5", "x"]);
      expect((await tx.listEntries(1, 6, 3)).map((e) => e.name)).toEqual(["n4", "n6", "n7"]);
    });
    const page = await s.transaction("readonly", (tx) => tx.listEntries(1, 11, 100));
    expect(page.map((e) => [e.name, e.cookie])).toEqual([["n9", 12], ["n5", 13], ["x", 14]]);
  });

  it("pages through a large directory with deletions, each page costing about a page of work", async () => {
    const s = new MemoryStore();
    const N = 20000;
    await s.transaction("readwrite", async (tx) => {
      for (let i = 0; i < N; i++) await tx.putEntry(entry(1, `f${i}`, 10 + i, 3 + i));
    });
    await s.transaction("readwrite", async (tx) => {
      for (let i = 0; i < N; i += 2) await tx.deleteEntry(1, `f${i}`);
    });
    // Counted work, not time: Map lookups while paging (the index's by-cookie map is where a
    // page's scan goes). A page that scanned from the directory's start would make ~N²/200.
    const lookups = vi.spyOn(Map.prototype, "get");
    let after = 0;
    let seen = 0;
    let pages = 0;
    let looked = 0;
    try {
      for (;;) {
        const page = await s.transaction("readonly", (tx) => tx.listEntries(1, after, 100));
        if (page.length === 0) break;
        seen += page.length;
        pages++;
        after = page[page.length - 1]!.cookie;
      }
      looked = lookups.mock.calls.length;
    } finally {
      lookups.mockRestore();
    }
    expect(seen).toBe(N / 2);
    // Each live entry and tombstone once, plus a bounded overhead per transaction.
    expect(looked).toBeGreaterThan(N / 2);
    expect(looked).toBeLessThan(N + (pages + 1) * 100);
  });

  it("fails a commit past the quota with ENOSPC and keeps the old state", async () => {
    const s = new MemoryStore({ chunkSize: 1024, quotaBytes: 4096 });
    await s.transaction("readwrite", (tx) => tx.putChunk(1, 0, new Uint8Array(1024)));
    const err = await s
      .transaction("readwrite", async (tx) => {
        for (let i = 1; i < 5; i++) await tx.putChunk(1, i, new Uint8Array(1024));
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).errno).toBe(Errno.ENOSPC);
    expect(s.debugChunkIndices(1)).toEqual([0]);
    expect((await s.usage()).used).toBe(1024);
    // Freeing space is always allowed, and then growth fits again.
    await s.transaction("readwrite", (tx) => tx.deleteChunksFrom(1, 0));
    await s.transaction("readwrite", (tx) => tx.putChunk(1, 0, new Uint8Array(1024)));
    expect(await s.usage()).toEqual({ used: 1024, quota: 4096 });
  });

  it("keeps its byte count equal to a recount", async () => {
    const s = new MemoryStore();
    await seed(s);
    await s.transaction("readwrite", mutate);
    await s.transaction("readwrite", async (tx) => {
      await tx.putInode(inode(9, { xattrs: [["user.a", new Uint8Array(10)]], target: "abc" }));
      await tx.deleteChunk(2, 5);
    });
    expect(s.debugStats().used).toBe(s.debugRecount());
  });
});
