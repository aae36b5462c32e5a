import { describe, expect, it } from "vitest";
import { newInode } from "./attr.js";
import { InodeCache } from "./inode-cache.js";

const t = { sec: 0, nsec: 0 };
const rec = (ino: number, size = 0) => ({ ...newInode(ino, 0o100644, 0, 0, t), size });

describe("InodeCache", () => {
  it("drops what a read saw if a commit happened while it ran", () => {
    const c = new InodeCache();
    const epoch = c.epoch;
    c.committed([[5, rec(5, 100)]]);
    c.remember(rec(5, 0), epoch);
    expect(c.get(5)?.size).toBe(100);
  });

  it("forgets deleted inodes and keeps at most its limit, least recently used out first", () => {
    const c = new InodeCache(2);
    c.remember(rec(1), c.epoch);
    c.remember(rec(2), c.epoch);
    c.get(1);
    c.remember(rec(3), c.epoch);
    expect(c.get(2)).toBeUndefined();
    expect(c.get(1)).toBeDefined();
    c.committed([[1, undefined]]);
    expect(c.get(1)).toBeUndefined();
    expect(c.size).toBe(1);
  });
});
