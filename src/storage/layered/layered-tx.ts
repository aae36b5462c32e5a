/**
 * A transaction over the merged tree: the user's layer (any Store) over the
 * read-only base image. Invariants, referred to by number elsewhere:
 *
 *  L1. Inode numbers 1..N are the base image's, N+1.. the user's (the user's
 *      counter starts at firstUserIno(), above any base). An upper inode
 *      record with a base number is that base inode copied up (metadata only).
 *  L2. Per base inode the user's layer keeps a state record (meta
 *      `layer:<ino>`): `gone` (deleted), `opaque` (recreated after deletion:
 *      its base entries and chunks are not seen), `cut` (base chunks from
 *      here on were truncated away), `shadow` (base chunk indexes replaced or
 *      deleted in the user's layer), `ownXattrs` (the xattrs are the user's
 *      layer's, even an empty list). Absent = untouched.
 *  L3. A whiteout is an upper entry with ino 0 under a base directory: the
 *      base entry of that name is deleted. Cookies never collide: base
 *      entries have 3 … 3+n-1 (their place in the current base), the user's
 *      entries in a base directory start at BASE_NEXT_COOKIE (the base
 *      directory's nextCookie), whiteouts take WHITEOUT_COOKIE + a counter
 *      kept in the directory's state (`whiteouts`).
 *  L4. A body awaits only the user's StoreTx (store.ts: IndexedDB commits a
 *      transaction that awaits anything else). Base bytes not in memory are
 *      therefore never fetched inside a body: the read notes the pieces as
 *      missing and hands out zeros in their place, so the run goes on and
 *      notes everything it lacks; LayeredStore then rolls that run back,
 *      discards its result, fetches the missing pieces and runs the body
 *      again with them pinned in memory. No run that saw a stand-in commits
 *      or answers.
 */
import type { EntryRecord, InodeRecord, StoreTx, XattrList } from "../store.js";
import { WHITEOUT_COOKIE, type BaseView } from "./base-view.js";
import { copyFrom } from "../../protocol/bytes.js";

export interface LayerState {
  gone?: boolean;
  opaque?: boolean;
  cut?: number;
  shadow?: number[];
  /** The inode's xattrs are the user's layer's (even when none). */
  ownXattrs?: boolean;
  /** Directories: whiteouts made in it so far (L3). */
  whiteouts?: number;
}

export const LAYER_META_PREFIX = "layer:";

/** Rolls back a run that lacked base bytes (L4); never escapes LayeredStore. */
export class NeedPieces extends Error {
  constructor() {
    super("base image pieces needed");
    this.name = "NeedPieces";
  }
}

/** What the transaction can read of the base's bytes without awaiting anything but the user's store. */
export interface PieceSource {
  /** The raw bytes of a piece if they are in memory now. */
  inMemory(id: number): Uint8Array | undefined;
}

const stateKey = (ino: number): string => `${LAYER_META_PREFIX}${ino}`;

export class LayeredTx implements StoreTx {
  private readonly states = new Map<number, LayerState>();
  /** Offered when the user's store offers it (OPFS: the user's bytes go straight into the reply frame). */
  readonly readChunkInto?: (ino: number, index: number, within: number, dest: Uint8Array) => Promise<number | undefined>;

  constructor(
    private readonly upper: StoreTx,
    private readonly base: BaseView,
    private readonly pieces: PieceSource,
    /** Pieces this run needed and did not have (L4). */
    readonly missing: Set<number>,
  ) {
    const own = upper.readChunkInto?.bind(upper);
    if (own) {
      this.readChunkInto = async (ino, index, within, dest) => {
        const n = await own(ino, index, within, dest);
        if (n !== undefined || !this.base.has(ino)) return n;
        if (!this.baseChunkVisible(ino, index, await this.state(ino))) return undefined;
        return copyFrom(this.baseChunk(ino, index), within, dest);
      };
    }
  }

