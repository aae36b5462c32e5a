/**
 * BaseImage: a base image (FORMAT.md) opened from a URL, its index in memory,
 * its pieces fetched lazily by HTTP Range requests, checked against their
 * SHA-256 and kept in an ImageCache. Browser and Node (fetch + crypto.subtle).
 */
import { abortError, delay, Errno, FsError } from "../../protocol/errno.js";
import { MemoryImageCache, type ImageCache } from "./cache.js";
import { checkManifest, decodeIndex, hex, ImageFormatError, MANIFEST_FILE, PIECE_PROFILE, type ImageIndex, type ImageManifest, type ImagePiece } from "./format.js";
import { decodePiece, PieceIntegrityError } from "./piece.js";

export interface BaseImageOptions {
  /** Persistent cache of fetched bytes (default: memory only). */
  cache?: ImageCache;
  fetch?: typeof fetch;
  /** Tries per request before the read fails with EIO (default 3). */
  attempts?: number;
  /** Pause before each retry, ms (default [200, 1000]). */
  retryDelaysMs?: number[];
  /** A request that has not completed by then counts as failed (default 30 s): never a hang. */
  requestTimeoutMs?: number;
  /** Largest run of boot-profile pieces fetched in one request (default 4 MiB). */
  profileRunBytes?: number;
  /**
   * Outside the boot profile, a request fetches the pieces one read needs (adjacent ones of the
   * same file, `along` in piece()), up to this many bytes (default 512 KiB).
   */
  runBytes?: number;
  /** Where integrity failures are reported (default console.error). */
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export interface BaseImageStats {
  /** HTTP requests made for pieces (retries included). */
  requests: number;
  /** Bytes received for pieces. */
  fetchedBytes: number;
  /** Pieces taken from the persistent cache. */
  cacheHits: number;
  /** Requests aborted because every read waiting on them was (a Tflush reaching fetch()). */
  abortedFetches: number;
}

/** Raw bytes of a piece, or why it cannot be had. */
type PieceResult = Uint8Array | Error;

interface Run {
  controller: AbortController;
  waiters: number;
  done: Promise<Map<number, PieceResult>>;
}

const RAW_MEMORY_BYTES = 64 * 1024 * 1024;

async function sha256Hex(data: Uint8Array): Promise<string> {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>)));
}

/** The cache key of the last manifest seen at `url` (FNV-1a of the URL: one cache serves several images). */
function manifestKey(url: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 0x01000193) >>> 0;
  return `manifest-${h.toString(16)}`;
}

export class BaseImage {
  readonly stats: BaseImageStats = { requests: 0, fetchedBytes: 0, cacheHits: 0, abortedFetches: 0 };
  /** The index's SHA-256: which image this is. */
  readonly id: string;
  /** The index file as fetched (a user's layer keeps a copy, to know its base after the base changed). */
  indexBytes: Uint8Array = new Uint8Array();
  private byHash: Map<string, number> | undefined;
  private cached: Set<string>;
  private readonly raw = new Map<number, Uint8Array>();
  private rawBytes = 0;
  private readonly inflight = new Map<number, Run>();
  private readonly pendingPuts = new Set<Promise<void>>();
  /** Piece ids in pack order, and each piece's position in it. */
  private readonly packOrder: number[];
  private readonly rank: Int32Array;
  /** The first inode holding each piece: outside the profile a run stays within one file. */
  private readonly owner: Int32Array;

  private constructor(
    readonly url: string,
    readonly manifest: ImageManifest,
    readonly index: ImageIndex,
    private readonly cache: ImageCache,
    cachedKeys: string[],
    private readonly options: BaseImageOptions,
  ) {
    this.id = manifest.index.sha256;
    this.cached = new Set(cachedKeys);
    const ps = index.pieces;
    this.packOrder = ps.map((_, i) => i).sort((a, b) => ps[a]!.pack - ps[b]!.pack || ps[a]!.offset - ps[b]!.offset);
    this.rank = new Int32Array(ps.length);
    this.packOrder.forEach((id, r) => (this.rank[id] = r));
    this.owner = new Int32Array(ps.length);
    for (const node of index.inodes) for (const id of node.pieces ?? []) if (id >= 0 && this.owner[id] === 0) this.owner[id] = node.ino;
  }

