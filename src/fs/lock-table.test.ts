import { describe, expect, it } from "vitest";
import { LockStatus, LockType } from "../protocol/constants.js";
import { MemoryStore } from "../storage/memory.js";
import { FileSystem } from "./filesystem.js";
import { LockTable } from "./lock-table.js";
import type { LockOwner } from "./types.js";

const { RDLCK, WRLCK, UNLCK } = LockType;
const A: LockOwner = { session: 1, clientId: "host", procId: 10 };
const B: LockOwner = { session: 1, clientId: "host", procId: 20 };
const A2: LockOwner = { session: 2, clientId: "host", procId: 10 }; // same pid, other session: another owner

function ranges(t: LockTable, ino = 5): [number, number, number][] {
  return t.held(ino).map((l) => [l.type, l.start, l.end]);
}

describe("LockTable", () => {
  it("shares read locks and excludes write locks across owners", () => {
    const t = new LockTable();
    expect(t.lock(5, A, RDLCK, 0, 10)).toBe(LockStatus.SUCCESS);
    expect(t.lock(5, B, RDLCK, 5, 10)).toBe(LockStatus.SUCCESS);
    expect(t.lock(5, B, WRLCK, 0, 1)).toBe(LockStatus.BLOCKED);
    expect(t.lock(5, A2, WRLCK, 9, 1)).toBe(LockStatus.BLOCKED);
    expect(t.lock(5, A2, WRLCK, 15, 1)).toBe(LockStatus.SUCCESS);
    expect(t.lock(6, B, WRLCK, 0, 0)).toBe(LockStatus.SUCCESS); // other inode
  });

  it("never conflicts with the same owner; upgrading a middle range splits", () => {
    const t = new LockTable();
    t.lock(5, A, RDLCK, 0, 100);
    expect(t.lock(5, A, WRLCK, 40, 20)).toBe(LockStatus.SUCCESS);
    expect(ranges(t)).toEqual([[RDLCK, 0, 40], [WRLCK, 40, 60], [RDLCK, 60, 100]]);
    // Downgrade back merges into one range.
    t.lock(5, A, RDLCK, 40, 20);
    expect(ranges(t)).toEqual([[RDLCK, 0, 100]]);
  });

  it("unlocking a middle range splits; unlocking everything empties", () => {
    const t = new LockTable();
    t.lock(5, A, WRLCK, 0, 0);
    t.lock(5, A, UNLCK, 10, 5);
    expect(ranges(t)).toEqual([[WRLCK, 0, 10], [WRLCK, 15, Infinity]]);
    expect(t.lock(5, B, WRLCK, 10, 5)).toBe(LockStatus.SUCCESS);
    t.lock(5, A, UNLCK, 0, 0);
    expect(ranges(t)).toEqual([[WRLCK, 10, 15]]);
  });

  it("merges adjacent and overlapping ranges of one owner and type", () => {
    const t = new LockTable();
    t.lock(5, A, RDLCK, 0, 10);
    t.lock(5, A, RDLCK, 20, 10);
    t.lock(5, A, RDLCK, 10, 10);
    expect(ranges(t)).toEqual([[RDLCK, 0, 30]]);
    t.lock(5, A, RDLCK, 25, 10);
    expect(ranges(t)).toEqual([[RDLCK, 0, 35]]);
  });

  it("a length of 0 reaches to infinity", () => {
    const t = new LockTable();
    t.lock(5, A, WRLCK, 100, 0);
    expect(t.lock(5, B, RDLCK, 2 ** 50, 1)).toBe(LockStatus.BLOCKED);
    expect(t.lock(5, B, RDLCK, 0, 100)).toBe(LockStatus.SUCCESS);
  });

  it("reports the lowest conflicting lock", () => {
    const t = new LockTable();
    t.lock(5, A, RDLCK, 50, 10);
    t.lock(5, B, WRLCK, 20, 5);
    expect(t.conflict(5, A2, WRLCK, 0, 0)).toMatchObject({ type: WRLCK, start: 20, end: 25, owner: B });
    expect(t.conflict(5, A2, RDLCK, 40, 0)).toBeUndefined();
    expect(t.conflict(5, A, RDLCK, 50, 1)).toBeUndefined();
  });

  it("releases by owner, by owner and inode, and by session", () => {
    const t = new LockTable();
    t.lock(5, A, RDLCK, 0, 1);
    t.lock(6, A, RDLCK, 0, 1);
    t.lock(5, B, RDLCK, 5, 1);
    t.lock(5, A2, RDLCK, 9, 1);
    t.releaseOwner(A, 6);
    expect(t.held(6)).toEqual([]);
    expect(t.held(5)).toHaveLength(3);
    t.lock(6, A, RDLCK, 0, 1);
    t.releaseOwner(A);
    expect([t.held(5).length, t.held(6).length]).toEqual([2, 0]);
    t.releaseSession(1);
    expect(t.held(5).map((l) => l.owner)).toEqual([A2]);
  });

  it("rejects bad lock types and empty ranges", () => {
    const t = new LockTable();
    expect(t.lock(5, A, 7, 0, 1)).toBe(LockStatus.ERROR);
  });
});

describe("FileSystem locks", () => {
  it("getlock returns the holder, or the request with UNLCK", async () => {
    const fs = await FileSystem.open(new MemoryStore());
    const req = { type: WRLCK, flags: 0, start: 0, length: 10, procId: 10, clientId: "host" };
    expect(fs.lock(7, A, req)).toBe(LockStatus.SUCCESS);
    expect(fs.lock(7, B, { ...req, procId: 20 })).toBe(LockStatus.BLOCKED);
    const probe = { type: RDLCK, start: 5, length: 0, procId: 20, clientId: "host" };
    expect(fs.getlock(7, B, probe)).toEqual({ type: WRLCK, start: 0, length: 10, procId: 10, clientId: "host" });
    expect(fs.getlock(7, A, { ...probe, procId: 10 })).toEqual({ ...probe, procId: 10, type: UNLCK });
    fs.releaseLocks(A, 7);
    expect(fs.getlock(7, B, probe).type).toBe(UNLCK);
    fs.lock(7, A, { ...req, length: 0 });
    expect(fs.getlock(7, B, probe)).toMatchObject({ type: WRLCK, start: 0, length: 0 });
    fs.releaseSessionLocks(1);
    expect(fs.lock(7, B, { ...req, procId: 20 })).toBe(LockStatus.SUCCESS);
  });
});
