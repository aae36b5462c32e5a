/**
 * The OPFS store's full consistency scan (tests, fsck): every slot below
 * `hwm` referenced or free, exactly once (invariant 2, opfs.ts), and the
 * allocator's in-memory state equal to the committed one (invariants 4, 6).
 * Reads everything; the store runs it between writers.
 */
import type { ChunkRef, WorkerDb } from "./indexeddb-common.js";
import type { OpfsCheckReport } from "./opfs-options.js";
import { layerFile, type Overlay } from "./opfs-overlay.js";
import type { SlotAllocator } from "./opfs-slots.js";

/** The committed chunk refs: the overlay on top of the checkpoint's (invariant 11). */
function committedRefs(baseRefs: ChunkRef[], o: Overlay): ChunkRef[] {
  const byFile = new Map<number, Map<number, ChunkRef | null>>();
  const file = (ino: number): Map<number, ChunkRef | null> => {
    let m = byFile.get(ino);
    if (!m) {
      m = new Map();
      byFile.set(ino, m);
    }
    return m;
  };
  for (const r of baseRefs) file(r.ino).set(r.index, r);
  for (const l of o.layers) for (const [ino, f] of l.files) layerFile(file(ino), f);
  const refs: ChunkRef[] = [];
  for (const m of byFile.values()) for (const r of m.values()) if (r) refs.push(r);
  return refs;
}

export async function scanSlots(db: WorkerDb, o: Overlay, slots: SlotAllocator): Promise<OpfsCheckReport> {
  const tx = db.transaction(["chunks", "free", "internal"], "readonly");
  const baseHwm = ((await tx.objectStore("internal").get("hwm")) as number | undefined) ?? 0;
  const baseRefs = (await tx.objectStore("chunks").getAll()) as ChunkRef[];
  const baseFree = (await tx.objectStore("free").getAllKeys()) as number[];
  await tx.done;
  const hwm = o.hwm ?? baseHwm;
  const refs = committedRefs(baseRefs, o);
  const free = [...o.freeOver(baseFree)];
  const problems: string[] = [];
  const owner = new Map<number, string>();
  let inline = 0;
  for (const r of refs) {
    if (r.slot < 0) {
      inline++;
      if (!r.data || r.data.length !== r.len) problems.push(`inline chunk ${r.ino}:${r.index} has ${r.data?.length} bytes, record says ${r.len}`);
      continue;
    }
    if (r.slot >= hwm) problems.push(`chunk ${r.ino}:${r.index} in slot ${r.slot} past hwm ${hwm}`);
    const prev = owner.get(r.slot);
    if (prev) problems.push(`slot ${r.slot} used by ${prev} and ${r.ino}:${r.index}`);
    owner.set(r.slot, `${r.ino}:${r.index}`);
  }
  for (const s of free) {
    if (s >= hwm) problems.push(`free slot ${s} past hwm ${hwm}`);
    if (owner.has(s)) problems.push(`slot ${s} both free and used by ${owner.get(s)}`);
  }
  const freeSet = new Set(free);
  let leaked = 0;
  for (let s = 0; s < hwm; s++) if (!owner.has(s) && !freeSet.has(s)) leaked++;
  if (leaked > 0) problems.push(`${leaked} slots below hwm ${hwm} neither used nor free (leaked)`);
  // The writers' in-memory allocator state must be the committed one.
  if (hwm !== slots.hwm) problems.push(`in-memory hwm ${slots.hwm}, committed ${hwm}`);
  const q = slots.quarantine;
  const mem = slots.freeSlots;
  if (mem && (mem.size + q.size !== freeSet.size || [...freeSet].some((f) => !mem.has(f) && !q.has(f)))) {
    problems.push(`in-memory free slots (${mem.size} + ${q.size} awaiting a durable commit) differ from the committed ones (${freeSet.size})`);
  }
  const fileBytes = slots.handle.getSize();
  if (fileBytes > hwm * slots.chunkSize) problems.push(`data file has ${fileBytes} bytes, more than hwm ${hwm} slots`);
  let maxUsed = -1;
  for (const s of owner.keys()) maxUsed = Math.max(maxUsed, s);
  if (maxUsed >= 0) {
    const r = refs.find((x) => x.slot === maxUsed)!;
    if (fileBytes < maxUsed * slots.chunkSize + r.len) problems.push(`data file of ${fileBytes} bytes cuts slot ${maxUsed}`);
  }
  return { ok: problems.length === 0, problems, hwm, usedSlots: owner.size, freeSlots: free.length, inlineChunks: inline, fileBytes };
}
