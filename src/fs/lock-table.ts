import { LockStatus, LockType } from "../protocol/constants.js";
import type { LockOwner } from "./types.js";

/** One held POSIX lock: [start, end), end Infinity for "to end of file". */
export interface HeldLock {
  type: number;
  start: number;
  end: number;
  owner: LockOwner;
}

export function sameOwner(a: LockOwner, b: LockOwner): boolean {
  return a.session === b.session && a.procId === b.procId && a.clientId === b.clientId;
}

/** A 9P lock length of 0 means "to the end of the file, however far it grows". */
export function lockEnd(start: number, length: number): number {
  return length === 0 ? Infinity : start + length;
}

function conflicts(l: HeldLock, owner: LockOwner, type: number, start: number, end: number): boolean {
  if (l.start >= end || l.end <= start) return false;
  if (l.type !== LockType.WRLCK && type !== LockType.WRLCK) return false;
  return !sameOwner(l.owner, owner);
}

/**
 * The POSIX (fcntl) byte-range locks of every inode, in memory: locks die
 * with the server, as on any file server restart. Per inode the list is kept
 * sorted by start so "the first conflicting lock" is the lowest one.
 */
export class LockTable {
  private readonly byIno = new Map<number, HeldLock[]>();

  /** F_SETLK: apply `type` (RDLCK, WRLCK or UNLCK) over the range for `owner`; BLOCKED if another owner's lock is in the way. */
  lock(ino: number, owner: LockOwner, type: number, start: number, length: number): number {
    if (type !== LockType.RDLCK && type !== LockType.WRLCK && type !== LockType.UNLCK) return LockStatus.ERROR;
    const end = lockEnd(start, length);
    if (end <= start) return LockStatus.ERROR;
    const held = this.byIno.get(ino) ?? [];
    if (type !== LockType.UNLCK && held.some((l) => conflicts(l, owner, type, start, end))) return LockStatus.BLOCKED;
    this.store(ino, replaceRange(held, owner, type, start, end));
    return LockStatus.SUCCESS;
  }

  /** F_GETLK: the lowest lock of another owner that would block `type` over the range. */
  conflict(ino: number, owner: LockOwner, type: number, start: number, length: number): HeldLock | undefined {
    if (type === LockType.UNLCK) return undefined;
    const end = lockEnd(start, length);
    return this.byIno.get(ino)?.find((l) => conflicts(l, owner, type, start, end));
  }

  /** Every lock `owner` holds on `ino`, or on every inode when `ino` is undefined (close(2) drops them all). */
  releaseOwner(owner: LockOwner, ino?: number): void {
    if (ino !== undefined) {
      const held = this.byIno.get(ino);
      if (held) this.store(ino, held.filter((l) => !sameOwner(l.owner, owner)));
      return;
    }
    for (const [i, held] of this.byIno) this.store(i, held.filter((l) => !sameOwner(l.owner, owner)));
  }

  releaseSession(session: number): void {
    for (const [i, held] of this.byIno) this.store(i, held.filter((l) => l.owner.session !== session));
  }

  /** The inode is gone: its locks are meaningless. */
  dropInode(ino: number): void {
    this.byIno.delete(ino);
  }

  held(ino: number): readonly HeldLock[] {
    return this.byIno.get(ino) ?? [];
  }

  private store(ino: number, held: HeldLock[]): void {
    if (held.length === 0) this.byIno.delete(ino);
    else this.byIno.set(ino, held);
  }
}

/**
 * `owner`'s locks with [start, end) set to `type` (or cleared for UNLCK):
 * the owner's overlapping ranges are cut around the new one, which then merges
 * with the owner's adjacent ranges of the same type, as POSIX locks coalesce.
 */
function replaceRange(held: HeldLock[], owner: LockOwner, type: number, start: number, end: number): HeldLock[] {
  const out: HeldLock[] = [];
  for (const l of held) {
    if (!sameOwner(l.owner, owner) || l.end <= start || l.start >= end) {
      out.push(l);
      continue;
    }
    if (l.start < start) out.push({ ...l, end: start });
    if (l.end > end) out.push({ ...l, start: end });
  }
  const byStart = (a: HeldLock, b: HeldLock): number => a.start - b.start;
  if (type === LockType.UNLCK) return out.sort(byStart);
  const merged: HeldLock = { type, start, end, owner: { ...owner } };
  const kept = out.filter((l) => {
    if (!sameOwner(l.owner, owner) || l.type !== type) return true;
    if (l.end === merged.start) merged.start = l.start;
    else if (l.start === merged.end) merged.end = l.end;
    else return true;
    return false;
  });
  kept.push(merged);
  return kept.sort(byStart);
}
