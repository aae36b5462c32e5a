/**
 * The OPFS store's metadata journal: one append-only file, written through
 * its own sync access handle, one frame per group commit (journal-codec.ts).
 * Appending a frame is the commit point of a writer batch (OPFS invariant 1,
 * opfs.ts; damage is handled as invariant 12 says).
 *
 * Reading it back at open (scan):
 *  - frames are taken in order while they are intact and numbered one after
 *    another; the first that is not ends the journal;
 *  - if nothing intact and newer follows that point, what follows is a torn
 *    tail (a crash mid-append, or the zeros of preallocated space) and is
 *    ignored — that commit never happened;
 *  - if an intact newer frame does follow, a record in the middle is damaged:
 *    the tree after it cannot be rebuilt, and open fails with a report
 *    (JournalCorruptError) instead of serving a silently wrong tree (frames
 *    seen inside the cut frame's own extent are its payload: see scanJournal).
 *
 * The file is preallocated in steps (GROW_BYTES) so that an append rarely
 * changes its size, and reset to empty (zeros) after each checkpoint.
 */
import type { SyncAccessHandle } from "./opfs-files.js";
import type { JournalRange } from "./opfs-overlay.js";
import { FRAME_HEAD, FRAME_MAGIC, alignUp, decodeValue, encodeFrame, frameIntact, framePayload, readHead, type FrameHead, type JournalValue } from "./journal-codec.js";

/** Journal space is allocated in steps of this many bytes. */
export const GROW_BYTES = 1024 * 1024;
/**
 * Preallocated room kept for records that free space (deletes): when the
 * quota is exhausted, they may still be appended, so that deleting files
 * works and space comes back.
 */
export const RESERVE_BYTES = 64 * 1024;

export interface JournalEntry {
  seq: number;
  value: JournalValue;
  /** Where its frame lies in the journal file. */
  at: JournalRange;
}

export interface JournalScan {
  /** Intact records newer than the checkpoint, in order. */
  records: JournalEntry[];
  /** Where the next frame goes. */
  end: number;
  /** Records at or before the checkpoint, skipped (the checkpoint has them). */
  skipped: number;
  /** Whether something that was not an intact frame followed the last one (a torn append). */
  tornTail: boolean;
}

/** A damaged record with intact records after it: the journal cannot be replayed without losing them. */
export class JournalCorruptError extends Error {
  constructor(readonly problems: string[]) {
    super(`OPFS store journal is damaged: ${problems.join("; ")}`);
    this.name = "JournalCorruptError";
  }
}

function frameAt(bytes: Uint8Array, at: number): { head: FrameHead; frame: Uint8Array } | undefined {
  const head = readHead(bytes.subarray(at));
  if (!head || at + head.size > bytes.length) return undefined;
  const frame = bytes.subarray(at, at + head.size);
  return frameIntact(frame, head) ? { head, frame } : undefined;
}

/**
 * Read every record of a journal's bytes newer than `checkpointSeq`.
 * Throws JournalCorruptError when a damaged record has intact newer ones after it.
 */
export function scanJournal(bytes: Uint8Array, checkpointSeq: number): JournalScan {
  const records: JournalEntry[] = [];
  let at = 0;
  let last: number | undefined;
  let skipped = 0;
  for (;;) {
    const f = frameAt(bytes, at);
    if (!f) break;
    const seq = f.head.seq;
    // A frame left over from before the last reset: the journal ended before it.
    if (last !== undefined && seq !== last + 1) break;
    if (last === undefined && seq > checkpointSeq + 1) {
      throw new JournalCorruptError([`the journal starts at record ${seq}, but the checkpoint holds records up to ${checkpointSeq}: records ${checkpointSeq + 1}..${seq - 1} are missing`]);
    }
    // Records the checkpoint holds are only counted: a background checkpoint leaves them in the
    // journal while writers go on (OPFS invariant 14), so there may be many.
    if (seq > checkpointSeq) {
      let value: JournalValue;
      try {
        value = decodeValue(framePayload(f.frame, f.head));
      } catch (e) {
        throw new JournalCorruptError([`record ${seq} at byte ${at} has a good checksum but cannot be decoded (${String(e)})`]);
      }
      records.push({ seq, value, at: { from: at, to: at + f.head.size } });
    } else skipped++;
    last = seq;
    at += f.head.size;
  }
  const tornTail = !isBlank(bytes.subarray(at, Math.min(bytes.length, at + FRAME_HEAD)));
  // Anything intact and newer further on means the frame at `at` is damaged, not torn — except
  // inside the frame at `at` itself: its payload may be a user's bytes held inline, and those may
  // be a copy of a journal. There only the record right after the damaged one (`base + 2`)
  // counts: a length field damaged into covering the records after it still fails the open.
  const base = last ?? checkpointSeq;
  const cut = readHead(bytes.subarray(at));
  const cutEnd = cut ? at + cut.size : at;
  const newer: number[] = [];
  for (let p = alignUp(at + 1); p + FRAME_HEAD <= bytes.length; p += 8) {
    if (bytes[p] !== MAGIC_FIRST_BYTE) continue;
    const f = frameAt(bytes, p);
    if (!f || f.head.seq <= base) continue;
    if (p < cutEnd && f.head.seq !== base + 2) continue;
    newer.push(f.head.seq);
  }
  if (newer.length > 0) {
    const after = last === undefined ? `the checkpoint (record ${checkpointSeq})` : `record ${last}`;
    throw new JournalCorruptError([
      `the record after ${after}, at byte ${at}, is damaged (checksum or length)`,
      `${newer.length} intact later record(s) follow it (${newer[0]}..${newer[newer.length - 1]}), which cannot be replayed without it`,
    ]);
  }
  return { records, end: at, skipped, tornTail };
}

