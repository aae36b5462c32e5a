/**
 * The OPFS store's checkpoint writes (invariant 11, opfs.ts): the overlay
 * into IndexedDB, in one strict transaction or, out of quota, its deletions
 * first; and the shrink after it, which gives free slots at the data file's
 * end back (invariant 9). The store runs these between writers.
 */
import { unwrap } from "idb";
import { chunkRange, txDone, type StoreName, type WorkerDb } from "./indexeddb-common.js";
import type { CheckpointNames } from "./opfs-names.js";
import type { Overlay, OverlayLayer } from "./opfs-overlay.js";
import type { SlotAllocator } from "./opfs-slots.js";

export const STORES: StoreName[] = ["inodes", "entries", "chunks", "meta", "internal", "free"];
/** Free slots at the end of the file given back per shrink pass (keeps each pass short). */
const SHRINK_BATCH = 4096;

/**
 * Write overlay layers (oldest first, not all empty) into IndexedDB: one strict transaction that
 * also records the last journal record they hold. Every request is issued before this returns
 * its promise (which settles with the commit), so the layers may change right after the call
 * (invariant 14); later layers' requests come after earlier ones', so they win.
 */
export function writeOverlay(db: WorkerDb, layers: readonly OverlayLayer[]): Promise<void> {
  const tx = unwrap(db).transaction(STORES, "readwrite", { durability: "strict" });
  const s = (n: StoreName): IDBObjectStore => tx.objectStore(n);
  let hwm: number | undefined;
  let lastSeq = 0;
  for (const o of layers) {
    for (const [ino, rec] of o.inodes) {
      if (rec) s("inodes").put(rec);
      else s("inodes").delete(ino);
    }
    for (const d of o.dirs.values()) {
      for (const e of d.values()) {
        if (e.rec) s("entries").put(e.rec);
        else s("entries").delete([e.dir, e.name]);
      }
    }
    for (const [k, v] of o.meta) {
      if (v === undefined) s("meta").delete(k);
      else s("meta").put(v, k);
    }
    for (const [ino, f] of o.files) {
      if (f.cut < Infinity) s("chunks").delete(chunkRange(ino, f.cut));
      for (const [index, ref] of f.refs) {
        if (ref) s("chunks").put(ref, [ino, index]);
        else s("chunks").delete([ino, index]);
      }
    }
    for (const slot of o.taken) s("free").delete(slot);
    for (const slot of o.added) s("free").put(1, slot);
    if (o.hwm !== undefined) hwm = o.hwm;
    if (!o.empty) lastSeq = o.lastSeq;
  }
  if (hwm !== undefined) s("internal").put(hwm, "hwm");
  s("internal").put(lastSeq, "journalSeq");
  return txDone(tx);
}

/** The layers' deletions alone, in one transaction (see OpfsStore.checkpoint). */
export async function writeDeletions(db: WorkerDb, layers: readonly OverlayLayer[], names: CheckpointNames): Promise<void> {
  const tx = unwrap(db).transaction(["inodes", "entries", "chunks"], "readwrite", { durability: "strict" });
  const gone: [number, string][] = [];
  for (const o of layers) {
    for (const [ino, rec] of o.inodes) if (!rec) tx.objectStore("inodes").delete(ino);
    for (const d of o.dirs.values()) {
      for (const [k, e] of d) {
        if (e.rec) continue;
        tx.objectStore("entries").delete([e.dir, e.name]);
        gone.push([e.dir, k]);
      }
    }
    for (const [ino, f] of o.files) {
      if (f.cut < Infinity) tx.objectStore("chunks").delete(chunkRange(ino, f.cut));
      for (const [index, ref] of f.refs) if (!ref) tx.objectStore("chunks").delete([ino, index]);
    }
  }
  await txDone(tx);
  for (const [dir, k] of gone) names.checkpointed(dir, k, false);
}

/**
 * Give free slots at the end of the file back (invariant 9): lower `hwm`
 * past them and truncate. Runs right after a checkpoint (the overlay is
 * empty, so IndexedDB holds the whole committed state), between writers.
 */
export async function shrink(db: WorkerDb, overlay: Overlay, slots: SlotAllocator): Promise<number> {
  if (!overlay.empty) return 0;
  const tx = db.transaction(["internal", "free"], "readwrite");
  const hwm = ((await tx.objectStore("internal").get("hwm")) as number | undefined) ?? 0;
  let h = hwm;
  let cursor = await tx.objectStore("free").openKeyCursor(null, "prev");
  while (cursor && cursor.key === h - 1 && !slots.quarantine.has(h - 1) && hwm - h < SHRINK_BATCH) {
    h--;
    cursor = await cursor.continue();
  }
  if (h < hwm) {
    slots.handle.truncate(h * slots.chunkSize);
    void tx.objectStore("free").delete(IDBKeyRange.bound(h, hwm - 1));
    void tx.objectStore("internal").put(h, "hwm");
  }
  await tx.done;
  slots.shrunkTo(h, hwm);
  return hwm - h;
}
