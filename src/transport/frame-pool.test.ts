import { describe, expect, it } from "vitest";
import { FramePool, frameAtStart } from "./frame-pool.js";

const KiB = 1024;

describe("FramePool (R4)", () => {
  it("never keeps more than maxBuffers buffers or maxBytes bytes, nor buffers outside its capacities", () => {
    const pool = new FramePool({ maxBuffers: 3, maxBytes: 200 * KiB, minCapacity: 16 * KiB, maxCapacity: 128 * KiB });
    pool.give(new ArrayBuffer(8 * KiB)); // too small to be worth it
    pool.give(new ArrayBuffer(256 * KiB)); // too large
    expect(pool.size).toBe(0);
    for (let i = 0; i < 10; i++) {
      pool.give(new ArrayBuffer(64 * KiB));
      expect(pool.size).toBeLessThanOrEqual(3);
      expect(pool.bytes).toBeLessThanOrEqual(200 * KiB);
    }
    expect(pool.size).toBe(3);
    expect(pool.bytes).toBe(192 * KiB);
    expect(pool.stats.dropped).toBe(2 + 7);
  });

  it("keeps a buffer once, however often it is given", () => {
    const pool = new FramePool();
    const b = new ArrayBuffer(64 * KiB);
    pool.give(b);
    pool.give(b);
    expect(pool.size).toBe(1);
    const first = pool.take(100);
    expect(first.buffer).toBe(b);
    expect(pool.take(100).buffer).not.toBe(b);
  });

  it("hands out the smallest kept buffer that holds the frame, as a view at offset 0 of exactly its size", () => {
    const pool = new FramePool();
    const big = new ArrayBuffer(512 * KiB);
    const small = new ArrayBuffer(64 * KiB);
    pool.give(big);
    pool.give(small);
    const f = pool.take(40 * KiB);
    expect(f.buffer).toBe(small);
    expect([f.byteOffset, f.length]).toEqual([0, 40 * KiB]);
    expect(pool.take(100 * KiB).buffer).toBe(big);
    expect(pool.size).toBe(0);
    expect(pool.stats.reused).toBe(2);
  });

  it("rounds fresh large buffers up to 64 KiB, so a Twrite's buffer carries an Rread of the same count; small ones are exact", () => {
    const pool = new FramePool();
    expect(pool.take(512 * KiB + 23).buffer.byteLength).toBe(576 * KiB);
    expect(pool.take(512 * KiB + 11).buffer.byteLength).toBe(576 * KiB);
    expect(pool.take(100).buffer.byteLength).toBe(100);
    expect(pool.stats.fresh).toBe(3);
  });

  it("says which frames were built in its buffers (only those are sent whole, with slack)", () => {
    const pool = new FramePool();
    const f = pool.take(20 * KiB);
    expect(pool.built(f)).toBe(true);
    expect(pool.built(f.subarray(1))).toBe(false);
    expect(pool.built(new Uint8Array(20 * KiB))).toBe(false);
  });
});

describe("frameAtStart (the port's wire rule)", () => {
  const message = (size: number, length: number) => {
    const b = new ArrayBuffer(length);
    new DataView(b).setUint32(0, size, true);
    return b;
  };

  it("takes the frame at the start of a buffer with slack after it", () => {
    const f = frameAtStart(message(11, 4096))!;
    expect([f.byteOffset, f.length, f.buffer.byteLength]).toEqual([0, 11, 4096]);
    expect(frameAtStart(message(11, 11))!.length).toBe(11);
  });

  it("refuses a size field shorter than a 9P header or past the buffer's end, and anything not an ArrayBuffer", () => {
    expect(frameAtStart(message(6, 64))).toBeUndefined();
    expect(frameAtStart(message(0, 64))).toBeUndefined();
    expect(frameAtStart(message(65, 64))).toBeUndefined();
    expect(frameAtStart(new ArrayBuffer(5))).toBeUndefined();
    expect(frameAtStart("worker9p:closed")).toBeUndefined();
  });
});
