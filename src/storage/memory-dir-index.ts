import type { EntryRecord } from "./store.js";

/** Index of the first element of the sorted array `a` greater than `x`. */
export function upperBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first element of the sorted array `a` not less than `x`. */
function lowerBound(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Below this many tombstones compaction is not worth a pass over the array. */
const MIN_DEAD_TO_COMPACT = 64;

/**
 * One directory's entries: by name for lookups, by cookie for readdir pages.
 *
 * Cookies are handed out in increasing order, so `cookies` stays sorted by
 * appending; a readdir page is a binary search plus a short scan. Removing an
 * entry only deletes it from `byCookie` and leaves a tombstone in `cookies`
 * (splicing a 10k array on every unlink of `rm -r` would be quadratic); the
 * array is compacted once tombstones outnumber live entries.
 */
export class DirIndex {
  readonly byName = new Map<string, EntryRecord>();
  private readonly byCookie = new Map<number, EntryRecord>();
  private cookies: number[] = [];
  private dead = 0;

  get size(): number {
    return this.byName.size;
  }

  /** Add or replace the entry named `e.name`. Cookies are unique per directory (the Store contract), so an entry holding the same cookie under another name is dropped. */
  put(e: EntryRecord): void {
    const old = this.byName.get(e.name);
    if (old) this.dropCookie(old.cookie);
    const clash = this.byCookie.get(e.cookie);
    if (clash) {
      this.byName.delete(clash.name);
      this.dropCookie(clash.cookie);
    }
    this.byName.set(e.name, e);
    this.addCookie(e.cookie, e);
  }

  delete(name: string): EntryRecord | undefined {
    const old = this.byName.get(name);
    if (!old) return undefined;
    this.byName.delete(name);
    this.dropCookie(old.cookie);
    return old;
  }

  /** Entries with cookie > after, in cookie order, at most `limit`. */
  list(after: number, limit: number): EntryRecord[] {
    const out: EntryRecord[] = [];
    const cs = this.cookies;
    for (let i = upperBound(cs, after); i < cs.length && out.length < limit; i++) {
      const e = this.byCookie.get(cs[i]!);
      if (e) out.push(e);
    }
    return out;
  }

  /** Visit entries with cookie > after in cookie order until `visit` returns false. */
  scan(after: number, visit: (e: EntryRecord) => boolean): void {
    const cs = this.cookies;
    for (let i = upperBound(cs, after); i < cs.length; i++) {
      const e = this.byCookie.get(cs[i]!);
      if (e && !visit(e)) return;
    }
  }

  private addCookie(cookie: number, e: EntryRecord): void {
    this.byCookie.set(cookie, e);
    const cs = this.cookies;
    const n = cs.length;
    if (n === 0 || cookie > cs[n - 1]!) {
      cs.push(cookie);
      return;
    }
    const i = lowerBound(cs, cookie);
    if (cs[i] === cookie) {
      this.dead--; // a tombstone comes back to life
      return;
    }
    cs.splice(i, 0, cookie);
  }

  private dropCookie(cookie: number): void {
    if (!this.byCookie.delete(cookie)) return;
    this.dead++;
    if (this.dead >= MIN_DEAD_TO_COMPACT && this.dead * 2 > this.cookies.length) this.compact();
  }

  private compact(): void {
    this.cookies = this.cookies.filter((c) => this.byCookie.has(c));
    this.dead = 0;
  }
}
