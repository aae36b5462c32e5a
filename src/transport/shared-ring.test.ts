import { describe, expect, test } from "vitest";
import { RecordKind, SharedRing } from "./shared-ring.js";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + i) & 0xff);

describe("SharedRing", () => {
  test("records come out in order, with their kinds and exact bytes", () => {
    const ring = SharedRing.create(256);
    expect(ring.tryWrite(RecordKind.bytes, bytes(11, 1))).toBe(true);
    expect(ring.tryWrite(RecordKind.text, new TextEncoder().encode("worker9p:closed"))).toBe(true);
    expect(ring.tryWrite(RecordKind.elsewhere)).toBe(true);
    expect(ring.tryRead()).toEqual({ kind: RecordKind.bytes, bytes: bytes(11, 1) });
    const text = ring.tryRead()!;
    expect(text.kind).toBe(RecordKind.text);
    expect(new TextDecoder().decode(text.bytes)).toBe("worker9p:closed");
    expect(ring.tryRead()).toEqual({ kind: RecordKind.elsewhere, bytes: new Uint8Array(0) });
    expect(ring.tryRead()).toBeUndefined();
    expect(ring.used).toBe(0);
  });

  test("payloads that straddle the end of the ring come out whole, over many turns", () => {
    const ring = SharedRing.create(64);
    const sent: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    for (let i = 0; i < 500; i++) {
      const payload = bytes(1 + ((i * 7) % 40), i);
      while (!ring.tryWrite(RecordKind.bytes, payload)) got.push(ring.tryRead()!.bytes);
      sent.push(payload);
    }
    for (let r = ring.tryRead(); r; r = ring.tryRead()) got.push(r.bytes);
    expect(got).toEqual(sent);
    expect(ring.written).toBe(ring.read);
  });

  test("a full ring refuses a record without writing any of it, and takes it once space is read", () => {
    const ring = SharedRing.create(32);
    expect(ring.tryWrite(RecordKind.bytes, bytes(12, 1))).toBe(true); // 16 bytes
    expect(ring.tryWrite(RecordKind.bytes, bytes(9, 2))).toBe(true); // 16 bytes: full
    const before = ring.written;
    expect(ring.fits(1)).toBe(false);
    expect(ring.tryWrite(RecordKind.bytes, bytes(1, 3))).toBe(false);
    expect(ring.written).toBe(before);
    expect(ring.tryRead()!.bytes).toEqual(bytes(12, 1));
    expect(ring.tryWrite(RecordKind.bytes, bytes(12, 3))).toBe(true);
    expect(ring.tryRead()!.bytes).toEqual(bytes(9, 2));
    expect(ring.tryRead()!.bytes).toEqual(bytes(12, 3));
  });

  test("a record larger than the whole ring is a RangeError; the largest one fills an empty ring", () => {
    const ring = SharedRing.create(64);
    expect(() => ring.tryWrite(RecordKind.bytes, bytes(61, 0))).toThrow(/61 bytes cannot fit a ring of 64/);
    expect(ring.fits(61)).toBe(false);
    expect(ring.tryWrite(RecordKind.bytes, bytes(60, 4))).toBe(true);
    expect(ring.used).toBe(64);
    expect(ring.tryRead()!.bytes).toEqual(bytes(60, 4));
  });

  test("a capacity that is not a power of two is refused", () => {
    expect(() => SharedRing.create(100)).toThrow(RangeError);
    expect(() => SharedRing.create(8)).toThrow(RangeError);
  });

  test("a second view of the same buffer (another thread's) sees the records and frees the space", async () => {
    const writer = SharedRing.create(64);
    const reader = new SharedRing(writer.buffer);
    const seen = reader.doorbell;
    const arrived = reader.doorbellChanged(seen);
    writer.tryWrite(RecordKind.bytes, bytes(5, 9));
    await arrived;
    const freed = writer.readChanged(writer.read);
    expect(reader.tryRead()!.bytes).toEqual(bytes(5, 9));
    await freed;
    expect(writer.used).toBe(0);
  });

  test("the doorbell rings for a reader in its event loop, not while it takes synchronously, and again for what it left (S3)", () => {
    const writer = SharedRing.create(64);
    const reader = new SharedRing(writer.buffer);
    let bell = reader.doorbell;
    writer.tryWrite(RecordKind.bytes, bytes(3, 1));
    expect(reader.doorbell).not.toBe(bell);
    reader.tryRead();
    reader.takingBegin();
    bell = reader.doorbell;
    writer.tryWrite(RecordKind.bytes, bytes(3, 2));
    expect(reader.tryRead()!.bytes).toEqual(bytes(3, 2));
    writer.tryWrite(RecordKind.bytes, bytes(3, 3)); // not taken before the span ends
    expect(reader.doorbell).toBe(bell);
    reader.takingDone();
    expect(reader.doorbell).not.toBe(bell);
    expect(reader.tryRead()!.bytes).toEqual(bytes(3, 3));
    bell = reader.doorbell;
    reader.takingBegin();
    reader.takingDone(); // nothing left: quiet
    expect(reader.doorbell).toBe(bell);
  });
});
