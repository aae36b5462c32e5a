/**
 * The OPFS store's committed changes that the IndexedDB checkpoint does not
 * hold yet: what the journal's records since the last checkpoint say
 * (opfs-journal.ts). The committed state is this overlay on top of the
 * checkpoint (OPFS invariant 1). Bounded by the checkpoint policy, not by the
 * tree. Pure data, no I/O.
 *
 * The overlay is a stack of layers, oldest first: a checkpoint freezes the
 * layers there are and writes them into IndexedDB while commits go on into a
 * new live layer on top; once IndexedDB has committed them, the frozen layers
 * are dropped (OPFS invariant 14). Every layer is idempotent (applying one
 * twice over a state is applying it once: records are set or deleted, a
 * file's cut then its refs, free-list slots added or removed), so a layer
 * laid over a checkpoint that already holds it changes nothing.
 */
import { entryKey, type ChunkRef } from "./indexeddb-common.js";
import type { EntryRecord, InodeRecord } from "./store.js";

/** One group commit's changes: the payload of one journal record. */
export interface CommitRecord {
  inodes: [number, InodeRecord | null][];
  /** [dir, name, record or null when deleted]. */
  entries: [number, EntryRecord["name"], EntryRecord | null][];
  meta: [string, unknown][];
  /** [ino, from]: every chunk at index ≥ from deleted — applied before `chunks`. */
  cuts: [number, number][];
  chunks: [number, number, ChunkRef | null][];
  /** Free slots the commit took; slots it freed; the high-water mark after it. */
  taken: number[];
  freed: number[];
  hwm: number;
}

/** Bytes [from, to) of the journal file. */
export interface JournalRange {
  from: number;
  to: number;
}

export interface OverlayEntry {
  dir: number;
  name: EntryRecord["name"];
  rec: EntryRecord | null;
}

export interface OverlayFile {
  /** Chunks at or past this index are gone from the checkpoint's view (Infinity: none cut). */
  cut: number;
  /** Chunks set or deleted since (and below the cut, before it). */
  refs: Map<number, ChunkRef | null>;
}

/** One layer: the changes of consecutive commits, folded (later ones win). */
export class OverlayLayer {
  readonly inodes = new Map<number, InodeRecord | null>();
  readonly dirs = new Map<number, Map<string, OverlayEntry>>();
  readonly meta = new Map<string, unknown>();
  readonly files = new Map<number, OverlayFile>();
  /** Free-list changes against the checkpoint: slots it lists that were taken, slots freed that it does not list. */
  readonly taken = new Set<number>();
  readonly added = new Set<number>();
  hwm: number | undefined;
  /** Records applied since the checkpoint, and the last one's number. */
  records = 0;
  lastSeq = 0;
  /**
   * Where the records applied lie in the journal, back to back: [from, to) of its bytes, for a
   * checkpoint helper to rebuild this layer from (opfs-checkpoint-writer.ts); undefined once a
   * record came without its place.
   */
  journalRange: JournalRange | undefined = { from: -1, to: -1 };

  get empty(): boolean {
    return this.records === 0;
  }

  apply(seq: number, r: CommitRecord, at?: JournalRange): void {
    const j = this.journalRange;
    if (j && at && (j.to < 0 || at.from === j.to)) {
      if (j.from < 0) j.from = at.from;
      j.to = at.to;
    } else this.journalRange = undefined;
    for (const [ino, rec] of r.inodes) this.inodes.set(ino, rec);
    for (const [dir, name, rec] of r.entries) {
      let d = this.dirs.get(dir);
      if (!d) {
        d = new Map();
        this.dirs.set(dir, d);
      }
      d.set(entryKey(dir, name as string), { dir, name, rec });
    }
    for (const [k, v] of r.meta) this.meta.set(k, v);
    for (const [ino, from] of r.cuts) cutFile(this.file(ino), from);
    for (const [ino, index, ref] of r.chunks) this.file(ino).refs.set(index, ref);
    for (const s of r.taken) {
      if (this.added.has(s)) this.added.delete(s);
      else this.taken.add(s);
    }
    for (const s of r.freed) {
      if (this.taken.has(s)) this.taken.delete(s);
      else this.added.add(s);
    }
    this.hwm = r.hwm;
    this.records++;
    this.lastSeq = seq;
  }

