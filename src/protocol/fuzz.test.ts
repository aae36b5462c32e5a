import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DecodeError,
  MAXWELEM,
  decodeDirEntries,
  decodeMessage,
  encodeDirEntries,
  encodeMessage,
  messageTypeName,
} from "./codec.js";
import { MessageType } from "./constants.js";
import { nameFromBytes } from "./name-bytes.js";
import type { DirEntry, Message, Qid, Timespec } from "./messages.js";

type Kind = Message["type"];
type Msg<K extends Kind> = Extract<Message, { type: K }>;

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff));
// Doubles of any magnitude up to 2^64 survive the trip: the codec splits them
// exactly and lo + hi*2^32 rebuilds the same double.
const u64 = fc.oneof(
  fc.maxSafeNat(),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(Number),
  fc.constantFrom(0, 2 ** 32, 2 ** 53, 2 ** 64),
);
// Strings as the decoder makes them: UTF-8 text, or any bytes (raw ones escaped, see name-bytes.ts).
const str = fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), fc.uint8Array({ maxLength: 12 }).map(nameFromBytes));
const data = fc.uint8Array({ maxLength: 64 });
const qid: fc.Arbitrary<Qid> = fc.record({ type: u8, version: u32, path: u64 });
// Seconds are signed on the wire (times before 1970).
const time: fc.Arbitrary<Timespec> = fc.record({ sec: fc.maxSafeInteger(), nsec: u64 });
const dirEntry: fc.Arbitrary<DirEntry> = fc.record({ qid, offset: u64, type: u8, name: str });

/** The body's fields are checked against the message type; the record itself is assembled untyped. */
function msg<K extends Kind>(
  type: K,
  body: { [F in Exclude<keyof Msg<K>, "type" | "tag">]: fc.Arbitrary<Msg<K>[F]> },
): fc.Arbitrary<Msg<K>> {
  const fields: Record<string, fc.Arbitrary<unknown>> = { tag: u16, ...body };
  return fc.record(fields).map((m) => ({ ...m, type }) as unknown as Msg<K>);
}

const arbitraries: { [K in Kind]: fc.Arbitrary<Msg<K>> } = {
  Tversion: msg("Tversion", { msize: u32, version: str }),
  Rversion: msg("Rversion", { msize: u32, version: str }),
  Tauth: msg("Tauth", { afid: u32, uname: str, aname: str, nuname: u32 }),
  Rauth: msg("Rauth", { aqid: qid }),
  Tattach: msg("Tattach", { fid: u32, afid: u32, uname: str, aname: str, nuname: u32 }),
  Rattach: msg("Rattach", { qid }),
  Tflush: msg("Tflush", { oldtag: u16 }),
  Rflush: msg("Rflush", {}),
  Twalk: msg("Twalk", { fid: u32, newfid: u32, names: fc.array(str, { maxLength: MAXWELEM }) }),
  Rwalk: msg("Rwalk", { qids: fc.array(qid, { maxLength: MAXWELEM }) }),
  Tread: msg("Tread", { fid: u32, offset: u64, count: u32 }),
  Rread: msg("Rread", { data }),
  Twrite: msg("Twrite", { fid: u32, offset: u64, data }),
  Rwrite: msg("Rwrite", { count: u32 }),
  Tclunk: msg("Tclunk", { fid: u32 }),
  Rclunk: msg("Rclunk", {}),
  Tremove: msg("Tremove", { fid: u32 }),
  Rremove: msg("Rremove", {}),
  Tstatfs: msg("Tstatfs", { fid: u32 }),
  Rstatfs: msg("Rstatfs", {
    stat: fc.record({
      type: u32,
      bsize: u32,
      blocks: u64,
      bfree: u64,
      bavail: u64,
      files: u64,
      ffree: u64,
      fsid: u64,
      namelen: u32,
    }),
  }),
  Tlopen: msg("Tlopen", { fid: u32, flags: u32 }),
  Rlopen: msg("Rlopen", { qid, iounit: u32 }),
  Tlcreate: msg("Tlcreate", { fid: u32, name: str, flags: u32, mode: u32, gid: u32 }),
  Rlcreate: msg("Rlcreate", { qid, iounit: u32 }),
  Tsymlink: msg("Tsymlink", { fid: u32, name: str, target: str, gid: u32 }),
  Rsymlink: msg("Rsymlink", { qid }),
  Tmknod: msg("Tmknod", { dfid: u32, name: str, mode: u32, major: u32, minor: u32, gid: u32 }),
  Rmknod: msg("Rmknod", { qid }),
  Trename: msg("Trename", { fid: u32, dfid: u32, name: str }),
  Rrename: msg("Rrename", {}),
  Treadlink: msg("Treadlink", { fid: u32 }),
  Rreadlink: msg("Rreadlink", { target: str }),
  Tgetattr: msg("Tgetattr", { fid: u32, mask: u64 }),
  Rgetattr: msg("Rgetattr", {
    attr: fc.record({
      valid: u64,
      qid,
      mode: u32,
      uid: u32,
      gid: u32,
      nlink: u64,
      rdev: u64,
      size: u64,
      blksize: u64,
      blocks: u64,
      atime: time,
      mtime: time,
      ctime: time,
      btime: time,
      gen: u64,
      dataVersion: u64,
    }),
  }),
  Tsetattr: msg("Tsetattr", {
    fid: u32,
    attr: fc.record({ valid: u32, mode: u32, uid: u32, gid: u32, size: u64, atime: time, mtime: time }),
  }),
  Rsetattr: msg("Rsetattr", {}),
  Txattrwalk: msg("Txattrwalk", { fid: u32, newfid: u32, name: str }),
  Rxattrwalk: msg("Rxattrwalk", { size: u64 }),
  Txattrcreate: msg("Txattrcreate", { fid: u32, name: str, size: u64, flags: u32 }),
  Rxattrcreate: msg("Rxattrcreate", {}),
  Treaddir: msg("Treaddir", { fid: u32, offset: u64, count: u32 }),
  Rreaddir: msg("Rreaddir", { data }),
  Tfsync: msg("Tfsync", { fid: u32, datasync: u32 }),
  Rfsync: msg("Rfsync", {}),
  Tlock: msg("Tlock", {
    fid: u32,
    lock: fc.record({ type: u8, flags: u32, start: u64, length: u64, procId: u32, clientId: str }),
  }),
  Rlock: msg("Rlock", { status: u8 }),
  Tgetlock: msg("Tgetlock", {
    fid: u32,
    lock: fc.record({ type: u8, start: u64, length: u64, procId: u32, clientId: str }),
  }),
  Rgetlock: msg("Rgetlock", {
    lock: fc.record({ type: u8, start: u64, length: u64, procId: u32, clientId: str }),
  }),
  Tlink: msg("Tlink", { dfid: u32, fid: u32, name: str }),
  Rlink: msg("Rlink", {}),
  Tmkdir: msg("Tmkdir", { dfid: u32, name: str, mode: u32, gid: u32 }),
  Rmkdir: msg("Rmkdir", { qid }),
  Trenameat: msg("Trenameat", { olddirfid: u32, oldname: str, newdirfid: u32, newname: str }),
  Rrenameat: msg("Rrenameat", {}),
  Tunlinkat: msg("Tunlinkat", { dirfid: u32, name: str, flags: u32 }),
  Runlinkat: msg("Runlinkat", {}),
  Rlerror: msg("Rlerror", { ecode: u32 }),
};

