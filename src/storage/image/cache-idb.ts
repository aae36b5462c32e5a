/**
 * The browser's ImageCache: fetched base-image pieces in an IndexedDB
 * database of their own, apart from every user's layer, so that running out
 * of quota evicts base data (refetchable) and never a user's file.
 */
import { openDB, type IDBPDatabase } from "idb";
import type { ImageCache } from "./cache.js";
import { isQuotaError } from "../../protocol/errno.js";

const STORE = "pieces";
const BY_AGE = "at";

interface Entry {
  data: Uint8Array;
  /** Insertion order: the oldest go first when the quota is reached. */
  at: number;
}

/**
 * Chromium sometimes refuses a large put past the quota with UnknownError instead of
 * QuotaExceededError. For a cache, taking that as "full" is harmless (it evicts and retries,
 * or keeps nothing); the user's stores map only the real quota error to ENOSPC.
 */
function cacheIsFull(e: unknown): boolean {
  return isQuotaError(e) || (e instanceof DOMException && e.name === "UnknownError");
}

/**
 * Room the cache leaves the user's layer: a fifth of the quota, at least
 * 64 MiB. Past `quota - reserve` in use, the cache evicts down to
 * `quota - 2 * reserve`; under a small quota it keeps nothing.
 */
function reserveOf(quota: number): number {
  return Math.max(quota * 0.2, 64 << 20);
}
/** Ask the browser for its estimate after this many bytes put. */
const CHECK_EVERY = 1 << 20;

export class IdbImageCache implements ImageCache {
  private clock = Date.now();
  private sinceCheck = 0;
  /** The last check found the cache eating into the user's reserve. */
  private tight = false;
  /** The user's layer hit the quota (makeRoom): keep nothing more this session. */
  private yielded = false;

  private constructor(private readonly db: IDBPDatabase) {}

  static async open(name = "worker9p-image-cache"): Promise<IdbImageCache> {
    const db = await openDB(name, 1, {
      upgrade(d) {
        d.createObjectStore(STORE).createIndex(BY_AGE, "at");
      },
    });
    return new IdbImageCache(db);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return ((await this.db.get(STORE, key)) as Entry | undefined)?.data;
    } catch {
      return undefined;
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    if (this.yielded) return;
    this.sinceCheck += data.length;
    if (this.sinceCheck >= CHECK_EVERY || this.tight) {
      this.sinceCheck = 0;
      // Over the reserve even after evicting: keep nothing more for now.
      this.tight = !(await this.keepRoom());
      if (this.tight) return;
    }
    const entry: Entry = { data, at: this.clock++ };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await this.db.put(STORE, entry, key);
        return;
      } catch (e) {
        if (!cacheIsFull(e)) return;
        // Only a cache: make room by dropping the oldest pieces, then try again.
        if ((await this.evict(Math.max(data.length * 8, 8 << 20))) === 0) return;
      }
    }
  }

  /** Leave room in the origin's quota to the user's layer (reserveOf). Returns false when there is none to give. */
  private async keepRoom(): Promise<boolean> {
    try {
      const { usage, quota } = await navigator.storage.estimate();
      if (usage === undefined || quota === undefined) return true;
      const reserve = reserveOf(quota);
      if (usage <= quota - reserve) return true;
      await this.evict(usage - Math.max(0, quota - 2 * reserve));
      return false;
    } catch {
      return true; // No estimate: the quota error path still evicts.
    }
  }

  /**
   * Give the user's layer room (C1 in layered-store.ts). From now on nothing more is kept: the
   * browser's usage estimate lags behind the writes, so a cache that kept filling would take the
   * room back before the user's retry. Pieces still come from memory or the network.
   */
  async makeRoom(bytes: number): Promise<number> {
    this.yielded = true;
    return this.evict(bytes);
  }

  /** Delete the oldest entries until about `bytes` are freed; returns how many were freed. */
  async evict(bytes: number): Promise<number> {
    let freed = 0;
    try {
      const tx = this.db.transaction(STORE, "readwrite");
      for (let c = await tx.store.index(BY_AGE).openCursor(); c && freed < bytes; c = await c.continue()) {
        freed += (c.value as Entry).data.length;
        await c.delete();
      }
      await tx.done;
    } catch {
      return 0;
    }
    return freed;
  }

  async keys(): Promise<string[]> {
    try {
      return (await this.db.getAllKeys(STORE)).map(String);
    } catch {
      return [];
    }
  }

  async clear(): Promise<void> {
    await this.db.clear(STORE);
  }

  close(): void {
    this.db.close();
  }
}