  private file(ino: number): OverlayFile {
    let f = this.files.get(ino);
    if (!f) {
      f = emptyFile();
      this.files.set(ino, f);
    }
    return f;
  }

  /** The committed record: null when deleted, undefined when the checkpoint's is current. */
  inode(ino: number): InodeRecord | null | undefined {
    return this.inodes.get(ino);
  }

  entry(dir: number, name: EntryRecord["name"]): EntryRecord | null | undefined {
    return this.dirs.get(dir)?.get(entryKey(dir, name as string))?.rec;
  }

  metaValue(key: string): { has: boolean; value: unknown } {
    return { has: this.meta.has(key), value: this.meta.get(key) };
  }

  /** The committed chunk ref: null for none, undefined when the checkpoint's is current. */
  chunk(ino: number, index: number): ChunkRef | null | undefined {
    const f = this.files.get(ino);
    return f ? fileRef(f, index) : undefined;
  }

  /** How many entries of `dir` the overlay changes (a listing asks the checkpoint for that many more). */
  entriesIn(dir: number): number {
    return this.dirs.get(dir)?.size ?? 0;
  }
}

/**
 * A listing of `dir` after `after`, at most `limit`, from the checkpoint's
 * listing (fetched with room for every changed entry) and the change layers
 * on top, oldest first (each maps entry key → record or null).
 */
export function mergeListing(base: EntryRecord[], layers: Iterable<OverlayEntry>[], after: number, limit: number): EntryRecord[] {
  const byKey = new Map<string, EntryRecord | null>();
  for (const e of base) byKey.set(entryKey(e.dir, e.name as string), e);
  for (const layer of layers) for (const e of layer) byKey.set(entryKey(e.dir, e.name as string), e.rec);
  const out: EntryRecord[] = [];
  for (const e of byKey.values()) if (e && e.cookie > after) out.push(e);
  out.sort((a, b) => a.cookie - b.cookie);
  return out.length > limit ? out.slice(0, limit) : out;
}

/** Chunk indices in [from, to) of one file: the checkpoint's, then each layer's cut and changes, oldest first. */
export function mergeIndices(base: number[], layers: (OverlayFile | undefined)[], from: number, to: number): number {
  const view = new Map<number, true | ChunkRef | null>(base.map((i) => [i, true]));
  for (const f of layers) layerFile(view, f, from, to);
  let n = 0;
  for (const v of view.values()) if (v !== null) n++;
  return n;
}

/** The key of chunk `index` of inode `ino` in maps of pending or known chunks. */
export function chunkKey(ino: number, index: number): string {
  return `${ino}:${index}`;
}

export function emptyFile(): OverlayFile {
  return { cut: Infinity, refs: new Map() };
}

/** Delete every chunk of `f` at index ≥ from: lower the cut and drop the refs past it. */
export function cutFile(f: OverlayFile, from: number): void {
  f.cut = Math.min(f.cut, from);
  for (const index of f.refs.keys()) if (index >= from) f.refs.delete(index);
}

/** A layer's ref for chunk `index`: null when it deleted it (or cut it off), undefined when the layer below is current. */
export function fileRef(f: OverlayFile, index: number): ChunkRef | null | undefined {
  const r = f.refs.get(index);
  if (r !== undefined) return r;
  return index >= f.cut ? null : undefined;
}

/** Lay one layer over a view of a file's chunks (index → ref, null when gone): its cut, then its refs in [from, to). */
export function layerFile<T>(view: Map<number, T | ChunkRef | null>, f: OverlayFile | undefined, from = 0, to = Infinity): void {
  if (!f) return;
  if (f.cut < Infinity) for (const i of [...view.keys()]) if (i >= f.cut) view.delete(i);
  for (const [i, ref] of f.refs) if (i >= from && i < to) view.set(i, ref);
}

