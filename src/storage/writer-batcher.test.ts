import { describe, expect, it } from "vitest";
import { abortError, isAbortError } from "../protocol/errno.js";
import type { TxOptions } from "./store.js";
import { WriterBatcher } from "./writer-batcher.js";

/** A transaction over a Map, all or nothing, as IndexedDB gives: writes land only if it commits. */
class MapTx {
  writes = 0;
  readonly own = new Map<string, number>();
  constructor(private readonly committed: Map<string, number>) {}
  async get(k: string): Promise<number> {
    await Promise.resolve();
    return this.own.get(k) ?? this.committed.get(k) ?? 0;
  }
  async put(k: string, v: number): Promise<void> {
    await Promise.resolve();
    this.writes++;
    this.own.set(k, v);
  }
}

function mapStore() {
  const committed = new Map<string, number>();
  let transactions = 0;
  const run = async (body: (x: MapTx) => Promise<void>, options: TxOptions): Promise<void> => {
    transactions++;
    const x = new MapTx(committed);
    const aborted = new Promise<never>((_, reject) => {
      if (options.signal?.aborted) reject(abortError());
      options.signal?.addEventListener("abort", () => reject(abortError()), { once: true });
    });
    await Promise.race([body(x), aborted]);
    // A commit round trip, during which more writers queue.
    await new Promise((r) => setTimeout(r, 2));
    if (options.signal?.aborted) throw abortError();
    for (const [k, v] of x.own) committed.set(k, v);
  };
  return { committed, run, transactions: () => transactions };
}