  /** Open the image at `url` (a folder holding image.json). Offline, the cached manifest and index are used. */
  static async open(url: string, options: BaseImageOptions = {}): Promise<BaseImage> {
    const base = url.endsWith("/") ? url : url + "/";
    const cache = options.cache ?? new MemoryImageCache();
    const doFetch = options.fetch ?? fetch;
    const where = new URL(MANIFEST_FILE, base).href;
    let manifestBytes: Uint8Array | undefined;
    try {
      const res = await doFetch(where, { cache: "no-cache", ...(options.signal ? { signal: options.signal } : {}) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      manifestBytes = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      if (options.signal?.aborted) throw abortError();
      manifestBytes = await cache.get(manifestKey(base));
      if (!manifestBytes) throw new Error(`base image: cannot fetch ${where} (${(e as Error).message}) and none is cached`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(manifestBytes));
    } catch {
      throw new ImageFormatError(`${where} is not JSON`);
    }
    const manifest = checkManifest(parsed, where);
    const indexKey = `index-${manifest.index.sha256}`;
    let indexBytes = await cache.get(indexKey);
    if (!indexBytes || (await sha256Hex(indexBytes)) !== manifest.index.sha256) {
      const indexUrl = new URL(manifest.index.file, base).href;
      const res = await doFetch(indexUrl, options.signal ? { signal: options.signal } : {});
      if (!res.ok) throw new Error(`base image: ${indexUrl}: HTTP ${res.status}`);
      indexBytes = new Uint8Array(await res.arrayBuffer());
      if ((await sha256Hex(indexBytes)) !== manifest.index.sha256) throw new ImageFormatError(`base image: ${indexUrl} does not match its SHA-256`);
      await cache.put(indexKey, indexBytes);
    }
    await cache.put(manifestKey(base), manifestBytes);
    const index = decodeIndex(indexBytes);
    const image = new BaseImage(base, manifest, index, cache, await cache.keys(), options);
    image.indexBytes = indexBytes;
    return image;
  }

  /**
   * The raw bytes of piece `id`, verified. Rejects with FsError(EIO) when it cannot be had,
   * AbortError when `signal` fires. `along`: the other pieces the same read needs; outside the
   * boot profile a fetch takes those adjacent to `id` with it, and nothing beyond them.
   */
  async piece(id: number, signal?: AbortSignal, along?: ReadonlySet<number>): Promise<Uint8Array> {
    const mem = this.raw.get(id);
    if (mem) return mem;
    const key = hex(this.index.pieces[id]!.sha256);
    if (this.cached.has(key)) {
      const stored = await this.cache.get(key, signal);
      if (stored) {
        try {
          const raw = await decodePiece(stored, this.index.pieces[id]!);
          this.stats.cacheHits++;
          this.remember(id, raw);
          return raw;
        } catch {
          // A damaged cache entry: fetch the piece again.
        }
      }
      this.cached.delete(key);
    }
    const run = this.inflight.get(id) ?? this.startRun(id, along);
    const result = (await this.wait(run, signal)).get(id);
    if (result instanceof Error) throw result;
    if (!result) throw new FsError(Errno.EIO, `base image piece ${id} missing from its run`);
    return result;
  }

  /**
   * The raw bytes of a piece of another (earlier) image, by its hash: from
   * the cache, or from this image when it holds the same piece. undefined
   * when neither has it.
   */
  async pieceOf(piece: ImagePiece, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    const key = hex(piece.sha256);
    const stored = await this.cache.get(key, signal);
    if (stored) {
      try {
        return await decodePiece(stored, piece);
      } catch {
        // fall through to this image's copy
      }
    }
    if (!this.byHash) this.byHash = new Map(this.index.pieces.map((p, i) => [hex(p.sha256), i]));
    const id = this.byHash.get(key);
    if (id === undefined) return undefined;
    try {
      return await this.piece(id, signal);
    } catch (e) {
      if (signal?.aborted) throw e;
      return undefined;
    }
  }

  /** The raw bytes of piece `id` if they are in memory now (no await: usable inside a store transaction). */
  inMemory(id: number): Uint8Array | undefined {
    const v = this.raw.get(id);
    if (v) {
      this.raw.delete(id);
      this.raw.set(id, v);
    }
    return v;
  }

  /** Whether piece `id` can be had without the network (in memory or cached). */
  hasLocally(id: number): boolean {
    return this.raw.has(id) || this.cached.has(hex(this.index.pieces[id]!.sha256));
  }

  /**
   * The user's layer ran out of quota (C1 in layered-store.ts): let the cache give back about
   * `bytes`, once the pieces being put have landed (else they would take the room back).
   * Returns the bytes freed; 0 when the cache has nothing to give or shares no quota.
   */
  async makeRoom(bytes: number): Promise<number> {
    if (!this.cache.makeRoom) return 0;
    await this.settled();
    const freed = await this.cache.makeRoom(bytes);
    this.cached = new Set(await this.cache.keys());
    return freed;
  }

  /** Resolves once every fetched piece has been handed to the cache. */
  async settled(): Promise<void> {
    while (this.pendingPuts.size > 0) await Promise.all([...this.pendingPuts]);
  }

  private remember(id: number, raw: Uint8Array): void {
    if (this.raw.has(id)) return;
    this.raw.set(id, raw);
    this.rawBytes += raw.length;
    for (const [k, v] of this.raw) {
      if (this.rawBytes <= RAW_MEMORY_BYTES) break;
      this.raw.delete(k);
      this.rawBytes -= v.length;
    }
  }

  /** Wait for a run; when every waiter has given up, the fetch itself is aborted. */
  private wait(run: Run, signal?: AbortSignal): Promise<Map<number, PieceResult>> {
    if (signal?.aborted) return Promise.reject(abortError());
    run.waiters++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        if (--run.waiters === 0) run.controller.abort();
        reject(abortError());
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      run.done.then(
        (v) => {
          signal?.removeEventListener("abort", onAbort);
          run.waiters--;
          resolve(v);
        },
        (e) => {
          signal?.removeEventListener("abort", onAbort);
          run.waiters--;
          reject(e);
        },
      );
    });
  }