const MAGIC_FIRST_BYTE = FRAME_MAGIC & 0xff;

function isBlank(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

export class Journal {
  /** Bytes allocated to the file (its size). */
  private capacity: number;
  /** Bytes appended since the last reset. */
  get bytes(): number {
    return this.end;
  }

  private constructor(
    private readonly handle: SyncAccessHandle,
    private end: number,
    /** The number the next record gets. */
    public nextSeq: number,
  ) {
    this.capacity = handle.getSize();
  }

  /** Read the journal behind `handle` and position it for appending after its last intact record. */
  static open(handle: SyncAccessHandle, checkpointSeq: number): { journal: Journal; scan: JournalScan } {
    const size = handle.getSize();
    const bytes = new Uint8Array(size);
    const n = size > 0 ? handle.read(bytes, { at: 0 }) : 0;
    const scan = scanJournal(bytes.subarray(0, n), checkpointSeq);
    const lastSeq = scan.records.length > 0 ? scan.records[scan.records.length - 1]!.seq : checkpointSeq;
    const journal = new Journal(handle, scan.end, lastSeq + 1);
    // A torn tail is zeroed, so that a later, shorter record is never followed by its remains.
    if (scan.tornTail || size > scan.end) journal.zeroFrom(scan.end);
    return { journal, scan };
  }

  /** Where the last successful append() wrote its frame. */
  lastAppend: JournalRange | undefined;

  /**
   * Append one record (its number is nextSeq) and, if `durable`, flush it.
   * On failure (QuotaExceededError while growing, a short write) nothing is
   * appended: the next append overwrites what this one left.
   */
  append(value: JournalValue, durable: boolean, mayUseReserve = false): number {
    const seq = this.nextSeq;
    const frame = encodeFrame(seq, value);
    const need = this.end + frame.length;
    if (need + RESERVE_BYTES > this.capacity) {
      // A whole step if the quota allows, else exactly this record and the reserve (the last
      // megabyte of quota is usable too); out of quota, only a record that frees space may eat
      // into the reserve.
      const step = Math.ceil((need + RESERVE_BYTES) / GROW_BYTES) * GROW_BYTES;
      let failed = this.grow(step);
      if (failed) failed = this.grow(need + RESERVE_BYTES);
      if (failed && !(mayUseReserve && (need <= this.capacity || this.grow(need) === undefined))) throw failed;
    }
    const n = this.handle.write(frame, { at: this.end });
    if (n !== frame.length) throw new Error(`journal wrote ${n} of ${frame.length} bytes`);
    if (durable) this.flush();
    this.lastAppend = { from: this.end, to: this.end + frame.length };
    this.end += frame.length;
    this.nextSeq++;
    return seq;
  }

  /** The journal's bytes in `r` (frames appended since the last reset, or replayed at open). */
  read(r: JournalRange): Uint8Array {
    const out = new Uint8Array(r.to - r.from);
    const n = this.handle.read(out, { at: r.from });
    if (n !== out.length || r.to > this.end) throw new Error(`journal read ${n} of bytes ${r.from}..${r.to} (it holds ${this.end})`);
    return out;
  }

  /** Flushes so far (durable appends included): what a test can see of invariant 14's flush. */
  flushes = 0;

  flush(): void {
    this.handle.flush();
    this.flushes++;
  }

  /** Make the file `size` bytes; undefined when done, else the error (QuotaExceededError) that refused it. */
  private grow(size: number): unknown {
    try {
      this.handle.truncate(size);
      this.capacity = size;
      return undefined;
    } catch (e) {
      return e ?? new Error("truncate failed");
    }
  }

  /** Give the preallocated room back (out of quota: a checkpoint needs it more). */
  trimToEnd(): void {
    this.handle.truncate(this.end);
    this.capacity = this.end;
  }

  /** After a checkpoint that holds every record so far: start again from an empty journal. */
  reset(): void {
    this.zeroFrom(0);
  }

  private zeroFrom(at: number): void {
    this.handle.truncate(at);
    this.end = at;
    try {
      // Give back what a long journal grew to; keep one step preallocated (zeros).
      this.handle.truncate(Math.max(GROW_BYTES, alignUp(at)));
    } catch {
      // Out of quota: appends grow the file when they need to (and report ENOSPC if they cannot).
    }
    this.capacity = this.handle.getSize();
  }

  close(): void {
    this.handle.close();
  }
}
