/**
 * Where fetched base-image bytes are kept so a second boot fetches nothing.
 * It is only a cache: a put may fail or evict older entries (quota), a get may
 * miss; nothing the user wrote ever lives here (that is the user's layer).
 * Keys are content hashes (hex), values the bytes as fetched, so an entry
 * never goes stale.
 */
export interface ImageCache {
  get(key: string, signal?: AbortSignal): Promise<Uint8Array | undefined>;
  /** Keep `data` under `key`; never rejects (a full cache just keeps less). */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Every key held (read once at open, so lookups of what is absent cost nothing). */
  keys(): Promise<string[]>;
  /** Drop everything (base data only). */
  clear(): Promise<void>;
  /**
   * The user's layer ran out of space in the quota this cache shares with it (C1 in
   * layered-store.ts): drop about `bytes` of the oldest entries and keep nothing new for the
   * rest of the session. Returns the bytes freed (0: nothing left to give). Absent on caches
   * that do not share the user's quota.
   */
  makeRoom?(bytes: number): Promise<number>;
}

/** An in-memory cache of at most `maxBytes`, least recently used first out. */
export class MemoryImageCache implements ImageCache {
  private readonly entries = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly maxBytes = 256 * 1024 * 1024) {}

  async get(key: string): Promise<Uint8Array | undefined> {
    const v = this.entries.get(key);
    if (v) {
      this.entries.delete(key);
      this.entries.set(key, v);
    }
    return v;
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    if (this.entries.has(key) || data.length > this.maxBytes) return;
    this.entries.set(key, data);
    this.bytes += data.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.length;
    }
  }

  async keys(): Promise<string[]> {
    return [...this.entries.keys()];
  }

  async clear(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
  }
}
