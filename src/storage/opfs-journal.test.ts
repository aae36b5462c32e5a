import { describe, expect, test } from "vitest";
import { crc32, decodeValue, encodeFrame, type JournalValue } from "./journal-codec.js";
import { GROW_BYTES, Journal, JournalCorruptError, RESERVE_BYTES, scanJournal } from "./opfs-journal.js";
import type { SyncAccessHandle } from "./opfs-files.js";

/** A sync access handle over memory, with an optional size limit (quota). */
class MemHandle implements SyncAccessHandle {
  bytes = new Uint8Array(0);
  flushes = 0;
  constructor(private readonly limit = Infinity) {}
  read(buffer: ArrayBufferView, options?: { at?: number }): number {
    const at = options?.at ?? 0;
    const src = this.bytes.subarray(at, at + buffer.byteLength);
    new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength).set(src);
    return src.length;
  }
  write(buffer: ArrayBufferView, options?: { at?: number }): number {
    const at = options?.at ?? 0;
    const end = at + buffer.byteLength;
    if (end > this.bytes.length) this.truncate(end);
    this.bytes.set(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), at);
    return buffer.byteLength;
  }
  truncate(size: number): void {
    if (size > this.limit) throw Object.assign(new Error("quota"), { name: "QuotaExceededError" });
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, size));
    this.bytes = next;
  }
  getSize(): number {
    return this.bytes.length;
  }
  flush(): void {
    this.flushes++;
  }
  close(): void {}
}

const sample: JournalValue = {
  i: [[5, { ino: 5, mode: 0o100644, size: 2 ** 40 + 3, atime: { sec: 1_700_000_000, nsec: 5 }, xattrs: [["user.a", new Uint8Array([1, 2, 3])]] }], [6, null]],
  e: [[1, "naïve \u{1F600}", { dir: 1, name: "naïve \u{1F600}", ino: 5, cookie: 3, dtype: 8 }]],
  m: [["nextIno", 7]],
  f: [-1, 0.5, -0, true, false, undefined, new Uint8Array(0)],
};

describe("journal codec", () => {
  test("values round-trip, bytes and big numbers included", () => {
    const frame = encodeFrame(1, sample);
    expect(frame.length % 8).toBe(0);
    const scan = scanJournal(frame, 0);
    expect(scan.records.map(({ seq, value }) => ({ seq, value }))).toEqual([{ seq: 1, value: sample }]);
    expect(scan.records[0]!.at).toEqual({ from: 0, to: frame.length });
    expect(Object.is((decodeValue(encodeFrame(1, -0).subarray(20, 29)) as number), -0)).toBe(true);
  });

  test("crc32 is the IEEE one", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    // Bit by bit, the definition, against the sliced tables: every length around the 8-byte step, and continued.
    const reference = (b: Uint8Array, crc = 0): number => {
      let c = ~crc >>> 0;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
      }
      return ~c >>> 0;
    };
    const bytes = Uint8Array.from({ length: 1037 }, (_, i) => (i * 151 + 7) & 0xff);
    for (let n = 0; n <= 40; n++) expect(crc32(bytes.subarray(3, 3 + n))).toBe(reference(bytes.subarray(3, 3 + n)));
    expect(crc32(bytes)).toBe(reference(bytes));
    expect(crc32(bytes.subarray(517), crc32(bytes.subarray(0, 517)))).toBe(reference(bytes));
  });
});

function journalOf(...values: JournalValue[]): { h: MemHandle; j: Journal } {
  const h = new MemHandle();
  const { journal: j } = Journal.open(h, 0);
  for (const v of values) j.append(v, false);
  return { h, j };
}