  /**
   * Pieces adjacent in the same pack from `id` on, not held locally, up to a
   * size: boot-profile pieces in long runs across files (they are laid out in
   * first-use order, so what follows is what the boot reads next), others only
   * those the same read needs (`along`). No guessing outside the profile: the
   * guest's kernel does its own read-ahead, and a boot's stray page read in a
   * large file (cc1, libpython) would otherwise fetch 512 KiB it never uses.
   */
  private plan(id: number, along: ReadonlySet<number> | undefined): number[] {
    const ps = this.index.pieces;
    const first = ps[id]!;
    const profile = (first.flags & PIECE_PROFILE) !== 0;
    const limit = profile ? (this.options.profileRunBytes ?? 4 << 20) : (this.options.runBytes ?? 512 << 10);
    const ids = [id];
    let end = first.offset + first.stored;
    let bytes = first.stored;
    for (let r = this.rank[id]! + 1; r < this.packOrder.length; r++) {
      const next = this.packOrder[r]!;
      const p = ps[next]!;
      if (p.pack !== first.pack || p.offset !== end || ((p.flags & PIECE_PROFILE) !== 0) !== profile) break;
      if (!profile && (this.owner[next] !== this.owner[id] || !along?.has(next))) break;
      if (bytes + p.stored > limit || this.hasLocally(next) || this.inflight.has(next)) break;
      ids.push(next);
      end += p.stored;
      bytes += p.stored;
    }
    return ids;
  }

  private startRun(id: number, along: ReadonlySet<number> | undefined): Run {
    const ids = this.plan(id, along);
    const controller = new AbortController();
    const ps = this.index.pieces;
    const start = ps[ids[0]!]!.offset;
    const last = ps[ids[ids.length - 1]!]!;
    const end = last.offset + last.stored;
    const pack = this.manifest.packs[ps[id]!.pack]!;
    const run: Run = {
      controller,
      waiters: 0,
      done: (async () => {
        try {
          const bytes = await this.fetchRange(pack.file, start, end, controller.signal);
          const out = new Map<number, PieceResult>();
          for (const pid of ids) {
            const p = ps[pid]!;
            const stored = bytes.subarray(p.offset - start, p.offset - start + p.stored);
            try {
              const raw = await decodePiece(stored, p);
              this.remember(pid, raw);
              out.set(pid, raw);
              this.keep(hex(p.sha256), stored.slice());
            } catch (e) {
              if (!(e instanceof PieceIntegrityError)) throw e;
              (this.options.log ?? console.error)(`worker9p: ${e.message} in ${this.url}${pack.file}: the file reads as EIO`);
              out.set(pid, new FsError(Errno.EIO, e.message));
            }
          }
          return out;
        } finally {
          for (const pid of ids) this.inflight.delete(pid);
        }
      })(),
    };
    run.done.catch(() => undefined);
    for (const pid of ids) this.inflight.set(pid, run);
    return run;
  }

  private keep(key: string, stored: Uint8Array): void {
    const put = this.cache.put(key, stored).then(() => {
      this.cached.add(key);
    });
    this.pendingPuts.add(put);
    void put.finally(() => this.pendingPuts.delete(put));
  }

  /** Bytes [start, end) of a pack, by a Range request; bounded retries, then EIO. */
  private async fetchRange(file: string, start: number, end: number, signal: AbortSignal): Promise<Uint8Array> {
    const doFetch = this.options.fetch ?? fetch;
    const attempts = this.options.attempts ?? 3;
    const delays = this.options.retryDelaysMs ?? [200, 1000];
    const url = new URL(file, this.url).href;
    let why = "";
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await delay(delays[Math.min(attempt - 1, delays.length - 1)] ?? 0, signal);
      if (signal.aborted) throw abortError();
      this.stats.requests++;
      try {
        const res = await doFetch(url, {
          headers: { Range: `bytes=${start}-${end - 1}` },
          signal: AbortSignal.any([signal, AbortSignal.timeout(this.options.requestTimeoutMs ?? 30_000)]),
        });
        const body = new Uint8Array(await res.arrayBuffer());
        this.stats.fetchedBytes += body.length;
        if (res.status === 206 && body.length === end - start) return body;
        // A server that ignores Range sends the whole pack.
        if (res.status === 200 && body.length >= end) return body.subarray(start, end);
        why = `HTTP ${res.status}, ${body.length} bytes for ${end - start}`;
        if (res.status === 404 || res.status === 416) break;
      } catch (e) {
        if (signal.aborted) {
          this.stats.abortedFetches++;
          throw abortError();
        }
        why = (e as Error).message;
      }
    }
    throw new FsError(Errno.EIO, `base image: ${url} bytes ${start}-${end - 1}: ${why}`);
  }
}