  private async state(ino: number): Promise<LayerState> {
    let st = this.states.get(ino);
    if (!st) {
      st = (await this.upper.getMeta<LayerState>(stateKey(ino))) ?? {};
      this.states.set(ino, st);
    }
    return st;
  }

  private async setState(ino: number, st: LayerState): Promise<void> {
    this.states.set(ino, st);
    await this.upper.putMeta(stateKey(ino), st);
  }

  /** Base entries of `dir` are part of the merged view. */
  private async baseDirVisible(dir: number): Promise<boolean> {
    if (!this.base.isDir(dir)) return false;
    const st = await this.state(dir);
    return !st.gone && !st.opaque;
  }

  /** Base chunk `index` of `ino` is part of the merged view (unless the upper has its own). */
  private baseChunkVisible(ino: number, index: number, st: LayerState): boolean {
    return !st.gone && !st.opaque && index < this.base.chunkCount(ino) && index < (st.cut ?? Infinity) && !(st.shadow ?? []).includes(index);
  }

  // ---- inodes

  async getInode(ino: number): Promise<InodeRecord | undefined> {
    const rec = await this.upper.getInode(ino);
    if (rec || !this.base.has(ino)) return rec;
    const st = await this.state(ino);
    return st.gone ? undefined : this.base.inode(ino);
  }

  async putInode(rec: InodeRecord): Promise<void> {
    if (this.base.has(rec.ino)) {
      const st = await this.state(rec.ino);
      // A base number put again after its deletion: a new object, nothing of the base shows through (L2).
      if (st.gone) await this.setState(rec.ino, { opaque: true, cut: 0 });
    }
    await this.upper.putInode(rec);
  }

  async deleteInode(ino: number): Promise<void> {
    await this.upper.deleteInode(ino);
    if (this.base.has(ino)) await this.setState(ino, { gone: true });
  }

  // ---- entries

  async getEntry(dir: number, name: string): Promise<EntryRecord | undefined> {
    const e = await this.upper.getEntry(dir, name);
    if (e) return e.ino === 0 ? undefined : e;
    return (await this.baseDirVisible(dir)) ? this.base.entry(dir, name) : undefined;
  }

  async putEntry(entry: EntryRecord): Promise<void> {
    await this.upper.putEntry(entry);
  }

  async deleteEntry(dir: number, name: string): Promise<void> {
    const below = (await this.baseDirVisible(dir)) ? this.base.entry(dir, name) : undefined;
    if (!below) return this.upper.deleteEntry(dir, name);
    const st = await this.state(dir);
    const n = st.whiteouts ?? 0;
    await this.setState(dir, { ...st, whiteouts: n + 1 });
    await this.upper.putEntry({ dir, name, ino: 0, cookie: WHITEOUT_COOKIE + n, dtype: 0 }); // L3
  }

  async listEntries(dir: number, after: number, limit: number): Promise<EntryRecord[]> {
    if (limit <= 0) return [];
    const upper: EntryRecord[] = [];
    for (let from = after; upper.length < limit; ) {
      const page = await this.upper.listEntries(dir, from, limit);
      for (const e of page) if (e.ino !== 0) upper.push(e);
      if (page.length < limit) break;
      from = page[page.length - 1]!.cookie;
    }
    const base: EntryRecord[] = [];
    if (await this.baseDirVisible(dir)) {
      for (const e of this.base.entriesAfter(dir, after)) {
        if (base.length >= limit) break;
        // An upper entry of the same name (a whiteout or a replacement) hides the base one.
        if (!(await this.upper.getEntry(dir, e.name))) base.push(e);
      }
    }
    if (base.length === 0) return upper.slice(0, limit);
    return [...base, ...upper].sort((a, b) => a.cookie - b.cookie).slice(0, limit);
  }

  // ---- data

  async getChunk(ino: number, index: number): Promise<Uint8Array | undefined> {
    const own = await this.upper.getChunk(ino, index);
    if (own || !this.base.has(ino)) return own;
    if (!this.baseChunkVisible(ino, index, await this.state(ino))) return undefined;
    return this.baseChunk(ino, index);
  }