describe("journal", () => {
  test("replays appended records in order after the checkpoint, and appends after them", () => {
    const { h } = journalOf("a", "b", "c");
    expect(h.getSize()).toBe(GROW_BYTES);
    const { journal, scan } = Journal.open(h, 1);
    expect(scan.records.map((r) => r.value)).toEqual(["b", "c"]);
    expect(scan.skipped).toBe(1);
    expect(scan.tornTail).toBe(false);
    expect(journal.append("d", true)).toBe(4);
    expect(h.flushes).toBe(1);
    expect(Journal.open(h, 0).scan.records.map((r) => r.value)).toEqual(["a", "b", "c", "d"]);
  });

  test("a torn tail (crash mid-append) is ignored, and the next append replaces it", () => {
    const { h, j } = journalOf("a", "b");
    const at = j.bytes;
    const frame = encodeFrame(3, "a record cut short by a crash");
    h.write(frame.subarray(0, frame.length - 5), { at });
    const { journal, scan } = Journal.open(h, 0);
    expect(scan.records.map((r) => r.value)).toEqual(["a", "b"]);
    expect(scan.tornTail).toBe(true);
    journal.append("c", false);
    expect(Journal.open(h, 0).scan).toMatchObject({ records: [{ seq: 1 }, { seq: 2 }, { seq: 3, value: "c" }], tornTail: false });
  });

  test("a torn last record whose bytes hold a whole journal frame (a user's file inline) is a torn tail, not damage", () => {
    const { h, j } = journalOf("a", "b");
    const at = j.bytes;
    // The user's data: a copy of some journal, its frames numbered past ours.
    const copied = [...encodeFrame(7, "copied"), ...encodeFrame(8, "journal")];
    // Shifted so that the copied frames sit at 8-byte boundaries of the journal, where a scan looks.
    const innerAt = (pad: number) => at + encodeFrame(3, new Uint8Array([...new Uint8Array(pad), ...copied])).indexOf(0x57, 20);
    const pad = (8 - (innerAt(0) % 8)) % 8;
    const frame = encodeFrame(3, new Uint8Array([...new Uint8Array(pad), ...copied]));
    expect(innerAt(pad) % 8).toBe(0);
    h.write(frame.subarray(0, frame.length - 24), { at }); // cut inside the second inner frame; the first stays whole
    const { scan } = Journal.open(h, 0);
    expect(scan.records.map((r) => r.value)).toEqual(["a", "b"]);
    expect(scan.tornTail).toBe(true);
  });

  test("a damaged record whose length field claims the records after it still fails the open", () => {
    const { h } = journalOf("a", "b", "c", "d");
    const second = encodeFrame(1, "a").length;
    // Record 2's payload length now covers records 3 and 4: its checksum fails, 3 and 4 stay intact.
    new DataView(h.bytes.buffer, h.bytes.byteOffset).setUint32(second + 4, 200, true);
    expect(() => Journal.open(h, 0)).toThrow(JournalCorruptError);
  });

  test("a damaged record in the middle fails with a report naming it", () => {
    const { h } = journalOf("a", "b", "c");
    // Flip one payload byte of record 2.
    const second = encodeFrame(1, "a").length;
    h.bytes[second + 21] ^= 0xff;
    expect(() => Journal.open(h, 0)).toThrow(JournalCorruptError);
    try {
      Journal.open(h, 0);
    } catch (e) {
      expect((e as JournalCorruptError).problems.join(" ")).toMatch(/after record 1, at byte \d+, is damaged.*1 intact later record\(s\) follow it \(3\.\.3\)/);
    }
  });

  test("records missing between the checkpoint and the journal are reported", () => {
    const { h } = journalOf("a", "b");
    // A checkpoint at 0 but a journal that starts at 1 is fine; one that claims to start later is not.
    const bytes = encodeFrame(5, "x");
    const g = new MemHandle();
    g.write(bytes, { at: 0 });
    expect(() => Journal.open(g, 2)).toThrow(/records 3\.\.4 are missing/);
    expect(Journal.open(h, 0).scan.records.length).toBe(2);
  });

  test("after a reset, stale frames are never replayed", () => {
    const { h, j } = journalOf("a", "b", "c");
    j.reset();
    j.append("d", false);
    expect(Journal.open(h, 3).scan.records.map(({ seq, value }) => ({ seq, value }))).toEqual([{ seq: 4, value: "d" }]);
  });

  test("quota: an append that cannot grow the file throws and appends nothing", () => {
    const h = new MemHandle(GROW_BYTES);
    const { journal } = Journal.open(h, 0);
    journal.append("small", false);
    expect(() => journal.append(new Uint8Array(GROW_BYTES), false)).toThrow(/quota/);
    journal.append("after", false);
    expect(Journal.open(h, 0).scan.records.map((r) => r.value)).toEqual(["small", "after"]);
  });

  test("quota: less than a growth step left is still used, and a record that frees space may take the reserve", () => {
    // Room for the reserve and about 3 KiB of records, far less than one GROW_BYTES step.
    const h = new MemHandle(RESERVE_BYTES + 3 * 1024);
    const { journal } = Journal.open(h, 0);
    const record = new Uint8Array(1000);
    journal.append(record, false);
    journal.append(record, false);
    // A third no longer leaves the reserve whole: refused, unless it frees space.
    expect(() => journal.append(record, false)).toThrow(/quota/);
    journal.append("a delete", false, true);
    expect(Journal.open(h, 0).scan.records.map((r) => r.value)).toEqual([record, record, "a delete"]);
  });
});
