import { abortError } from "../protocol/errno.js";
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

/**
 * A 9P lock length of 0 means "to the end of the file, however far it grows".
 * Ends past 2^53 (OFFSET_MAX-style ranges) are not exact as doubles: treat them
 * as reaching the end too, rather than letting rounding make end ≤ start.
 */
export function lockEnd(start: number, length: number): number {
  if (length === 0) return Infinity;
  const end = start + length;
  return end >= Number.MAX_SAFE_INTEGER ? Infinity : end;
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
  /** Blocked Tlock requests waiting for the locks of an inode to change. */
  private readonly waiters = new Map<number, Set<() => void>>();

  /**
   * Resolves at the next change to `ino`'s locks (an unlock, a release at
   * clunk or disconnect): a blocked F_SETLKW then tries again. Rejects with an
   * AbortError when `signal` aborts (the waiting request was flushed).
   */
  whenChanged(ino: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(abortError());
        return;
      }
      const set = this.waiters.get(ino) ?? new Set<() => void>();
      this.waiters.set(ino, set);
      const wake = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        set.delete(wake);
        if (set.size === 0 && this.waiters.get(ino) === set) this.waiters.delete(ino);
        reject(abortError());
      };
      set.add(wake);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

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
    this.wake(ino);
  }

  held(ino: number): readonly HeldLock[] {
    return this.byIno.get(ino) ?? [];
  }

  private store(ino: number, held: HeldLock[]): void {
    const before = this.byIno.get(ino);
    if (held.length === 0) this.byIno.delete(ino);
    else this.byIno.set(ino, held);
    if (before !== undefined && before !== held) this.wake(ino);
  }

  private wake(ino: number): void {
    const set = this.waiters.get(ino);
    if (!set) return;
    this.waiters.delete(ino);
    for (const w of set) w();
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
