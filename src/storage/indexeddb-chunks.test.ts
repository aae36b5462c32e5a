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

  it("a commit that writes a chunk too large to keep drops the bytes it replaces, so they are not read back", () => {
    const c = new CommittedChunks(64);
    c.remember(1, 0, bytes(10, 1)); // a small file's tail, kept
    const own = new OwnChunks();
    own.put(1, 0, bytes(100, 2)); // the write that fills the chunk: more than the bound
    c.apply(own);
    // Not kept, and not the old 10 bytes either: the reader asks IndexedDB.
    expect(c.get(1, 0)).toBeUndefined();
    expect(c.size).toBe(0);
  });

  it("keeps nothing for a file whose chunks were all dropped (a file written, then deleted, thousands of times)", () => {
    const c = new CommittedChunks(1 << 20);
    for (let ino = 1; ino <= 1000; ino++) {
      const write = new OwnChunks();
      write.put(ino, 0, bytes(8, 1));
      write.put(ino, 1, bytes(8, 1));
      c.apply(write);
      const unlink = new OwnChunks();
      if (ino % 2) unlink.cut(ino, 0);
      else {
        unlink.put(ino, 0, null);
        unlink.put(ino, 1, null);
      }
      c.apply(unlink);
    }
    expect(c.size).toBe(0);
    expect(c.files).toBe(0);
  });
});
