import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeMessage } from "./codec.js";
import { displayName, isCanonicalName, nameFromBytes, nameToBytes, utf8Length } from "./name-bytes.js";

const bytes = fc.uint8Array({ maxLength: 40 });
/** Byte strings that are mostly UTF-8 with raw bytes mixed in: where the escaping has edge cases. */
const mixedBytes = fc
  .array(fc.oneof(fc.string({ unit: "binary", maxLength: 4 }).map((s) => new TextEncoder().encode(s)), fc.uint8Array({ minLength: 1, maxLength: 3 })), { maxLength: 8 })
  .map((parts) => Uint8Array.from(parts.flatMap((p) => [...p])));
/** Any UTF-16 string at all, lone surrogates included. */
const anyUnits = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }).map((u) => String.fromCharCode(...u));

describe("names are bytes (surrogateescape)", () => {
  it("every byte string survives bytes → name → bytes", () => {
    fc.assert(fc.property(fc.oneof(bytes, mixedBytes), (b) => {
      expect([...nameToBytes(nameFromBytes(b))]).toEqual([...b]);
    }), { numRuns: 2000 });
  });

  it("valid UTF-8 decodes as TextDecoder does, so trees stored before keep their names", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 30 }), (s) => {
      const b = new TextEncoder().encode(s);
      expect(nameFromBytes(b)).toBe(s);
      expect([...nameToBytes(s)]).toEqual([...b]);
    }));
  });

  it("the names a decode yields are canonical and come back unchanged", () => {
    fc.assert(fc.property(fc.oneof(bytes, mixedBytes), (b) => {
      const name = nameFromBytes(b);
      expect(isCanonicalName(name)).toBe(true);
      expect(nameFromBytes(nameToBytes(name))).toBe(name);
    }), { numRuns: 2000 });
  });

  it("utf8Length is the encoded size of any string", () => {
    fc.assert(fc.property(anyUnits, (s) => {
      expect(utf8Length(s)).toBe(nameToBytes(s).length);
    }), { numRuns: 2000 });
  });

  it("a Latin-1 name keeps its one byte per character", () => {
    const b = Uint8Array.from([0x63, 0x61, 0x66, 0xe9]);
    const name = nameFromBytes(b);
    expect(name).toBe("caf\udce9");
    expect(utf8Length(name)).toBe(4);
    // the UTF-8 spelling is another name
    expect(nameFromBytes(new TextEncoder().encode("café"))).not.toBe(name);
  });

  it("strings that spell some other name's bytes are not canonical", () => {
    expect(isCanonicalName("\udcc3\udca9")).toBe(false); // the bytes of "é"
    expect(isCanonicalName("a\ud800")).toBe(false); // encodes as U+FFFD
    expect(isCanonicalName("\udc41")).toBe(false); // not an escape of a byte ≥ 0x80
    expect(isCanonicalName("café 😀")).toBe(true);
    expect(isCanonicalName("caf\udce9")).toBe(true);
  });

  it("displayName shows each raw byte as U+FFFD and leaves well-formed text alone", () => {
    expect(displayName("caf\udce9")).toBe("caf\ufffd");
    expect(displayName("😀 é")).toBe("😀 é");
    fc.assert(fc.property(anyUnits, (s) => {
      const shown = displayName(s);
      expect(() => encodeURIComponent(shown)).not.toThrow(); // well-formed UTF-16
      expect(shown.length).toBe(s.length);
    }));
  });

  it("names in any message round-trip through the codec byte for byte", () => {
    fc.assert(fc.property(fc.array(fc.oneof(bytes, mixedBytes), { minLength: 1, maxLength: 16 }), (raw) => {
      const names = raw.map(nameFromBytes);
      const frame = encodeMessage({ type: "Twalk", tag: 1, fid: 1, newfid: 2, names });
      const back = decodeMessage(frame) as { names: string[] };
      expect(back.names).toEqual(names);
      expect(back.names.map((n) => [...nameToBytes(n)])).toEqual(raw.map((b) => [...b]));
    }));
  });
});
