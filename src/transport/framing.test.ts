import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { FrameReader, FramingError } from "./framing.js";

/** A well-formed frame of `size` bytes (size field, then bytes derived from `seed`). */
function frame(size: number, seed: number): Uint8Array {
  const f = new Uint8Array(size);
  new DataView(f.buffer).setUint32(0, size, true);
  for (let i = 4; i < size; i++) f[i] = (seed * 31 + i) & 0xff;
  return f;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** As plain Uint8Arrays (spanning frames are Node Buffers), to compare bytes only. */
function plain(frames: Uint8Array[]): Uint8Array[] {
  return frames.map((f) => new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
}

/** Feed `stream` cut at `cuts` (sorted offsets); returns every frame handed out. */
function feed(reader: FrameReader, stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cuts, stream.length]) {
    out.push(...plain(reader.push(stream.slice(at, c))));
    at = c;
  }
  return out;
}

describe("FrameReader", () => {
  it("hands out frames inside one chunk as views of it", () => {
    const a = frame(7, 1);
    const b = frame(30, 2);
    const chunk = concat([a, b]);
    const got = new FrameReader(1 << 20).push(chunk);
    expect(got).toEqual([a, b]);
    expect(got.every((f) => f.buffer === chunk.buffer)).toBe(true);
  });

  it("gives a frame spread over chunks a buffer of exactly its size, whatever follows it", () => {
    const big = frame(65559, 3);
    const next = frame(4096, 4);
    const stream = concat([big, next, next]);
    const r = new FrameReader(1 << 20);
    // As a pipelining client's stream may arrive: reads that cut a frame and hold the start of the next.
    const got = feed(r, stream, [65536, 67584]);
    expect(got).toEqual([big, next, next]);
    expect(got[0]!.byteOffset).toBe(0);
    expect(got[0]!.buffer.byteLength).toBe(big.length);
    expect(got[1]!.buffer.byteLength).toBe(next.length);
    expect(got[2]!.buffer.byteLength).toBe(stream.length - 67584); // whole in the last chunk: a view of it
    expect(r.partial).toBe(false);
  });

  it("reassembles any stream cut anywhere, the size field included", () => {
    const sizes = fc.array(fc.integer({ min: 7, max: 300 }), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(sizes, fc.array(fc.nat(), { maxLength: 12 }), (ss, rawCuts) => {
        const frames = ss.map((s, i) => frame(s, i));
        const stream = concat(frames);
        const cuts = [...new Set(rawCuts.map((c) => c % stream.length))].sort((x, y) => x - y);
        const r = new FrameReader(1 << 20);
        expect(feed(r, stream, cuts)).toEqual(frames);
        expect(r.partial).toBe(false);
      }),
    );
  });

  it("byte by byte, with a partial frame pending in between", () => {
    const f = frame(40, 5);
    const r = new FrameReader(1 << 20);
    const got: Uint8Array[] = [];
    for (let i = 0; i < f.length; i++) {
      got.push(...plain(r.push(f.subarray(i, i + 1))));
      expect(r.partial).toBe(i < f.length - 1);
    }
    expect(got).toEqual([f]);
  });

  it("rejects sizes no frame can have, also when the size field was cut", () => {
    expect(() => new FrameReader(1 << 20).push(new Uint8Array([6, 0, 0, 0, 1, 2, 3]))).toThrow(FramingError);
    const r = new FrameReader(100);
    expect(r.push(new Uint8Array([101, 0]))).toEqual([]);
    expect(() => r.push(new Uint8Array([0, 0, 1]))).toThrow(FramingError);
  });
});