describe("WriterBatcher", () => {
  it("with yieldFirst, writers submitted in separate tasks before the batch starts share one transaction", async () => {
    const s = mapStore();
    const order: string[] = [];
    const b = new WriterBatcher<MapTx>(s.run, (run) => {
      order.push("yield");
      setTimeout(run, 0);
    });
    const add = (k: string) => b.run(async (x) => x.put(k, 1));
    // Three requests that arrive in tasks of their own, queued before the first one's batch starts.
    const later = [1, 2].map((i) => new Promise<void>((r) => setTimeout(() => r(add(`k${i}`)), 0)));
    const first = add("k0");
    await Promise.all([first, ...later]);
    expect(order).toEqual(["yield"]);
    expect(s.transactions()).toBe(1);
    expect([...s.committed.keys()].sort()).toEqual(["k0", "k1", "k2"]);
    // Writers submitted in one task share one yield and one batch.
    await Promise.all([add("k3"), add("k4")]);
    expect(order).toEqual(["yield", "yield"]);
    expect(s.transactions()).toBe(2);
  });

  it("with yieldFirst, a lone writer at a time stops paying the yield after UNPAID_YIELDS such yields, until one in YIELD_PROBE batches", async () => {
    const s = mapStore();
    let yields = 0;
    const b = new WriterBatcher<MapTx>(s.run, (run) => {
      yields++;
      setTimeout(run, 0);
    });
    // One request in flight at a time, as a guest's cache=none tar issues them.
    // (Each next one comes in a task of its own, after the reply, as from a port or a socket.)
    for (let i = 0; i < 64; i++) {
      await b.run(async (x) => x.put(`k${i}`, 1));
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(s.committed.size).toBe(64);
    // The first 4 yields found no one else; then one probe per YIELD_PROBE (32) batches: at batch 36.
    expect(yields).toBe(5);
  });

  it("with yieldFirst, a pipelining client whose yields now and then find a lone writer keeps sharing transactions", async () => {
    const s = mapStore();
    const b = new WriterBatcher<MapTx>(s.run, (run) => setTimeout(run, 0));
    const add = (k: string) => b.run(async (x) => x.put(k, 1));
    // Requests from a port arrive unevenly: mostly two writers queued before a batch starts, in
    // tasks of their own, but every fourth batch finds one alone.
    const rounds = 32;
    for (let r = 0; r < rounds; r++) {
      // Each round's requests come in tasks of their own, after the replies to the last.
      await new Promise((done) => setTimeout(done, 0));
      if (r % 4 === 3) {
        await add(`lone${r}`);
        continue;
      }
      const second = new Promise<void>((done) => setTimeout(() => done(add(`b${r}`)), 0));
      await Promise.all([add(`a${r}`), second]);
    }
    expect(s.committed.size).toBe(rounds + (rounds * 3) / 4);
    // One transaction per round: a lone writer now and then does not stop the yields that batch the rest.
    expect(s.transactions()).toBe(rounds);
  });

  it("commits writers that queued meanwhile together, each seeing the ones before it", async () => {
    const s = mapStore();
    const b = new WriterBatcher<MapTx>(s.run);
    const all = Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        b.run(async (x) => {
          const n = await x.get("counter");
          await x.put("counter", n + 1);
          return i;
        }),
      ),
    );
    const results = await all;
    expect(results).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(s.committed.get("counter")).toBe(40);
    expect(s.transactions()).toBeLessThan(10);
  });

  it("a writer that fails after writing, or is aborted before the commit, leaves no trace; the others commit", async () => {
    const s = mapStore();
    const b = new WriterBatcher<MapTx>(s.run);
    const acs = Array.from({ length: 30 }, () => new AbortController());
    const outcomes = await Promise.allSettled(
      acs.map((ac, i) =>
        b.run(
          async (x) => {
            await x.put(`w${i}`, 1);
            await x.put("sum", (await x.get("sum")) + i);
            if (i % 7 === 3) throw new Error(`fails ${i}`);
            if (i % 7 === 5) ac.abort();
            return i;
          },
          { signal: ac.signal },
        ),
      ),
    );
    let sum = 0;
    outcomes.forEach((o, i) => {
      if (i % 7 === 3) {
        expect(o.status).toBe("rejected");
        expect(((o as PromiseRejectedResult).reason as Error).message).toBe(`fails ${i}`);
        expect(s.committed.has(`w${i}`)).toBe(false);
      } else if (i % 7 === 5) {
        expect(o.status).toBe("rejected");
        expect(isAbortError((o as PromiseRejectedResult).reason)).toBe(true);
        expect(s.committed.has(`w${i}`)).toBe(false);
      } else {
        expect(o).toEqual({ status: "fulfilled", value: i });
        expect(s.committed.get(`w${i}`)).toBe(1);
        sum += i;
      }
    });
    expect(s.committed.get("sum")).toBe(sum);
  });

  it("a writer that fails before writing gets its error without undoing the batch", async () => {
    const s = mapStore();
    const b = new WriterBatcher<MapTx>(s.run);
    const first = b.run(async (x) => x.put("a", 1));
    const p = Promise.allSettled([
      b.run(async (x) => x.put("b", 1)),
      b.run(async () => {
        throw new Error("EEXIST");
      }),
      b.run(async (x) => x.put("c", 1)),
    ]);
    await first;
    const [ok1, failed, ok2] = await p;
    expect(ok1.status).toBe("fulfilled");
    expect(failed.status).toBe("rejected");
    expect(ok2.status).toBe("fulfilled");
    // One transaction for "a", one for the three queued behind it: no redo.
    expect(s.transactions()).toBe(2);
  });

  it("a commit that fails runs each writer of the batch alone, so the error reaches the one that caused it", async () => {
    const committed = new Map<string, number>();
    const run = async (body: (x: MapTx) => Promise<void>): Promise<void> => {
      const x = new MapTx(committed);
      await body(x);
      await new Promise((r) => setTimeout(r, 2));
      if (x.own.has("huge")) throw new Error("ENOSPC");
      for (const [k, v] of x.own) committed.set(k, v);
    };
    const b = new WriterBatcher<MapTx>(run);
    const first = b.run(async (x) => x.put("a", 1));
    const rest = Promise.allSettled([b.run(async (x) => x.put("b", 1)), b.run(async (x) => x.put("huge", 1)), b.run(async (x) => x.put("c", 1))]);
    await first;
    const [b1, huge, c1] = await rest;
    expect([b1.status, huge.status, c1.status]).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect([...committed.keys()].sort()).toEqual(["a", "b", "c"]);
  });

  it("a writer aborted while it waits leaves the queue at once", async () => {
    const s = mapStore();
    const b = new WriterBatcher<MapTx>(s.run);
    const first = b.run(async (x) => x.put("a", 1));
    const ac = new AbortController();
    const waiting = b.run(async (x) => x.put("b", 1), { signal: ac.signal });
    ac.abort();
    await expect(waiting).rejects.toSatisfy(isAbortError);
    await first;
    expect(s.committed.has("b")).toBe(false);
  });
});
