/**
 * The OPFS store's slot allocator over its data file: the committed
 * high-water mark and free slots (invariant 2, opfs.ts), the quarantine of
 * slots freed by relaxed commits until a durable point (invariant 6), and
 * the data file's reads and coalesced writes. Changed only by a commit, a
 * checkpoint or a shrink, one at a time (invariant 4).
 */
import { enospc, type ChunkRef } from "./indexeddb-common.js";
import type { Journal } from "./opfs-journal.js";
import type { SyncAccessHandle } from "./opfs-files.js";
import type { OpfsDebugHooks } from "./opfs-options.js";
import type { CommitRecord, Overlay } from "./opfs-overlay.js";
import type { PendingChunk } from "./opfs-tx.js";

/** Largest single write() of a run; bounds the transient copy. */
const MAX_RUN_BYTES = 4 * 1024 * 1024;
/** Freed slots waiting for a durable point before one is forced (invariant 6). */
export const QUARANTINE_LIMIT = 256;
/** Up to this many free slots, allocation sorts them all and takes the lowest; past it, any (sorted). */
const SORTED_FREE_LIMIT = 4096;

/** Whether pending[i..j) lie back to back in one buffer. */
function adjacentViews(pending: PendingChunk[], i: number, j: number): boolean {
  for (let k = i + 1; k < j; k++) {
    const a = pending[k - 1]!.data;
    const b = pending[k]!.data;
    if (b.buffer !== a.buffer || b.byteOffset !== a.byteOffset + a.length) return false;
  }
  return true;
}

export class SlotAllocator {
  /**
   * Slots freed by commits that are not durable yet, each with the number of the commit that
   * freed it: not written again, nor trimmed, before a durable point (invariant 6).
   */
  readonly quarantine = new Map<number, number>();
  /** Committed free slots below hwm, once a writer needed them; quarantined ones left out (invariants 4, 6). */
  freeSlots: Set<number> | undefined;

  constructor(
    private readonly name: string,
    readonly handle: SyncAccessHandle,
    private readonly journal: Journal,
    readonly chunkSize: number,
    /** Committed high-water mark (invariant 2). */
    public hwm: number,
    private readonly hooks: OpfsDebugHooks | undefined,
  ) {}

  /** Load the committed free slots once (the checkpoint's list with the overlay's changes, quarantined ones left out). */
  async loadFree(overlay: Overlay, checkpointFree: () => Promise<number[]>): Promise<void> {
    if (this.freeSlots) return;
    const keys = await checkpointFree();
    const s = overlay.freeOver(keys);
    for (const k of this.quarantine.keys()) s.delete(k);
    this.freeSlots = s;
  }

  /** Slots for `n` chunks: free ones first (lowest), then at hwm on. Changes nothing until committed(). */
  allocate(n: number): { taken: number[]; slots: number[]; hwm: number } {
    const taken = n > 0 ? this.lowestFree(this.freeSlots!, n) : [];
    const slots: number[] = [];
    let next = this.hwm;
    for (let i = 0; i < n; i++) slots.push(i < taken.length ? taken[i]! : next++);
    return { taken, slots, hwm: next };
  }

  /** Commit `seq` landed: its hwm, its taken slots off the free list, its freed ones quarantined (invariants 3, 6). */
  committed(r: CommitRecord, seq: number): void {
    this.hwm = r.hwm;
    if (this.freeSlots) for (const s of r.taken) this.freeSlots.delete(s);
    for (const s of r.freed) this.quarantine.set(s, seq);
  }

  /** A commit failed: give back a tail it grew past `hwm`, the high-water mark before it (invariant 5). */
  truncateTo(hwm: number): void {
    if (this.handle.getSize() > hwm * this.chunkSize) this.handle.truncate(hwm * this.chunkSize);
  }

  /** Slots [h, from) were given back to the file system (invariant 9). */
  shrunkTo(h: number, from: number): void {
    this.hwm = h;
    if (this.freeSlots) for (let s = h; s < from; s++) this.freeSlots.delete(s);
  }

  /** Make every commit so far durable (data file flushed, then the journal), so the slots they freed may be written again (invariant 6). */
  durabilityBarrier(): void {
    this.flushData();
    this.journal.flush();
    this.becameDurable();
  }

  flushData(): void {
    this.handle.flush();
    this.hooks?.afterDataFlush?.();
  }

  becameDurable(): void {
    this.releaseQuarantine();
    this.hooks?.afterDurable?.();
  }

  /**
   * Commits up to `seq` became durable (a checkpoint's strict commit holds them): the slots they
   * freed may be written again, not those freed since (invariants 6, 14). By commit number, not
   * by slot: a slot quarantined when a background checkpoint started may have been released by a
   * durable point, taken and freed again by a later relaxed commit before that checkpoint committed.
   */
  releaseThrough(seq: number): void {
    for (const [s, by] of this.quarantine) {
      if (by > seq) continue;
      this.quarantine.delete(s);
      this.freeSlots?.add(s);
    }
  }

  releaseQuarantine(): void {
    if (this.freeSlots) for (const s of this.quarantine.keys()) this.freeSlots.add(s);
    this.quarantine.clear();
  }

  readSlot(ref: ChunkRef, within: number, into: Uint8Array): void {
    const n = this.handle.read(into, { at: ref.slot * this.chunkSize + within });
    if (n !== into.length) {
      throw new Error(`OPFS store ${this.name}: slot ${ref.slot} holds ${n} of ${into.length} bytes at ${within} (data file truncated?)`);
    }
  }

  /** `n` free slots to fill, lowest first (so the file's tail empties and can shrink), ascending (so runs stay consecutive). */
  private lowestFree(free: Set<number>, n: number): number[] {
    if (free.size === 0) return [];
    const all = free.size <= SORTED_FREE_LIMIT;
    const picked: number[] = [];
    for (const s of free) {
      picked.push(s);
      if (!all && picked.length === n) break;
    }
    picked.sort((a, b) => a - b);
    return picked.slice(0, n);
  }

  /** Write the pending chunks to their slots, one write() per run of consecutive slots. */
  writeRuns(pending: PendingChunk[], slots: number[]): void {
    const cs = this.chunkSize;
    const maxRun = Math.max(1, Math.floor(MAX_RUN_BYTES / cs));
    for (let i = 0; i < pending.length; ) {
      let j = i + 1;
      while (j < pending.length && j - i < maxRun && slots[j] === slots[j - 1]! + 1 && pending[j - 1]!.data.length === cs) j++;
      const at = slots[i]! * cs;
      const first = pending[i]!.data;
      const last = pending[j - 1]!.data;
      const length = (j - i - 1) * cs + last.length;
      let buf: Uint8Array;
      if (j - i === 1) {
        buf = first;
      } else if (adjacentViews(pending, i, j)) {
        // Consecutive chunks of one Twrite are back-to-back views of its frame: write them as one view, no copy.
        buf = new Uint8Array(first.buffer, first.byteOffset, length);
      } else {
        buf = new Uint8Array(length);
        for (let k = i; k < j; k++) buf.set(pending[k]!.data, (k - i) * cs);
      }
      const n = this.handle.write(buf, { at });
      if (n !== buf.length) throw enospc(`OPFS wrote ${n} of ${buf.length} bytes`);
      i = j;
    }
  }
}
