import { describe, expect, it } from "vitest";
import { CommittedRecords } from "./committed-records.js";
import { entryKey } from "./indexeddb-common.js";
import type { EntryRecord } from "./store.js";

const entry = (dir: number, name: string, ino: number): [string, EntryRecord] => [entryKey(dir, name), { dir, name, ino, cookie: ino, dtype: 8 }];

describe("CommittedRecords: directories known whole", () => {
  it("answers a name missing from a directory read whole as absent, and a commit's new entry as present", () => {
    const r = new CommittedRecords();
    expect(r.entry(entryKey(2, "x"), 2)).toBeUndefined();
    r.rememberDir(2, [entry(2, "a", 10)]);
    expect(r.entry(entryKey(2, "a"), 2)?.ino).toBe(10);
    expect(r.entry(entryKey(2, "x"), 2)).toBeNull();
    // Without the directory, only what is remembered is known (the OPFS store's lookups).
    expect(r.entry(entryKey(2, "x"))).toBeUndefined();
    r.apply(new Map(), new Map(), new Map([entry(2, "x", 11)]));
    expect(r.entry(entryKey(2, "x"), 2)?.ino).toBe(11);
    r.apply(new Map(), new Map(), new Map([[entryKey(2, "a"), null]]));
    expect(r.entry(entryKey(2, "a"), 2)).toBeNull();
  });

  it("stops answering for a directory once one of its entries is evicted, or after clear()", () => {
    const r = new CommittedRecords(20);
    r.rememberDir(2, [entry(2, "a", 10)]);
    r.rememberDir(3, [entry(3, "b", 12)]);
    for (let i = 0; i < 19; i++) r.rememberEntry(entryKey(4, `n${i}`), null);
    // "a" was the oldest: evicted, so directory 2 may now hold names this does not know.
    expect(r.entry(entryKey(2, "a"), 2)).toBeUndefined();
    expect(r.entry(entryKey(2, "zzz"), 2)).toBeUndefined();
    expect(r.entry(entryKey(3, "zzz"), 3)).toBeNull();
    r.clear();
    expect(r.entry(entryKey(3, "zzz"), 3)).toBeUndefined();
  });

  it("does not keep whole a directory too large for a tenth of its bound", () => {
    const r = new CommittedRecords(100);
    r.rememberDir(2, Array.from({ length: 11 }, (_, i) => entry(2, `f${i}`, 10 + i)));
    expect(r.entry(entryKey(2, "zzz"), 2)).toBeUndefined();
  });

  it("keeps at most its bound of directories whole, however many are empty (no entry of theirs to evict)", () => {
    const r = new CommittedRecords(20);
    for (let dir = 1; dir <= 100; dir++) r.rememberDir(dir, []);
    const whole = Array.from({ length: 100 }, (_, i) => i + 1).filter((dir) => r.isComplete(dir));
    expect(whole.length).toBeLessThanOrEqual(20);
    expect(r.isComplete(100)).toBe(true);
  });
});

describe("CommittedRecords: meta values", () => {
  it("keeps at most its bound of meta values (a layered tree writes one per file it changes), least recently used first", () => {
    const r = new CommittedRecords(20);
    r.rememberMeta("nextIno", 7);
    for (let i = 0; i < 100; i++) {
      r.metaValue("nextIno");
      r.apply(new Map(), new Map([[`layer:${i}`, { cut: 0 }]]), new Map());
    }
    expect(r.metaValue("layer:0").has).toBe(false);
    expect(r.metaValue("layer:99")).toEqual({ has: true, value: { cut: 0 } });
    expect(r.metaValue("nextIno")).toEqual({ has: true, value: 7 });
    const kept = Array.from({ length: 100 }, (_, i) => r.metaValue(`layer:${i}`).has).filter(Boolean);
    expect(kept.length).toBeLessThanOrEqual(20);
  });
});
