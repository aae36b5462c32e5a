import { describe, expect, it } from "vitest";
import {
  DecodeError,
  EncodeError,
  allocRread,
  encodeRreadHead,
  allocTwrite,
  encodeTwriteHead,
  decodeDirEntries,
  decodeMessage,
  dirEntrySize,
  encodeDirEntries,
  encodeMessage,
  encodeMessageInto,
  encodeRreaddir,
  encodedSize,
  finishRread,
  isRMessageType,
  isTMessageType,
  messageTypeName,
  peekHeader,
} from "./codec.js";
import { Errno } from "./errno.js";
import type { DirEntry, Message, Qid } from "./messages.js";

/** Hex with any whitespace, `|` or `.` as separators (to show field boundaries). */
function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|.]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`bad hex: ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const bytes = (...xs: number[]) => new Uint8Array(xs);

// Field values are chosen distinct so a swapped or misplaced field shows up.
// qid type 0x80 version 0x01020304 path 0x0102030405
const QID: Qid = { type: 0x80, version: 0x01020304, path: 0x0102030405 };
const QID_HEX = "80 04030201 0504030201000000";
const QID2: Qid = { type: 0, version: 0, path: 7 };
const QID2_HEX = "00 00000000 0700000000000000";

/**
 * [message, bytes]: size[4] type[1] tag[2] body, all little-endian,
 * written out by hand from diod's protocol.md.
 */
const vectors: [Message, string][] = [
  // Tversion=100 tag NOTAG msize 8192 "9P2000.L"; size 7+4+2+8 = 21
  [
    { type: "Tversion", tag: 0xffff, msize: 8192, version: "9P2000.L" },
    "15000000 64 ffff | 00200000 | 0800 3950323030302e4c",
  ],
  [
    { type: "Rversion", tag: 0xffff, msize: 8192, version: "9P2000.L" },
    "15000000 65 ffff | 00200000 | 0800 3950323030302e4c",
  ],
  // Tauth=102 afid uname aname n_uname; 7+4+4+2+4 = 21
  [
    { type: "Tauth", tag: 1, afid: 0x0a, uname: "ab", aname: "", nuname: 1000 },
    "15000000 66 0100 | 0a000000 | 0200 6162 | 0000 | e8030000",
  ],
  [{ type: "Rauth", tag: 1, aqid: QID }, `14000000 67 0100 | ${QID_HEX}`],
  // Tattach=104 fid afid uname aname n_uname; 7+4+4+4+4+4 = 27
  [
    { type: "Tattach", tag: 1, fid: 0x0a, afid: 0xffffffff, uname: "ab", aname: "/x", nuname: 0xffffffff },
    "1b000000 68 0100 | 0a000000 | ffffffff | 0200 6162 | 0200 2f78 | ffffffff",
  ],
  [{ type: "Rattach", tag: 1, qid: QID }, `14000000 69 0100 | ${QID_HEX}`],
  // Tflush=108 oldtag[2]
  [{ type: "Tflush", tag: 1, oldtag: 0x0203 }, "09000000 6c 0100 | 0302"],
  [{ type: "Rflush", tag: 1 }, "07000000 6d 0100"],
  // Twalk=110 fid newfid nwname "ab" "é"; 7+4+4+2+4+4 = 25
  [
    { type: "Twalk", tag: 1, fid: 0x0a, newfid: 0x0b, names: ["ab", "é"] },
    "19000000 6e 0100 | 0a000000 | 0b000000 | 0200 | 0200 6162 | 0200 c3a9",
  ],
  // Rwalk=111 nwqid[2] qids; 7+2+26 = 35
  [{ type: "Rwalk", tag: 1, qids: [QID, QID2] }, `23000000 6f 0100 | 0200 | ${QID_HEX} | ${QID2_HEX}`],
  // Tread=116 fid offset[8]=2^32+2 count; 7+16 = 23
  [
    { type: "Tread", tag: 1, fid: 0x0a, offset: 4294967298, count: 0x1000 },
    "17000000 74 0100 | 0a000000 | 0200000001000000 | 00100000",
  ],
  // Rread=117 count[4] data; 7+4+3 = 14
  [{ type: "Rread", tag: 1, data: bytes(0x61, 0x62, 0x63) }, "0e000000 75 0100 | 03000000 | 616263"],
  // Twrite=118 fid offset count data; 7+4+8+4+2 = 25
  [
    { type: "Twrite", tag: 1, fid: 0x0a, offset: 5, data: bytes(0x68, 0x69) },
    "19000000 76 0100 | 0a000000 | 0500000000000000 | 02000000 | 6869",
  ],
  [{ type: "Rwrite", tag: 1, count: 2 }, "0b000000 77 0100 | 02000000"],
  [{ type: "Tclunk", tag: 1, fid: 0x0a }, "0b000000 78 0100 | 0a000000"],
  [{ type: "Rclunk", tag: 1 }, "07000000 79 0100"],
  [{ type: "Tremove", tag: 1, fid: 0x0a }, "0b000000 7a 0100 | 0a000000"],
  [{ type: "Rremove", tag: 1 }, "07000000 7b 0100"],
  [{ type: "Tstatfs", tag: 1, fid: 0x0a }, "0b000000 08 0100 | 0a000000"],
  // Rstatfs=9 type bsize blocks bfree bavail files ffree fsid namelen; 7+4+4+6*8+4 = 67
  [
    {
      type: "Rstatfs",
      tag: 1,
      stat: {
        type: 0x01021997,
        bsize: 4096,
        blocks: 100,
        bfree: 50,
        bavail: 40,
        files: 1000,
        ffree: 900,
        fsid: 0x1122334455,
        namelen: 255,
      },
    },
    "43000000 09 0100 | 97190201 | 00100000 | 6400000000000000 | 3200000000000000 | 2800000000000000" +
      " | e803000000000000 | 8403000000000000 | 5544332211000000 | ff000000",
  ],
  // Tlopen=12 fid flags (O_RDWR|O_LARGEFILE)
  [{ type: "Tlopen", tag: 1, fid: 0x0a, flags: 0x8002 }, "0f000000 0c 0100 | 0a000000 | 02800000"],
  // Rlopen=13 qid iounit; 7+13+4 = 24
  [{ type: "Rlopen", tag: 1, qid: QID, iounit: 0x2000 }, `18000000 0d 0100 | ${QID_HEX} | 00200000`],
  // Tlcreate=14 fid name flags mode gid; 7+4+4+4+4+4 = 27
  [
    { type: "Tlcreate", tag: 1, fid: 0x0a, name: "ab", flags: 0x8241, mode: 0o100644, gid: 1000 },
    "1b000000 0e 0100 | 0a000000 | 0200 6162 | 41820000 | a4810000 | e8030000",
  ],
  [{ type: "Rlcreate", tag: 1, qid: QID2, iounit: 4096 }, `18000000 0f 0100 | ${QID2_HEX} | 00100000`],
  // Tsymlink=16 fid name symtgt gid; 7+4+4+4+4 = 23
  [
    { type: "Tsymlink", tag: 1, fid: 0x0a, name: "ab", target: "/x", gid: 1000 },
    "17000000 10 0100 | 0a000000 | 0200 6162 | 0200 2f78 | e8030000",
  ],
  [{ type: "Rsymlink", tag: 1, qid: QID }, `14000000 11 0100 | ${QID_HEX}`],
  // Tmknod=18 dfid name mode major minor gid; 7+4+4+16 = 31
  [
    { type: "Tmknod", tag: 1, dfid: 0x0c, name: "ab", mode: 0o020644, major: 1, minor: 3, gid: 1000 },
    "1f000000 12 0100 | 0c000000 | 0200 6162 | a4210000 | 01000000 | 03000000 | e8030000",
  ],
  [{ type: "Rmknod", tag: 1, qid: QID }, `14000000 13 0100 | ${QID_HEX}`],
  // Trename=20 fid dfid name; 7+4+4+4 = 19
  [
    { type: "Trename", tag: 1, fid: 0x0a, dfid: 0x0c, name: "ab" },
    "13000000 14 0100 | 0a000000 | 0c000000 | 0200 6162",
  ],
  [{ type: "Rrename", tag: 1 }, "07000000 15 0100"],
  [{ type: "Treadlink", tag: 1, fid: 0x0a }, "0b000000 16 0100 | 0a000000"],
  [{ type: "Rreadlink", tag: 1, target: "/x" }, "0b000000 17 0100 | 0200 2f78"],
  // Tgetattr=24 fid request_mask[8]; 7+12 = 19
  [{ type: "Tgetattr", tag: 1, fid: 0x0a, mask: 0x3fff }, "13000000 18 0100 | 0a000000 | ff3f000000000000"],
  // Rgetattr=25: valid[8] qid mode uid gid nlink rdev size blksize blocks 4*(sec nsec) gen data_version
  // 7 + 8 + 13 + 12 + 15*8 = 160
  [
    {
      type: "Rgetattr",
      tag: 1,
      attr: {
        valid: 0x3fff,
        qid: QID,
        mode: 0o100644,
        uid: 1000,
        gid: 100,
        nlink: 1,
        rdev: 0,
        size: 4294967301,
        blksize: 4096,
        blocks: 8,
        atime: { sec: 1700000000, nsec: 123456789 },
        mtime: { sec: 1, nsec: 2 },
        ctime: { sec: 3, nsec: 4 },
        btime: { sec: 5, nsec: 6 },
        gen: 7,
        dataVersion: 8,
      },
    },
    "a0000000 19 0100 | ff3f000000000000 | " +
      QID_HEX +
      " | a4810000 | e8030000 | 64000000" +
      " | 0100000000000000 | 0000000000000000 | 0500000001000000 | 0010000000000000 | 0800000000000000" +
      " | 00f1536500000000 | 15cd5b0700000000" +
      " | 0100000000000000 | 0200000000000000" +
      " | 0300000000000000 | 0400000000000000" +
      " | 0500000000000000 | 0600000000000000" +
      " | 0700000000000000 | 0800000000000000",
  ],
  // Tsetattr=26 fid valid[4] mode[4] uid[4] gid[4] size[8] atime(sec nsec) mtime(sec nsec); 7+4+16+8+32 = 67
  [
    {
      type: "Tsetattr",
      tag: 1,
      fid: 0x0a,
      attr: {
        valid: 0x181,
        mode: 0o644,
        uid: 1000,
        gid: 100,
        size: 4294967296,
        atime: { sec: 10, nsec: 11 },
        mtime: { sec: 12, nsec: 13 },
      },
    },
    "43000000 1a 0100 | 0a000000 | 81010000 | a4010000 | e8030000 | 64000000 | 0000000001000000" +
      " | 0a00000000000000 | 0b00000000000000 | 0c00000000000000 | 0d00000000000000",
  ],
  [{ type: "Rsetattr", tag: 1 }, "07000000 1b 0100"],
  // Txattrwalk=30 fid newfid name; 7+4+4+8 = 23
  [
    { type: "Txattrwalk", tag: 1, fid: 0x0a, newfid: 0x0b, name: "user.a" },
    "17000000 1e 0100 | 0a000000 | 0b000000 | 0600 757365722e61",
  ],
  [{ type: "Rxattrwalk", tag: 1, size: 12 }, "0f000000 1f 0100 | 0c00000000000000"],
  // Txattrcreate=32 fid name attr_size[8] flags[4]; 7+4+8+8+4 = 31
  [
    { type: "Txattrcreate", tag: 1, fid: 0x0a, name: "user.a", size: 3, flags: 1 },
    "1f000000 20 0100 | 0a000000 | 0600 757365722e61 | 0300000000000000 | 01000000",
  ],
  [{ type: "Rxattrcreate", tag: 1 }, "07000000 21 0100"],
  // Treaddir=40 fid offset count
  [
    { type: "Treaddir", tag: 1, fid: 0x0a, offset: 0x7fffffff, count: 0xffe0 },
    "17000000 28 0100 | 0a000000 | ffffff7f00000000 | e0ff0000",
  ],
  // Rreaddir=41 count[4] + one entry qid offset[8] type[1] name[s] = 13+8+1+4 = 26; 7+4+26 = 37
  [
    {
      type: "Rreaddir",
      tag: 1,
      data: hex(`${QID_HEX} 0100000000000000 04 0200 6162`),
    },
    `25000000 29 0100 | 1a000000 | ${QID_HEX} | 0100000000000000 | 04 | 0200 6162`,
  ],
  [{ type: "Tfsync", tag: 1, fid: 0x0a, datasync: 1 }, "0f000000 32 0100 | 0a000000 | 01000000"],
  [{ type: "Rfsync", tag: 1 }, "07000000 33 0100"],
  // Tlock=52 fid type[1] flags[4] start[8] length[8] proc_id[4] client_id[s]; 7+4+1+4+8+8+4+6 = 42
  [
    {
      type: "Tlock",
      tag: 1,
      fid: 0x0a,
      lock: { type: 1, flags: 1, start: 0, length: 4294967296, procId: 4242, clientId: "host" },
    },
    "2a000000 34 0100 | 0a000000 | 01 | 01000000 | 0000000000000000 | 0000000001000000 | 92100000 | 0400 686f7374",
  ],
  [{ type: "Rlock", tag: 1, status: 1 }, "08000000 35 0100 | 01"],
  // Tgetlock=54 fid type[1] start length proc_id client_id; 7+4+1+8+8+4+6 = 38
  [
    {
      type: "Tgetlock",
      tag: 1,
      fid: 0x0a,
      lock: { type: 0, start: 10, length: 20, procId: 4242, clientId: "host" },
    },
    "26000000 36 0100 | 0a000000 | 00 | 0a00000000000000 | 1400000000000000 | 92100000 | 0400 686f7374",
  ],
  // Rgetlock=55 type start length proc_id client_id; 7+1+8+8+4+6 = 34
  [
    { type: "Rgetlock", tag: 1, lock: { type: 2, start: 10, length: 20, procId: 4242, clientId: "host" } },
    "22000000 37 0100 | 02 | 0a00000000000000 | 1400000000000000 | 92100000 | 0400 686f7374",
  ],
  // Tlink=70 dfid fid name
  [
    { type: "Tlink", tag: 1, dfid: 0x0c, fid: 0x0a, name: "ab" },
    "13000000 46 0100 | 0c000000 | 0a000000 | 0200 6162",
  ],
  [{ type: "Rlink", tag: 1 }, "07000000 47 0100"],
  // Tmkdir=72 dfid name mode gid; 7+4+4+4+4 = 23
  [
    { type: "Tmkdir", tag: 1, dfid: 0x0c, name: "ab", mode: 0o40755, gid: 100 },
    "17000000 48 0100 | 0c000000 | 0200 6162 | ed410000 | 64000000",
  ],
  [{ type: "Rmkdir", tag: 1, qid: QID }, `14000000 49 0100 | ${QID_HEX}`],
  // Trenameat=74 olddirfid oldname newdirfid newname; 7+4+4+4+4 = 23
  [
    { type: "Trenameat", tag: 1, olddirfid: 0x0c, oldname: "ab", newdirfid: 0x0d, newname: "é" },
    "17000000 4a 0100 | 0c000000 | 0200 6162 | 0d000000 | 0200 c3a9",
  ],
  [{ type: "Rrenameat", tag: 1 }, "07000000 4b 0100"],
  // Tunlinkat=76 dirfid name flags (AT_REMOVEDIR)
  [
    { type: "Tunlinkat", tag: 1, dirfid: 0x0c, name: "ab", flags: 0x200 },
    "13000000 4c 0100 | 0c000000 | 0200 6162 | 00020000",
  ],
  [{ type: "Runlinkat", tag: 1 }, "07000000 4d 0100"],
  // Rlerror=7 ecode[4]
  [{ type: "Rlerror", tag: 1, ecode: Errno.ENOENT }, "0b000000 07 0100 | 02000000"],
];

describe("byte vectors", () => {
  it("cover every message type", () => {
    const covered = new Set(vectors.map(([m]) => m.type));
    const all: string[] = [];
    for (let id = 0; id < 256; id++) {
      const name = messageTypeName(id);
      if (name !== undefined) all.push(name);
    }
    expect(all.length).toBe(57);
    expect([...covered].sort()).toEqual(all.sort());
  });

  for (const [msg, vec] of vectors) {
    it(`${msg.type} decodes`, () => {
      expect(decodeMessage(hex(vec))).toEqual(msg);
    });
    it(`${msg.type} encodes`, () => {
      const enc = encodeMessage(msg);
      expect(toHex(enc)).toBe(toHex(hex(vec)));
      expect(encodedSize(msg)).toBe(enc.length);
      expect(enc.byteLength).toBe(enc.buffer.byteLength);
    });
  }

  it("accepts a Tfsync without datasync (older kernels)", () => {
    expect(decodeMessage(hex("0b000000 32 0500 | 0a000000"))).toEqual({
      type: "Tfsync",
      tag: 5,
      fid: 0x0a,
      datasync: 0,
    });
  });

  it("decodes a Twalk of zero names (clone)", () => {
    expect(decodeMessage(hex("11000000 6e 0100 | 0a000000 | 0b000000 | 0000"))).toEqual({
      type: "Twalk",
      tag: 1,
      fid: 0x0a,
      newfid: 0x0b,
      names: [],
    });
  });

  it("decodes a frame that sits at an offset inside a larger buffer", () => {
    const big = new Uint8Array(64).fill(0xee);
    big.set(hex("0b000000 78 0300 | 0a000000"), 9);
    expect(decodeMessage(big.subarray(9, 20))).toEqual({ type: "Tclunk", tag: 3, fid: 0x0a });
  });
});

function decodeError(frame: Uint8Array): DecodeError {
  try {
    decodeMessage(frame);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return e as DecodeError;
  }
  throw new Error("expected a DecodeError");
}

describe("decode errors", () => {
  it("short header: EINVAL without a tag", () => {
    for (const f of [hex(""), hex("07"), hex("07000000 78 01")]) {
      const e = decodeError(f);
      expect(e.errno).toBe(Errno.EINVAL);
      expect(e.tag).toBeUndefined();
      expect(e.type).toBeUndefined();
    }
  });

  it("size field larger or smaller than the frame", () => {
    let e = decodeError(hex("0c000000 78 0500 | 0a000000"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 5, 0x78]);
    e = decodeError(hex("0a000000 78 0500 | 0a000000"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 5, 0x78]);
  });

  it("string length past the end", () => {
    const e = decodeError(hex("13000000 4c 0700 | 0c000000 | 0900 6162 | 00020000"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 7, 76]);
  });

  it("truncated qid", () => {
    const e = decodeError(hex("11000000 69 0300 | 80 04030201 050403"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 3, 105]);
  });

  it("truncated fixed fields", () => {
    const e = decodeError(hex("0f000000 74 0400 | 0a000000 | 02000000"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 4, 116]);
  });

  it("trailing bytes after the body", () => {
    let e = decodeError(hex("0c000000 78 0100 | 0a000000 | ff"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 1, 120]);
    // An empty-bodied reply with something after it.
    e = decodeError(hex("08000000 79 0200 | 00"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 2, 121]);
    // Tfsync with a partial datasync.
    e = decodeError(hex("0d000000 32 0200 | 0a000000 | 0100"));
    expect(e.errno).toBe(Errno.EINVAL);
  });

  it("Twrite/Rread count disagreeing with the frame", () => {
    // count 3, 2 bytes present
    let e = decodeError(hex("19000000 76 0100 | 0a000000 | 0500000000000000 | 03000000 | 6869"));
    expect([e.errno, e.tag]).toEqual([Errno.EINVAL, 1]);
    // count 1, 2 bytes present
    e = decodeError(hex("19000000 76 0100 | 0a000000 | 0500000000000000 | 01000000 | 6869"));
    expect([e.errno, e.tag]).toEqual([Errno.EINVAL, 1]);
    e = decodeError(hex("0e000000 75 0100 | 04000000 | 616263"));
    expect(e.errno).toBe(Errno.EINVAL);
  });

  it("nwname > 16", () => {
    // 17 names of "a": 7 + 4 + 4 + 2 + 17*3 = 68
    const frame = hex("44000000 6e 0600 | 0a000000 | 0b000000 | 1100" + " 0100 61".repeat(17));
    expect(frame.length).toBe(68);
    const e = decodeError(frame);
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EINVAL, 6, 110]);
    // Exactly 16 is fine: 7 + 10 + 48 = 65
    const ok = hex("41000000 6e 0600 | 0a000000 | 0b000000 | 1000" + " 0100 61".repeat(16));
    expect((decodeMessage(ok) as { names: string[] }).names).toHaveLength(16);
  });

  it("nwqid > 16", () => {
    const e = decodeError(hex("09000000 6f 0600 | 1100"));
    expect([e.errno, e.tag]).toEqual([Errno.EINVAL, 6]);
  });

  it("unknown type: EOPNOTSUPP with the tag", () => {
    // Topen (112) is 9P2000, not 9P2000.L
    let e = decodeError(hex("0c000000 70 0900 | 0a000000 | 00"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EOPNOTSUPP, 9, 112]);
    e = decodeError(hex("07000000 06 0a00"));
    expect([e.errno, e.tag, e.type]).toEqual([Errno.EOPNOTSUPP, 10, 6]);
  });

  it("a name that is not UTF-8 decodes losslessly and encodes back to the same bytes", () => {
    for (const name of ["0100 ff", "0200 c328", "0300 eda080" /* surrogate */, "0100 80", "0400 636166e9" /* Latin-1 café */]) {
      const body = hex(`0c000000 ${name} 00020000`);
      const frame = new Uint8Array(7 + body.length);
      // Tunlinkat, tag 2, size fixed up by hand below
      frame.set(hex("00000000 4c 0200"));
      frame.set(body, 7);
      frame[0] = frame.length;
      const m = decodeMessage(frame);
      expect(m.type).toBe("Tunlinkat");
      expect(toHex(encodeMessage(m))).toBe(toHex(frame));
    }
    const latin1 = hex("15000000 4c 0200 | 0c000000 | 0400 636166e9 | 00020000");
    expect((decodeMessage(latin1) as { name: string }).name).toBe("caf\udce9");
  });

  it("is an Error with a useful message", () => {
    const e = decodeError(hex("0c000000 78 0500 | 0a000000"));
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe("DecodeError");
    expect(e.message).toMatch(/size/);
  });
});

describe("views and u64", () => {
  it("Twrite.data is a view of the frame", () => {
    const frame = hex("19000000 76 0100 | 0a000000 | 0500000000000000 | 02000000 | 6869");
    const m = decodeMessage(frame);
    if (m.type !== "Twrite") throw new Error(m.type);
    expect(m.data.buffer).toBe(frame.buffer);
    expect(m.data.byteOffset).toBe(frame.byteOffset + 23);
    frame[23] = 0x48;
    expect(m.data[0]).toBe(0x48);
  });

  it("Rread.data and Rreaddir.data are views of the frame", () => {
    const rread = hex("0e000000 75 0100 | 03000000 | 616263");
    const m = decodeMessage(rread);
    if (m.type !== "Rread") throw new Error(m.type);
    expect(m.data.buffer).toBe(rread.buffer);
    expect(m.data.byteOffset).toBe(11);
    const rreaddir = hex(`25000000 29 0100 | 1a000000 | ${QID_HEX} | 0100000000000000 | 04 | 0200 6162`);
    const d = decodeMessage(rreaddir);
    if (d.type !== "Rreaddir") throw new Error(d.type);
    expect(d.data.buffer).toBe(rreaddir.buffer);
    expect(d.data.length).toBe(26);
  });

  it("u64 values above 2^32 round-trip", () => {
    for (const v of [2 ** 32, 2 ** 32 + 1, 0xdeadbeefcafe, 2 ** 53 - 1, Number.MAX_SAFE_INTEGER]) {
      const m: Message = { type: "Tread", tag: 9, fid: 1, offset: v, count: 1 };
      expect(decodeMessage(encodeMessage(m))).toEqual(m);
    }
  });

  it("2^64-1 (which is 2^64 as a double) encodes as all ones", () => {
    const frame = encodeMessage({ type: "Rxattrwalk", tag: 1, size: 2 ** 64 - 1 });
    expect(toHex(frame)).toBe(toHex(hex("0f000000 1f 0100 | ffffffffffffffff")));
    expect(decodeMessage(frame)).toEqual({ type: "Rxattrwalk", tag: 1, size: 2 ** 64 });
  });

  it("values above 2^53 decode to the nearest double", () => {
    // 0x0020000000000001 = 2^53 + 1 → 2^53
    const m = decodeMessage(hex("0f000000 1f 0100 | 0100000000002000"));
    expect(m).toEqual({ type: "Rxattrwalk", tag: 1, size: 2 ** 53 });
  });
});

describe("encode errors", () => {
  const enc = (m: Message) => () => encodeMessage(m);

  it("rejects out-of-range integers", () => {
    expect(enc({ type: "Tclunk", tag: 1, fid: -1 })).toThrow(EncodeError);
    expect(enc({ type: "Tclunk", tag: 1, fid: 2 ** 32 })).toThrow(EncodeError);
    expect(enc({ type: "Tclunk", tag: 1, fid: 1.5 })).toThrow(EncodeError);
    expect(enc({ type: "Tclunk", tag: 0x10000, fid: 1 })).toThrow(EncodeError);
    expect(enc({ type: "Rlock", tag: 1, status: 256 })).toThrow(EncodeError);
    expect(enc({ type: "Tread", tag: 1, fid: 1, offset: -1, count: 1 })).toThrow(EncodeError);
    expect(enc({ type: "Tread", tag: 1, fid: 1, offset: 2 ** 65, count: 1 })).toThrow(EncodeError);
    expect(enc({ type: "Tread", tag: 1, fid: 1, offset: NaN, count: 1 })).toThrow(EncodeError);
  });

  it("rejects more than 16 walk names and over-long strings", () => {
    const names = Array.from({ length: 17 }, () => "a");
    expect(enc({ type: "Twalk", tag: 1, fid: 1, newfid: 2, names })).toThrow(EncodeError);
    try {
      encodeMessage({ type: "Rreadlink", tag: 1, target: "x".repeat(65536) });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EncodeError);
      expect((e as EncodeError).errno).toBe(Errno.ENAMETOOLONG);
    }
    // 65535 bytes is the largest that fits.
    expect(encodeMessage({ type: "Rreadlink", tag: 1, target: "é".repeat(32767) + "x" }).length).toBe(7 + 2 + 65535);
  });

  it("writes an escaped raw byte as that byte, and any other lone surrogate as U+FFFD", () => {
    let frame = encodeMessage({ type: "Rreadlink", tag: 1, target: "a\ud800" });
    expect(toHex(frame)).toBe(toHex(hex("0d000000 17 0100 | 0400 61efbfbd")));
    frame = encodeMessage({ type: "Rreadlink", tag: 1, target: "caf\udce9" });
    expect(toHex(frame)).toBe(toHex(hex("0d000000 17 0100 | 0400 636166e9")));
    // 65535 raw bytes are the largest string that fits, counted as bytes
    expect(encodeMessage({ type: "Rreadlink", tag: 1, target: "\udcff".repeat(65535) }).length).toBe(7 + 2 + 65535);
    expect(() => encodeMessage({ type: "Rreadlink", tag: 1, target: "\udcff".repeat(65536) })).toThrow(EncodeError);
  });

  it("writes 4-byte UTF-8 for astral characters", () => {
    const m: Message = { type: "Rreadlink", tag: 1, target: "😀" };
    const frame = encodeMessage(m);
    expect(toHex(frame)).toBe(toHex(hex("0d000000 17 0100 | 0400 f09f9880")));
    expect(decodeMessage(frame)).toEqual(m);
  });
});

describe("directory entries", () => {
  const entries: DirEntry[] = [
    { qid: QID, offset: 1, type: 4, name: "." },
    { qid: QID2, offset: 2, type: 4, name: ".." },
    { qid: { type: 0, version: 3, path: 2 ** 40 }, offset: 2 ** 33, type: 8, name: "héllo" },
  ];

  it("encodes by hand-checked layout", () => {
    const { data, count } = encodeDirEntries(entries.slice(0, 2), 1000);
    expect(count).toBe(2);
    expect(toHex(data)).toBe(
      toHex(hex(`${QID_HEX} 0100000000000000 04 0100 2e | ${QID2_HEX} 0200000000000000 04 0200 2e2e`)),
    );
  });

  it("round-trips", () => {
    const { data, count } = encodeDirEntries(entries, 1 << 16);
    expect(count).toBe(3);
    expect(data.length).toBe(entries.reduce((n, e) => n + dirEntrySize(e.name), 0));
    expect(decodeDirEntries(data)).toEqual(entries);
  });

  it("stops at the first entry that does not fit", () => {
    expect(dirEntrySize(".")).toBe(25);
    expect(dirEntrySize("héllo")).toBe(30);
    let r = encodeDirEntries(entries, 25 + 26 - 1);
    expect(r.count).toBe(1);
    expect(r.data.length).toBe(25);
    r = encodeDirEntries(entries, 25 + 26);
    expect(r.count).toBe(2);
    r = encodeDirEntries(entries, 10);
    expect(r.count).toBe(0);
    expect(r.data.length).toBe(0);
  });

  it("rejects truncated entries", () => {
    const { data } = encodeDirEntries(entries, 1 << 16);
    for (const cut of [1, 13, 24, 30]) {
      expect(() => decodeDirEntries(data.subarray(0, cut))).toThrow(DecodeError);
    }
    expect(decodeDirEntries(new Uint8Array(0))).toEqual([]);
  });

  it("encodeRreaddir builds the same frame as encodeMessage", () => {
    const { frame, count } = encodeRreaddir(7, entries, 25 + 26);
    expect(count).toBe(2);
    const data = encodeDirEntries(entries, 25 + 26).data;
    expect(toHex(frame)).toBe(toHex(encodeMessage({ type: "Rreaddir", tag: 7, data })));
  });
});

describe("fast paths", () => {
  it("allocRread + finishRread", () => {
    const { frame, data } = allocRread(0x0102, 8);
    expect(frame.length).toBe(19);
    expect(data.buffer).toBe(frame.buffer);
    data.set([0x61, 0x62, 0x63]);
    const out = finishRread(frame, 3);
    expect(toHex(out)).toBe(toHex(hex("0e000000 75 0201 | 03000000 | 616263")));
    expect(out.buffer).toBe(frame.buffer);
    const m = decodeMessage(out);
    expect(m).toEqual({ type: "Rread", tag: 0x0102, data: bytes(0x61, 0x62, 0x63) });
  });

  it("finishRread with a full or empty payload", () => {
    let { frame, data } = allocRread(1, 2);
    data.set([1, 2]);
    expect(finishRread(frame, 2)).toBe(frame);
    ({ frame } = allocRread(1, 100));
    expect(toHex(finishRread(frame, 0))).toBe(toHex(hex("0b000000 75 0100 | 00000000")));
    expect(() => finishRread(frame, 101)).toThrow(EncodeError);
  });

  it("encodeRreadHead: the head of an Rread sent as parts", () => {
    expect(toHex(encodeRreadHead(0x0102, 3))).toBe(toHex(hex("0e000000 75 0201 | 03000000")));
    expect(toHex(encodeRreadHead(1, 0))).toBe(toHex(hex("0b000000 75 0100 | 00000000")));
  });

  it("allocTwrite", () => {
    const { frame, data } = allocTwrite(1, 0x0a, 5, 2);
    data.set([0x68, 0x69]);
    expect(toHex(frame)).toBe(toHex(hex("19000000 76 0100 | 0a000000 | 0500000000000000 | 02000000 | 6869")));
  });

  it("encodeTwriteHead: the head of a Twrite sent as parts", () => {
    expect(toHex(encodeTwriteHead(1, 0x0a, 5, 2))).toBe(toHex(hex("19000000 76 0100 | 0a000000 | 0500000000000000 | 02000000")));
    expect(() => encodeTwriteHead(1, 0x0a, 5, -1)).toThrow(EncodeError);
  });
});

describe("encodeMessageInto", () => {
  it("writes the same bytes at an offset and refuses to overflow", () => {
    const target = new Uint8Array(40).fill(0xee);
    const n = encodeMessageInto({ type: "Rwrite", tag: 1, count: 2 }, target, 5);
    expect(n).toBe(11);
    expect(toHex(target.subarray(0, 17))).toBe(toHex(hex("eeeeeeeeee | 0b000000 77 0100 | 02000000 | ee")));
    expect(() => encodeMessageInto({ type: "Rwrite", tag: 1, count: 2 }, target, 30)).toThrow(EncodeError);
    expect(target[30]).toBe(0xee);
  });
});

describe("helpers", () => {
  it("peekHeader", () => {
    expect(peekHeader(hex("0b000000 78 0300 | 0a"))).toEqual({ size: 11, type: 120, tag: 3 });
    expect(peekHeader(hex("0b000000 78 03"))).toBeUndefined();
    expect(peekHeader(hex("ffffffff 64 ffff"))).toEqual({ size: 0xffffffff, type: 100, tag: 0xffff });
  });

  it("type names", () => {
    expect(messageTypeName(110)).toBe("Twalk");
    expect(messageTypeName(7)).toBe("Rlerror");
    expect(messageTypeName(112)).toBeUndefined();
    expect(messageTypeName(1000)).toBeUndefined();
    expect(isTMessageType(110)).toBe(true);
    expect(isTMessageType(111)).toBe(false);
    expect(isTMessageType(7)).toBe(false);
    expect(isTMessageType(112)).toBe(false);
    expect(isRMessageType(7)).toBe(true);
    expect(isRMessageType(111)).toBe(true);
    expect(isRMessageType(110)).toBe(false);
  });
});