  async chunkLength(ino: number, index: number): Promise<number | undefined> {
    const own = this.upper.chunkLength ? await this.upper.chunkLength(ino, index) : (await this.upper.getChunk(ino, index))?.length;
    if (own !== undefined || !this.base.has(ino)) return own;
    return this.baseChunkVisible(ino, index, await this.state(ino)) ? this.base.chunkLength(ino, index) : undefined;
  }

  private baseChunk(ino: number, index: number): Uint8Array {
    const spans = this.base.spans(ino, index);
    const parts: Uint8Array[] = [];
    for (const s of spans) {
      const raw = s.piece < 0 ? new Uint8Array(s.from + s.length) : this.pieces.inMemory(s.piece);
      if (!raw) this.missing.add(s.piece);
      else parts.push(raw.subarray(s.from, s.from + s.length));
    }
    if (parts.length < spans.length) return new Uint8Array(this.base.chunkLength(ino, index)); // L4: a stand-in, never seen
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(this.base.chunkLength(ino, index));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  async putChunk(ino: number, index: number, data: Uint8Array, isNew?: boolean): Promise<void> {
    await this.hideBaseChunk(ino, index);
    await this.upper.putChunk(ino, index, data, isNew);
  }

  async deleteChunk(ino: number, index: number): Promise<void> {
    await this.hideBaseChunk(ino, index);
    await this.upper.deleteChunk(ino, index);
  }

  private async hideBaseChunk(ino: number, index: number): Promise<void> {
    if (!this.base.has(ino) || this.base.chunkCount(ino) === 0) return;
    const st = await this.state(ino);
    if (this.baseChunkVisible(ino, index, st)) await this.setState(ino, { ...st, shadow: [...(st.shadow ?? []), index] });
  }

  async deleteChunksFrom(ino: number, from: number): Promise<void> {
    await this.upper.deleteChunksFrom(ino, from);
    if (!this.base.has(ino) || this.base.chunkCount(ino) === 0) return;
    const st = await this.state(ino);
    if (from < Math.min(st.cut ?? Infinity, this.base.chunkCount(ino))) {
      const next: LayerState = { ...st, cut: from };
      if (st.shadow) next.shadow = st.shadow.filter((i) => i < from);
      await this.setState(ino, next);
    }
  }

  async countChunks(ino: number, from: number, to: number): Promise<number> {
    let n = await this.upper.countChunks(ino, from, to);
    if (this.base.has(ino) && this.base.chunkCount(ino) > 0) {
      const st = await this.state(ino);
      if (!st.gone && !st.opaque) {
        // Shadowed base chunks are either deleted or counted in the upper already (L2).
        const end = Math.min(to, this.base.chunkCount(ino), st.cut ?? Infinity);
        if (end > from) n += end - from - (st.shadow ?? []).filter((i) => i >= from && i < end).length;
      }
    }
    return n;
  }

  // ---- xattrs

  async getXattrs(ino: number): Promise<XattrList | undefined> {
    if (!this.base.has(ino)) return this.upper.getXattrs(ino);
    const st = await this.state(ino);
    return st.ownXattrs || st.gone || st.opaque ? this.upper.getXattrs(ino) : this.base.xattrs(ino);
  }

  async putXattrs(ino: number, list: XattrList | undefined): Promise<void> {
    await this.upper.putXattrs(ino, list);
    if (!this.base.has(ino)) return;
    const st = await this.state(ino);
    if (!st.ownXattrs) await this.setState(ino, { ...st, ownXattrs: true });
  }

  // ---- meta

  getMeta<T>(key: string): Promise<T | undefined> {
    return this.upper.getMeta<T>(key);
  }

  putMeta<T>(key: string, value: T): Promise<void> {
    return this.upper.putMeta(key, value);
  }
}