/**
 * The committed changes since the checkpoint as layers, oldest first: frozen
 * ones a checkpoint is writing, then the live one commits apply to
 * (invariant 14). Lookups ask the newest layer first.
 */
export class Overlay {
  private frozen: OverlayLayer[] = [];
  private live = new OverlayLayer();

  /** All layers, oldest first. */
  get layers(): OverlayLayer[] {
    return [...this.frozen, this.live];
  }

  get empty(): boolean {
    return this.records === 0;
  }

  /** Commits applied since the checkpoint. */
  get records(): number {
    let n = this.live.records;
    for (const l of this.frozen) n += l.records;
    return n;
  }

  /** Commits applied to the live layer (since the last freeze). */
  get liveRecords(): number {
    return this.live.records;
  }

  /** The last commit's number (0 when empty). */
  get lastSeq(): number {
    return this.newest((l) => (l.empty ? undefined : l.lastSeq)) ?? 0;
  }

  get hwm(): number | undefined {
    return this.newest((l) => l.hwm);
  }

  /** The first answer other than undefined, asking the newest layer first. */
  private newest<T>(ask: (l: OverlayLayer) => T | undefined): T | undefined {
    const r = ask(this.live);
    if (r !== undefined) return r;
    for (let i = this.frozen.length - 1; i >= 0; i--) {
      const f = ask(this.frozen[i]!);
      if (f !== undefined) return f;
    }
    return undefined;
  }

  apply(seq: number, r: CommitRecord, at?: JournalRange): void {
    this.live.apply(seq, r, at);
  }

  /** A checkpoint starts: the layers so far are frozen (what it writes) and commits go on into a new live layer. */
  freeze(): OverlayLayer[] {
    if (!this.live.empty) {
      this.frozen.push(this.live);
      this.live = new OverlayLayer();
    }
    return [...this.frozen];
  }

  /** The checkpoint holds `written` (what freeze() returned): drop them. */
  dropFrozen(written: readonly OverlayLayer[]): void {
    this.frozen = this.frozen.filter((l) => !written.includes(l));
  }

  inode(ino: number): InodeRecord | null | undefined {
    return this.newest((l) => l.inode(ino));
  }

  entry(dir: number, name: EntryRecord["name"]): EntryRecord | null | undefined {
    return this.newest((l) => l.entry(dir, name));
  }

  metaValue(key: string): { has: boolean; value: unknown } {
    return this.newest((l) => (l.meta.has(key) ? { has: true, value: l.meta.get(key) } : undefined)) ?? { has: false, value: undefined };
  }

  chunk(ino: number, index: number): ChunkRef | null | undefined {
    return this.newest((l) => l.chunk(ino, index));
  }

  /** How many entries of `dir` the layers change, at most (a listing asks the checkpoint for that many more). */
  entriesIn(dir: number): number {
    let n = 0;
    for (const l of this.layers) n += l.entriesIn(dir);
    return n;
  }

  /** A snapshot of each layer's changes to `dir`, oldest first (for mergeListing). */
  dirLayers(dir: number): OverlayEntry[][] {
    return this.layers.map((l) => [...(l.dirs.get(dir)?.values() ?? [])]);
  }

  /** Each layer's changes to file `ino`, oldest first (for mergeIndices, layerFile). */
  fileLayers(ino: number): (OverlayFile | undefined)[] {
    return this.layers.map((l) => l.files.get(ino));
  }

  /** The checkpoint's free-slot list with every layer's changes on top. */
  freeOver(base: Iterable<number>): Set<number> {
    const s = new Set(base);
    for (const l of this.layers) {
      for (const k of l.taken) s.delete(k);
      for (const k of l.added) s.add(k);
    }
    return s;
  }
}
