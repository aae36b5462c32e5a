// Names are bytes (issue 8 item 9) in the OPFS metadata journal too: an entry named with raw
// bytes (a Latin-1 "caf\xe9" is the string "caf\udce9", see protocol/name-bytes.ts) must come
// back from a replay as the same name, not as U+FFFD — else two such names would collide.
import { describe, expect, test } from "vitest";
import { decodeValue, encodeFrame, framePayload, readHead, type JournalValue } from "./journal-codec.js";

function roundTrip(v: JournalValue): JournalValue {
  const frame = encodeFrame(1, v);
  return decodeValue(framePayload(frame, readHead(frame)!));
}

describe("journal strings are lossless for raw-byte names", () => {
  test("entry names, symlink targets and object keys with escaped bytes replay unchanged", () => {
    const names = ["caf\udce9", "caf\udce8", "\udcff\udcfe", "ok é 😀", "x\udc80y"];
    for (const name of names) {
      expect(roundTrip(name)).toBe(name);
      expect(roundTrip({ dir: 1, name, ino: 5, cookie: 3, dtype: 8 })).toEqual({ dir: 1, name, ino: 5, cookie: 3, dtype: 8 });
      expect(roundTrip({ [name]: 1 })).toEqual({ [name]: 1 });
    }
  });
});
