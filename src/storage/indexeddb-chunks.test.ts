import { describe, expect, it } from "vitest";
import { CommittedChunks, OwnChunks } from "./indexeddb-chunks.js";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

describe("OwnChunks and CommittedChunks", () => {
  it("a writer sees its own puts, deletes and cuts in the order made, and its commit leaves the committed chunks the same way", () => {
    const committed = new CommittedChunks(1 << 20);
    const base = new OwnChunks();
    for (let i = 0; i < 6; i++) base.put(1, i, bytes(4, i));
    committed.apply(base);
    const own = new OwnChunks();
    own.put(1, 5, bytes(4, 50));
    own.cut(1, 3); // drops 3, 4 and the 5 just put
    own.put(1, 4, bytes(4, 40)); // after the cut: kept
    own.put(1, 0, null);
    expect(own.get(1, 5)).toBeNull();
    expect(own.get(1, 4)?.[0]).toBe(40);
    expect(own.get(1, 3)).toBeNull();
    expect(own.get(1, 0)).toBeNull();
    expect(own.get(1, 1)).toBeUndefined(); // not changed: the committed chunk stands
    expect(own.get(2, 0)).toBeUndefined();
    committed.apply(own);
    expect([0, 1, 2, 3, 4, 5].map((i) => committed.get(1, i)?.[0])).toEqual([undefined, 1, 2, undefined, 40, undefined]);
    expect(committed.size).toBe(12);
  });

  it("stays within its bound by evicting whole inodes, least recently used first", () => {
    const c = new CommittedChunks(10);
    c.remember(1, 0, bytes(4, 1));
    c.remember(2, 0, bytes(4, 2));
    c.get(1, 0);
    c.remember(3, 0, bytes(4, 3));
    expect(c.get(2, 0)).toBeUndefined();
    expect(c.get(1, 0)?.[0]).toBe(1);
    expect(c.get(3, 0)?.[0]).toBe(3);
    expect(c.size).toBe(8);
    c.remember(4, 0, bytes(11, 4)); // larger than the bound: not kept
    expect(c.get(4, 0)).toBeUndefined();
    c.clear();
    expect(c.size).toBe(0);
  });
});
