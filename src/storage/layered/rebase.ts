/**
 * A user's layer made over one base image, opened over another (a newer
 * Debian image): the user's layer wins. Base files the user never touched
 * show the new base; files, directories and names the user created, changed
 * or deleted stay as the user left them. A touched base file whose content
 * the new base changes keeps its old content: the old bytes it still took
 * from the base are copied into the user's layer first (from the piece
 * cache, or from the new image when it holds the same piece).
 */
import { S_IFDIR, S_IFMT, S_IFREG, hex, type ImageIndex, type ImageInode, type ImagePiece } from "../image/format.js";
import type { Store, StoreTx } from "../store.js";
import { BASE_NEXT_COOKIE, BaseView } from "./base-view.js";
import { LAYER_META_PREFIX, LayeredTx, type LayerState } from "./layered-tx.js";

export interface RebaseSource {
  pieceOf(piece: ImagePiece, signal?: AbortSignal): Promise<Uint8Array | undefined>;
}

interface Materialize {
  ino: number;
  /** Store chunk indexes still taken from the old base. */
  chunks: number[];
}

const stateKey = (ino: number): string => `${LAYER_META_PREFIX}${ino}`;

function sameTime(a: ImageInode["mtime"], b: ImageInode["mtime"]): boolean {
  return a.sec === b.sec && a.nsec === b.nsec;
}

function samePieces(oldIndex: ImageIndex, o: ImageInode, newIndex: ImageIndex, n: ImageInode): boolean {
  const op = o.pieces ?? [];
  const np = n.pieces ?? [];
  if (op.length !== np.length) return false;
  for (let i = 0; i < op.length; i++) {
    const a = op[i]!;
    const b = np[i]!;
    if ((a < 0) !== (b < 0)) return false;
    if (a >= 0 && hex(oldIndex.pieces[a]!.sha256) !== hex(newIndex.pieces[b]!.sha256)) return false;
  }
  return true;
}

/** The node changed in a way a user's copy of it must not see. */
function changed(oldIndex: ImageIndex, o: ImageInode, newIndex: ImageIndex, n: ImageInode | undefined): boolean {
  if (!n || n.mode === 0 || (n.mode & S_IFMT) !== (o.mode & S_IFMT)) return true;
  if ((o.mode & S_IFMT) === S_IFREG) return n.size !== o.size || !samePieces(oldIndex, o, newIndex, n);
  if ((o.mode & S_IFMT) === S_IFDIR) {
    const oe = o.entries ?? [];
    const ne = n.entries ?? [];
    return oe.length !== ne.length || oe.some((e, i) => e.ino !== ne[i]!.ino || hex(e.name) !== hex(ne[i]!.name));
  }
  return !sameTime(o.mtime, n.mtime) || n.size !== o.size;
}

export async function rebaseLayer(
  upper: Store,
  oldIndex: ImageIndex,
  newView: BaseView,
  source: RebaseSource,
  log: (message: string) => void,
  signal?: AbortSignal,
): Promise<{ files: number; dirs: number; lost: number }> {
  const oldView = new BaseView(oldIndex, upper.chunkSize);
  const files: Materialize[] = [];
  const dirs: number[] = [];
  await upper.transaction("readonly", async (tx) => {
    for (const o of oldIndex.inodes) {
      if (o.mode === 0 || !changed(oldIndex, o, newView.index, newView.index.inodes[o.ino - 1])) continue;
      const rec = await tx.getInode(o.ino);
      const st = await tx.getMeta<LayerState>(stateKey(o.ino));
      if ((!rec && !st) || st?.gone) continue;
      if ((o.mode & S_IFMT) === S_IFDIR) {
        if (rec) dirs.push(o.ino);
        continue;
      }
      if ((o.mode & S_IFMT) !== S_IFREG || st?.opaque) continue;
      const chunks: number[] = [];
      const shadow = new Set(st?.shadow ?? []);
      const end = Math.min(oldView.chunkCount(o.ino), st?.cut ?? Infinity);
      for (let i = 0; i < end; i++) if (!shadow.has(i) && (await tx.countChunks(o.ino, i, i + 1)) === 0) chunks.push(i);
      files.push({ ino: o.ino, chunks });
    }
  }, signal ? { signal } : {});

  // Outside any transaction (store.ts: a body awaits only its StoreTx): the old bytes.
  const pieces = new Map<number, Uint8Array | undefined>();
  for (const f of files) {
    for (const i of f.chunks) {
      for (const span of oldView.spans(f.ino, i)) {
        if (span.piece >= 0 && !pieces.has(span.piece)) pieces.set(span.piece, await source.pieceOf(oldIndex.pieces[span.piece]!, signal));
      }
    }
  }

  let lost = 0;
  await upper.transaction("readwrite", async (tx: StoreTx) => {
    for (const f of files) {
      const st = (await tx.getMeta<LayerState>(stateKey(f.ino))) ?? {};
      if (!(await tx.getInode(f.ino))) await tx.putInode(oldView.inode(f.ino)!);
      for (const i of f.chunks) {
        const out = new Uint8Array(oldView.chunkLength(f.ino, i));
        let at = 0;
        let ok = true;
        for (const span of oldView.spans(f.ino, i)) {
          const raw = span.piece < 0 ? new Uint8Array(span.from + span.length) : pieces.get(span.piece);
          if (!raw) ok = false;
          else out.set(raw.subarray(span.from, span.from + span.length), at);
          at += span.length;
        }
        if (ok) await tx.putChunk(f.ino, i, out, true);
        else lost++;
      }
      // The file no longer takes anything from the base.
      await tx.putMeta(stateKey(f.ino), { ...st, cut: 0, shadow: [] } satisfies LayerState);
    }
    // A directory's link count counts its subdirectories, which the new base may have changed.
    const merged = new LayeredTx(tx, newView, { inMemory: () => undefined }, new Set());
    for (const ino of dirs) {
      const rec = await tx.getInode(ino);
      if (!rec) continue;
      let subdirs = 0;
      for (let after = 0; ; ) {
        const page = await merged.listEntries(ino, after, 1024);
        for (const e of page) if (e.dtype === S_IFDIR >> 12) subdirs++;
        if (page.length < 1024) break;
        after = page[page.length - 1]!.cookie;
      }
      await tx.putInode({ ...rec, nlink: 2 + subdirs, nextCookie: Math.max(rec.nextCookie, BASE_NEXT_COOKIE) });
    }
  }, signal ? { signal } : {});
  if (lost > 0) log(`worker9p: ${lost} chunks of files changed over the old base image could not be kept (their pieces are neither cached nor in the new image): they read as zeros`);
  return { files: files.length, dirs: dirs.length, lost };
}