const anyMessage: fc.Arbitrary<Message> = fc.oneof(...Object.values(arbitraries));
const validFrame = anyMessage.map(encodeMessage);

/** decodeMessage may return or throw DecodeError; anything else fails the property. */
function decodesOrDecodeError(frame: Uint8Array): void {
  try {
    decodeMessage(frame);
  } catch (e) {
    if (!(e instanceof DecodeError)) throw e;
    expect(typeof e.errno).toBe("number");
    if (frame.length >= 7) {
      expect(e.tag).toBe(frame[5]! | (frame[6]! << 8));
      expect(e.type).toBe(frame[4]);
    }
  }
}

function setSize(frame: Uint8Array): Uint8Array {
  const n = frame.length;
  if (n >= 4) {
    frame[0] = n;
    frame[1] = n >>> 8;
    frame[2] = n >>> 16;
    frame[3] = n >>> 24;
  }
  return frame;
}

describe("round trip", () => {
  for (const type of Object.keys(arbitraries) as Kind[]) {
    it(type, () => {
      fc.assert(
        fc.property(arbitraries[type] as fc.Arbitrary<Message>, (m) => {
          const frame = encodeMessage(m);
          expect(frame.length).toBe(frame[0]! | (frame[1]! << 8) | (frame[2]! << 16) | (frame[3]! << 24));
          expect(frame[4]).toBe(MessageType[type]);
          expect(decodeMessage(frame)).toEqual(m);
        }),
        { numRuns: 60 },
      );
    });
  }

  it("directory entries", () => {
    fc.assert(
      fc.property(fc.array(dirEntry, { maxLength: 8 }), fc.nat(600), (entries, max) => {
        const { data, count } = encodeDirEntries(entries, max);
        expect(data.length).toBeLessThanOrEqual(max);
        expect(decodeDirEntries(data)).toEqual(entries.slice(0, count));
      }),
    );
  });
});

describe("hostile input", () => {
  it("arbitrary bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), decodesOrDecodeError), { numRuns: 2000 });
  });

  it("arbitrary bodies behind a plausible header", () => {
    const knownType = fc.integer({ min: 0, max: 255 }).filter((t) => messageTypeName(t) !== undefined);
    fc.assert(
      fc.property(knownType, u16, fc.uint8Array({ maxLength: 120 }), (type, tag, body) => {
        const frame = new Uint8Array(7 + body.length);
        frame[4] = type;
        frame[5] = tag;
        frame[6] = tag >>> 8;
        frame.set(body, 7);
        decodesOrDecodeError(setSize(frame));
      }),
      { numRuns: 3000 },
    );
  });

  it("valid frames with flipped bytes, truncations and extensions", () => {
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: u8 }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("grow" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    );
    fc.assert(
      fc.property(validFrame, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (orig, muts, fix) => {
        let frame = orig.slice();
        for (const m of muts) {
          if (m.kind === "set") {
            if (frame.length > 0) frame[m.at % frame.length] = m.value;
          } else if (m.kind === "cut") {
            frame = frame.slice(0, m.at % (frame.length + 1));
          } else {
            const grown = new Uint8Array(frame.length + m.extra.length);
            grown.set(frame);
            grown.set(m.extra, frame.length);
            frame = grown;
          }
        }
        // With the size fixed up, mutations reach the body decoders instead of the size check.
        decodesOrDecodeError(fix ? setSize(frame) : frame);
      }),
      { numRuns: 3000 },
    );
  });

  it("arbitrary directory data", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (data) => {
        try {
          decodeDirEntries(data);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
