/**
 * 9P2000.L frames <-> Message objects.
 *
 * Layouts follow diod's protocol.md and Linux net/9p/protocol.c. Every
 * message type has one entry in `codecs` holding its body size, writer and
 * reader side by side, so a layout cannot drift between encode and decode;
 * the mapped type makes the compiler insist on an entry for every type.
 */

import { HEADER_SIZE, MessageType, type MessageTypeName } from "./constants.js";
import { Errno } from "./errno.js";
import type { DirEntry, Message, Qid } from "./messages.js";
import { DecodeError, EncodeError, Reader, Writer, stringSize } from "./wire.js";
import { utf8Length } from "./name-bytes.js";

export { DecodeError, EncodeError } from "./wire.js";

/** Linux (and Plan 9) never walk more than this many names in one Twalk. */
export const MAXWELEM = 16;
const QID_SIZE = 13;
/** Rread / Rreaddir: header + count[4]. */
const RREAD_HEADER = HEADER_SIZE + 4;
/** Twrite: header + fid[4] offset[8] count[4]. */
const TWRITE_HEADER = HEADER_SIZE + 16;
/** qid[13] offset[8] type[1] + the name's length prefix. */
const DIRENT_FIXED = QID_SIZE + 8 + 1 + 2;

type Kind = Message["type"];
type Msg<K extends Kind> = Extract<Message, { type: K }>;

/** Body = everything after size[4] type[1] tag[2]. Method syntax keeps the table assignable to BodyCodec<Kind>. */
interface BodyCodec<K extends Kind> {
  size(m: Msg<K>): number;
  write(w: Writer, m: Msg<K>): void;
  read(r: Reader, tag: number): Msg<K>;
}
type AnyCodec = BodyCodec<Kind>;

function empty<K extends Kind>(type: K): BodyCodec<K> {
  return {
    size: () => 0,
    write: () => {},
    read: (_r, tag) => ({ type, tag }) as Msg<K>,
  };
}

function qidOnly<K extends Kind>(type: K, field: "qid" | "aqid"): BodyCodec<K> {
  return {
    size: () => QID_SIZE,
    write: (w, m) => w.qid((m as unknown as Record<typeof field, Qid>)[field]),
    read: (r, tag) => ({ type, tag, [field]: r.qid() }) as unknown as Msg<K>,
  };
}

function fidOnly<K extends Kind>(type: K): BodyCodec<K> {
  return {
    size: () => 4,
    write: (w, m) => w.u32((m as unknown as { fid: number }).fid),
    read: (r, tag) => ({ type, tag, fid: r.u32() }) as unknown as Msg<K>,
  };
}

function qidIounit<K extends "Rlopen" | "Rlcreate">(type: K): BodyCodec<K> {
  return {
    size: () => QID_SIZE + 4,
    write: (w, m) => {
      const { qid, iounit } = m as Msg<"Rlopen" | "Rlcreate">;
      w.qid(qid);
      w.u32(iounit);
    },
    read: (r, tag) => ({ type, tag, qid: r.qid(), iounit: r.u32() }) as Msg<K>,
  };
}

function version<K extends "Tversion" | "Rversion">(type: K): BodyCodec<K> {
  return {
    size: (m) => 4 + stringSize((m as Msg<"Tversion" | "Rversion">).version),
    write: (w, m) => {
      const { msize, version } = m as Msg<"Tversion" | "Rversion">;
      w.u32(msize);
      w.string(version);
    },
    read: (r, tag) => ({ type, tag, msize: r.u32(), version: r.string() }) as Msg<K>,
  };
}

const codecs: { [K in Kind]: BodyCodec<K> } = {
  Tversion: version("Tversion"),
  Rversion: version("Rversion"),

  Tauth: {
    size: (m) => 4 + stringSize(m.uname) + stringSize(m.aname) + 4,
    write: (w, m) => {
      w.u32(m.afid);
      w.string(m.uname);
      w.string(m.aname);
      w.u32(m.nuname);
    },
    read: (r, tag) => ({ type: "Tauth", tag, afid: r.u32(), uname: r.string(), aname: r.string(), nuname: r.u32() }),
  },
  Rauth: qidOnly("Rauth", "aqid"),

  Tattach: {
    size: (m) => 8 + stringSize(m.uname) + stringSize(m.aname) + 4,
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.afid);
      w.string(m.uname);
      w.string(m.aname);
      w.u32(m.nuname);
    },
    read: (r, tag) => ({
      type: "Tattach",
      tag,
      fid: r.u32(),
      afid: r.u32(),
      uname: r.string(),
      aname: r.string(),
      nuname: r.u32(),
    }),
  },
  Rattach: qidOnly("Rattach", "qid"),

  Tflush: {
    size: () => 2,
    write: (w, m) => w.u16(m.oldtag),
    read: (r, tag) => ({ type: "Tflush", tag, oldtag: r.u16() }),
  },
  Rflush: empty("Rflush"),

  Twalk: {
    size: (m) => {
      if (m.names.length > MAXWELEM) {
        throw new EncodeError(Errno.EINVAL, `Twalk of ${m.names.length} names; at most ${MAXWELEM} fit one message`);
      }
      let n = 10;
      for (const name of m.names) n += stringSize(name);
      return n;
    },
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.newfid);
      w.u16(m.names.length);
      for (const name of m.names) w.string(name);
    },
    read: (r, tag) => {
      const fid = r.u32();
      const newfid = r.u32();
      const n = r.u16();
      if (n > MAXWELEM) throw r.fail(`Twalk nwname ${n} exceeds ${MAXWELEM}`);
      const names: string[] = [];
      for (let i = 0; i < n; i++) names.push(r.string());
      return { type: "Twalk", tag, fid, newfid, names };
    },
  },
  Rwalk: {
    size: (m) => {
      if (m.qids.length > MAXWELEM) {
        throw new EncodeError(Errno.EINVAL, `Rwalk of ${m.qids.length} qids; at most ${MAXWELEM} allowed`);
      }
      return 2 + QID_SIZE * m.qids.length;
    },
    write: (w, m) => {
      w.u16(m.qids.length);
      for (const q of m.qids) w.qid(q);
    },
    read: (r, tag) => {
      const n = r.u16();
      if (n > MAXWELEM) throw r.fail(`Rwalk nwqid ${n} exceeds ${MAXWELEM}`);
      const qids: Qid[] = [];
      for (let i = 0; i < n; i++) qids.push(r.qid());
      return { type: "Rwalk", tag, qids };
    },
  },

  Tread: {
    size: () => 16,
    write: (w, m) => {
      w.u32(m.fid);
      w.u64(m.offset);
      w.u32(m.count);
    },
    read: (r, tag) => ({ type: "Tread", tag, fid: r.u32(), offset: r.u64(), count: r.u32() }),
  },
  Rread: {
    size: (m) => 4 + m.data.length,
    write: (w, m) => {
      w.u32(m.data.length);
      w.bytes(m.data);
    },
    read: (r, tag) => ({ type: "Rread", tag, data: r.bytes(r.u32()) }),
  },

  Twrite: {
    size: (m) => 16 + m.data.length,
    write: (w, m) => {
      w.u32(m.fid);
      w.u64(m.offset);
      w.u32(m.data.length);
      w.bytes(m.data);
    },
    read: (r, tag) => {
      const fid = r.u32();
      const offset = r.u64();
      return { type: "Twrite", tag, fid, offset, data: r.bytes(r.u32()) };
    },
  },
  Rwrite: {
    size: () => 4,
    write: (w, m) => w.u32(m.count),
    read: (r, tag) => ({ type: "Rwrite", tag, count: r.u32() }),
  },

  Tclunk: fidOnly("Tclunk"),
  Rclunk: empty("Rclunk"),
  Tremove: fidOnly("Tremove"),
  Rremove: empty("Rremove"),

  Tstatfs: fidOnly("Tstatfs"),
  Rstatfs: {
    size: () => 60,
    write: (w, { stat: s }) => {
      w.u32(s.type);
      w.u32(s.bsize);
      w.u64(s.blocks);
      w.u64(s.bfree);
      w.u64(s.bavail);
      w.u64(s.files);
      w.u64(s.ffree);
      w.u64(s.fsid);
      w.u32(s.namelen);
    },
    read: (r, tag) => ({
      type: "Rstatfs",
      tag,
      stat: {
        type: r.u32(),
        bsize: r.u32(),
        blocks: r.u64(),
        bfree: r.u64(),
        bavail: r.u64(),
        files: r.u64(),
        ffree: r.u64(),
        fsid: r.u64(),
        namelen: r.u32(),
      },
    }),
  },

  Tlopen: {
    size: () => 8,
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.flags);
    },
    read: (r, tag) => ({ type: "Tlopen", tag, fid: r.u32(), flags: r.u32() }),
  },
  Rlopen: qidIounit("Rlopen"),

  Tlcreate: {
    size: (m) => 4 + stringSize(m.name) + 12,
    write: (w, m) => {
      w.u32(m.fid);
      w.string(m.name);
      w.u32(m.flags);
      w.u32(m.mode);
      w.u32(m.gid);
    },
    read: (r, tag) => ({
      type: "Tlcreate",
      tag,
      fid: r.u32(),
      name: r.string(),
      flags: r.u32(),
      mode: r.u32(),
      gid: r.u32(),
    }),
  },
  Rlcreate: qidIounit("Rlcreate"),

  Tsymlink: {
    size: (m) => 4 + stringSize(m.name) + stringSize(m.target) + 4,
    write: (w, m) => {
      w.u32(m.fid);
      w.string(m.name);
      w.string(m.target);
      w.u32(m.gid);
    },
    read: (r, tag) => ({ type: "Tsymlink", tag, fid: r.u32(), name: r.string(), target: r.string(), gid: r.u32() }),
  },
  Rsymlink: qidOnly("Rsymlink", "qid"),

  Tmknod: {
    size: (m) => 4 + stringSize(m.name) + 16,
    write: (w, m) => {
      w.u32(m.dfid);
      w.string(m.name);
      w.u32(m.mode);
      w.u32(m.major);
      w.u32(m.minor);
      w.u32(m.gid);
    },
    read: (r, tag) => ({
      type: "Tmknod",
      tag,
      dfid: r.u32(),
      name: r.string(),
      mode: r.u32(),
      major: r.u32(),
      minor: r.u32(),
      gid: r.u32(),
    }),
  },
  Rmknod: qidOnly("Rmknod", "qid"),

  Trename: {
    size: (m) => 8 + stringSize(m.name),
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.dfid);
      w.string(m.name);
    },
    read: (r, tag) => ({ type: "Trename", tag, fid: r.u32(), dfid: r.u32(), name: r.string() }),
  },
  Rrename: empty("Rrename"),

  Treadlink: fidOnly("Treadlink"),
  Rreadlink: {
    size: (m) => stringSize(m.target),
    write: (w, m) => w.string(m.target),
    read: (r, tag) => ({ type: "Rreadlink", tag, target: r.string() }),
  },

  Tgetattr: {
    size: () => 12,
    write: (w, m) => {
      w.u32(m.fid);
      w.u64(m.mask);
    },
    read: (r, tag) => ({ type: "Tgetattr", tag, fid: r.u32(), mask: r.u64() }),
  },
  Rgetattr: {
    size: () => 8 + QID_SIZE + 12 + 15 * 8,
    write: (w, { attr: a }) => {
      w.u64(a.valid);
      w.qid(a.qid);
      w.u32(a.mode);
      w.u32(a.uid);
      w.u32(a.gid);
      w.u64(a.nlink);
      w.u64(a.rdev);
      w.u64(a.size);
      w.u64(a.blksize);
      w.u64(a.blocks);
      w.i64(a.atime.sec);
      w.u64(a.atime.nsec);
      w.i64(a.mtime.sec);
      w.u64(a.mtime.nsec);
      w.i64(a.ctime.sec);
      w.u64(a.ctime.nsec);
      w.i64(a.btime.sec);
      w.u64(a.btime.nsec);
      w.u64(a.gen);
      w.u64(a.dataVersion);
    },
    read: (r, tag) => ({
      type: "Rgetattr",
      tag,
      attr: {
        valid: r.u64(),
        qid: r.qid(),
        mode: r.u32(),
        uid: r.u32(),
        gid: r.u32(),
        nlink: r.u64(),
        rdev: r.u64(),
        size: r.u64(),
        blksize: r.u64(),
        blocks: r.u64(),
        atime: { sec: r.i64(), nsec: r.u64() },
        mtime: { sec: r.i64(), nsec: r.u64() },
        ctime: { sec: r.i64(), nsec: r.u64() },
        btime: { sec: r.i64(), nsec: r.u64() },
        gen: r.u64(),
        dataVersion: r.u64(),
      },
    }),
  },

  Tsetattr: {
    size: () => 4 + 16 + 8 + 32,
    write: (w, { fid, attr: a }) => {
      w.u32(fid);
      w.u32(a.valid);
      w.u32(a.mode);
      w.u32(a.uid);
      w.u32(a.gid);
      w.u64(a.size);
      w.i64(a.atime.sec);
      w.u64(a.atime.nsec);
      w.i64(a.mtime.sec);
      w.u64(a.mtime.nsec);
    },
    read: (r, tag) => ({
      type: "Tsetattr",
      tag,
      fid: r.u32(),
      attr: {
        valid: r.u32(),
        mode: r.u32(),
        uid: r.u32(),
        gid: r.u32(),
        size: r.u64(),
        atime: { sec: r.i64(), nsec: r.u64() },
        mtime: { sec: r.i64(), nsec: r.u64() },
      },
    }),
  },
  Rsetattr: empty("Rsetattr"),

  Txattrwalk: {
    size: (m) => 8 + stringSize(m.name),
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.newfid);
      w.string(m.name);
    },
    read: (r, tag) => ({ type: "Txattrwalk", tag, fid: r.u32(), newfid: r.u32(), name: r.string() }),
  },
  Rxattrwalk: {
    size: () => 8,
    write: (w, m) => w.u64(m.size),
    read: (r, tag) => ({ type: "Rxattrwalk", tag, size: r.u64() }),
  },

  Txattrcreate: {
    size: (m) => 4 + stringSize(m.name) + 12,
    write: (w, m) => {
      w.u32(m.fid);
      w.string(m.name);
      w.u64(m.size);
      w.u32(m.flags);
    },
    read: (r, tag) => ({ type: "Txattrcreate", tag, fid: r.u32(), name: r.string(), size: r.u64(), flags: r.u32() }),
  },
  Rxattrcreate: empty("Rxattrcreate"),

  Treaddir: {
    size: () => 16,
    write: (w, m) => {
      w.u32(m.fid);
      w.u64(m.offset);
      w.u32(m.count);
    },
    read: (r, tag) => ({ type: "Treaddir", tag, fid: r.u32(), offset: r.u64(), count: r.u32() }),
  },
  Rreaddir: {
    size: (m) => 4 + m.data.length,
    write: (w, m) => {
      w.u32(m.data.length);
      w.bytes(m.data);
    },
    read: (r, tag) => ({ type: "Rreaddir", tag, data: r.bytes(r.u32()) }),
  },

  Tfsync: {
    size: () => 8,
    write: (w, m) => {
      w.u32(m.fid);
      w.u32(m.datasync);
    },
    // Kernels before 4.x sent Tfsync without datasync; treat that as a full fsync.
    read: (r, tag) => ({ type: "Tfsync", tag, fid: r.u32(), datasync: r.remaining === 0 ? 0 : r.u32() }),
  },
  Rfsync: empty("Rfsync"),

  Tlock: {
    size: (m) => 4 + 1 + 4 + 16 + 4 + stringSize(m.lock.clientId),
    write: (w, { fid, lock: l }) => {
      w.u32(fid);
      w.u8(l.type);
      w.u32(l.flags);
      w.u64(l.start);
      w.u64(l.length);
      w.u32(l.procId);
      w.string(l.clientId);
    },
    read: (r, tag) => ({
      type: "Tlock",
      tag,
      fid: r.u32(),
      lock: {
        type: r.u8(),
        flags: r.u32(),
        start: r.u64(),
        length: r.u64(),
        procId: r.u32(),
        clientId: r.string(),
      },
    }),
  },
  Rlock: {
    size: () => 1,
    write: (w, m) => w.u8(m.status),
    read: (r, tag) => ({ type: "Rlock", tag, status: r.u8() }),
  },

  Tgetlock: {
    size: (m) => 4 + 1 + 16 + 4 + stringSize(m.lock.clientId),
    write: (w, { fid, lock: l }) => {
      w.u32(fid);
      w.u8(l.type);
      w.u64(l.start);
      w.u64(l.length);
      w.u32(l.procId);
      w.string(l.clientId);
    },
    read: (r, tag) => ({
      type: "Tgetlock",
      tag,
      fid: r.u32(),
      lock: { type: r.u8(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.string() },
    }),
  },
  Rgetlock: {
    size: (m) => 1 + 16 + 4 + stringSize(m.lock.clientId),
    write: (w, { lock: l }) => {
      w.u8(l.type);
      w.u64(l.start);
      w.u64(l.length);
      w.u32(l.procId);
      w.string(l.clientId);
    },
    read: (r, tag) => ({
      type: "Rgetlock",
      tag,
      lock: { type: r.u8(), start: r.u64(), length: r.u64(), procId: r.u32(), clientId: r.string() },
    }),
  },

  Tlink: {
    size: (m) => 8 + stringSize(m.name),
    write: (w, m) => {
      w.u32(m.dfid);
      w.u32(m.fid);
      w.string(m.name);
    },
    read: (r, tag) => ({ type: "Tlink", tag, dfid: r.u32(), fid: r.u32(), name: r.string() }),
  },
  Rlink: empty("Rlink"),

  Tmkdir: {
    size: (m) => 4 + stringSize(m.name) + 8,
    write: (w, m) => {
      w.u32(m.dfid);
      w.string(m.name);
      w.u32(m.mode);
      w.u32(m.gid);
    },
    read: (r, tag) => ({ type: "Tmkdir", tag, dfid: r.u32(), name: r.string(), mode: r.u32(), gid: r.u32() }),
  },
  Rmkdir: qidOnly("Rmkdir", "qid"),

  Trenameat: {
    size: (m) => 8 + stringSize(m.oldname) + stringSize(m.newname),
    write: (w, m) => {
      w.u32(m.olddirfid);
      w.string(m.oldname);
      w.u32(m.newdirfid);
      w.string(m.newname);
    },
    read: (r, tag) => ({
      type: "Trenameat",
      tag,
      olddirfid: r.u32(),
      oldname: r.string(),
      newdirfid: r.u32(),
      newname: r.string(),
    }),
  },
  Rrenameat: empty("Rrenameat"),

  Tunlinkat: {
    size: (m) => 8 + stringSize(m.name),
    write: (w, m) => {
      w.u32(m.dirfid);
      w.string(m.name);
      w.u32(m.flags);
    },
    read: (r, tag) => ({ type: "Tunlinkat", tag, dirfid: r.u32(), name: r.string(), flags: r.u32() }),
  },
  Runlinkat: empty("Runlinkat"),

  Rlerror: {
    size: () => 4,
    write: (w, m) => w.u32(m.ecode),
    read: (r, tag) => ({ type: "Rlerror", tag, ecode: r.u32() }),
  },
};

// Indexed by the type byte; built dense so lookups stay on V8's fast path.
const nameById: (Kind | undefined)[] = Array.from({ length: 256 }, () => undefined);
const codecById: (AnyCodec | undefined)[] = Array.from({ length: 256 }, () => undefined);
for (const name of Object.keys(codecs) as Kind[]) {
  nameById[MessageType[name]] = name;
  codecById[MessageType[name]] = codecs[name] as AnyCodec;
}

/** Name of a message type id that this codec handles, e.g. 110 → "Twalk". */
export function messageTypeName(id: number): MessageTypeName | undefined {
  return nameById[id];
}

/** True for the T-message ids of 9P2000.L (the ones a server accepts). */
export function isTMessageType(id: number): boolean {
  const name = nameById[id];
  return name !== undefined && name.charCodeAt(0) === 0x54; /* 'T' */
}

/** True for the R-message ids of 9P2000.L, Rlerror included. */
export function isRMessageType(id: number): boolean {
  const name = nameById[id];
  return name !== undefined && name.charCodeAt(0) === 0x52; /* 'R' */
}

function u32At(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000;
}

function putU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v;
  b[p + 1] = v >>> 8;
  b[p + 2] = v >>> 16;
  b[p + 3] = v >>> 24;
}

/**
 * The header of a frame (or of the first bytes of a stream), without
 * validating anything else; undefined if fewer than 7 bytes are there.
 */
export function peekHeader(frame: Uint8Array): { size: number; type: number; tag: number } | undefined {
  if (frame.length < HEADER_SIZE) return undefined;
  return { size: u32At(frame, 0), type: frame[4]!, tag: frame[5]! | (frame[6]! << 8) };
}

/**
 * Decodes one whole frame (size[4] included). Throws DecodeError only: EINVAL
 * for anything malformed, EOPNOTSUPP for a type id outside 9P2000.L.
 * Byte payloads (Twrite, Rread, Rreaddir) are views into `frame`.
 */
export function decodeMessage(frame: Uint8Array): Message {
  if (frame.length < HEADER_SIZE) {
    throw new DecodeError(Errno.EINVAL, `frame of ${frame.length} bytes is shorter than the 9P header`);
  }
  const r = new Reader(frame);
  const size = r.u32();
  const type = r.u8();
  const tag = r.u16();
  r.tag = tag;
  r.type = type;
  if (size !== frame.length) {
    throw r.fail(`size field says ${size} bytes, frame has ${frame.length}`);
  }
  const codec = codecById[type];
  if (codec === undefined) {
    throw r.fail(`unknown message type ${type}`, Errno.EOPNOTSUPP);
  }
  const msg = codec.read(r, tag);
  if (r.pos !== r.end) {
    throw r.fail(`${nameById[type]} has ${r.end - r.pos} trailing bytes`);
  }
  return msg;
}

/** Exact encoded length of `msg`, header included. Throws EncodeError if it cannot be encoded. */
export function encodedSize(msg: Message): number {
  return HEADER_SIZE + codecFor(msg).size(msg);
}

function codecFor(msg: Message): AnyCodec {
  const codec = (codecs as Record<string, AnyCodec | undefined>)[msg.type];
  if (codec === undefined) throw new EncodeError(Errno.EINVAL, `unknown message type ${String(msg.type)}`);
  return codec;
}

function writeFrame(w: Writer, codec: AnyCodec, msg: Message, size: number): void {
  const start = w.pos;
  w.u32(size);
  w.u8(MessageType[msg.type]);
  w.u16(msg.tag);
  codec.write(w, msg);
  if (w.pos - start !== size) throw new Error(`codec bug: ${msg.type} wrote ${w.pos - start} bytes, sized ${size}`);
}

/**
 * Where a frame of `size` bytes is built: a Uint8Array of exactly `size`
 * bytes at offset 0 of its buffer, which may be longer (a transport's
 * recycled buffer: transport/frame-pool.ts). Its bytes may be stale.
 */
export type FrameAlloc = (size: number) => Uint8Array;

const freshFrame: FrameAlloc = (size) => new Uint8Array(size);

/**
 * Encodes `msg` into a buffer of exactly its size from `alloc` (default: a
 * fresh one, which owns its whole ArrayBuffer, so it can be transferred).
 */
export function encodeMessage(msg: Message, alloc: FrameAlloc = freshFrame): Uint8Array {
  const codec = codecFor(msg);
  const size = HEADER_SIZE + codec.size(msg);
  const w = new Writer(alloc(size));
  writeFrame(w, codec, msg, size);
  return w.buf;
}

/**
 * Encodes `msg` into `target` at `offset` and returns the bytes written, for
 * transports that batch or pool their own buffers (in V8 every typed array
 * over 64 bytes is a separate off-heap allocation). Throws EncodeError
 * (ERANGE) without writing anything if it does not fit.
 */
export function encodeMessageInto(msg: Message, target: Uint8Array, offset = 0): number {
  const codec = codecFor(msg);
  const size = HEADER_SIZE + codec.size(msg);
  if (!(offset >= 0 && offset + size <= target.length)) {
    throw new EncodeError(Errno.ERANGE, `${msg.type} of ${size} bytes does not fit at offset ${offset} of ${target.length}`);
  }
  writeFrame(new Writer(target, offset), codec, msg, size);
  return size;
}

/** Wire size of one Rreaddir entry with this name. */
export function dirEntrySize(name: string): number {
  return DIRENT_FIXED + utf8Length(name);
}

/** How many leading entries fit in maxBytes, and their encoded size. */
function fitEntries(entries: readonly DirEntry[], maxBytes: number): { count: number; bytes: number } {
  let bytes = 0;
  let count = 0;
  for (; count < entries.length; count++) {
    const len = utf8Length(entries[count]!.name);
    if (len > 0xffff) throw new EncodeError(Errno.ENAMETOOLONG, `directory entry name of ${len} bytes`);
    const next = bytes + DIRENT_FIXED + len;
    if (next > maxBytes) break;
    bytes = next;
  }
  return { count, bytes };
}

function writeEntries(w: Writer, entries: readonly DirEntry[], count: number): void {
  for (let i = 0; i < count; i++) {
    const e = entries[i]!;
    w.qid(e.qid);
    w.u64(e.offset);
    w.u8(e.type);
    w.string(e.name);
  }
}

/**
 * Encodes as many whole entries as fit in maxBytes (Treaddir.count). `count`
 * is the number of entries encoded; 0 with a non-empty list means even the
 * first one does not fit, which the server should report rather than loop on.
 */
export function encodeDirEntries(entries: readonly DirEntry[], maxBytes: number): { data: Uint8Array; count: number } {
  const fit = fitEntries(entries, maxBytes);
  const w = new Writer(new Uint8Array(fit.bytes));
  writeEntries(w, entries, fit.count);
  return { data: w.buf, count: fit.count };
}

/** Parses Rreaddir data; DecodeError (EINVAL) if an entry is cut short or a name is not UTF-8. */
export function decodeDirEntries(data: Uint8Array): DirEntry[] {
  const r = new Reader(data);
  const out: DirEntry[] = [];
  while (r.pos < r.end) {
    out.push({ qid: r.qid(), offset: r.u64(), type: r.u8(), name: r.string() });
  }
  return out;
}

/**
 * A whole Rreaddir frame holding as many entries as fit in maxCount data
 * bytes, encoded straight into the frame (no intermediate data buffer).
 * `count` is the number of entries it holds.
 */
export function encodeRreaddir(
  tag: number,
  entries: readonly DirEntry[],
  maxCount: number,
): { frame: Uint8Array; count: number } {
  const fit = fitEntries(entries, maxCount);
  const size = RREAD_HEADER + fit.bytes;
  const w = new Writer(new Uint8Array(size));
  w.u32(size);
  w.u8(MessageType.Rreaddir);
  w.u16(tag);
  w.u32(fit.bytes);
  writeEntries(w, entries, fit.count);
  return { frame: w.buf, count: fit.count };
}

/**
 * Preallocates an Rread frame for up to maxCount payload bytes so the file
 * system can read straight into `data`; then call finishRread with the
 * number of bytes actually produced.
 */
export function allocRread(tag: number, maxCount: number, alloc: FrameAlloc = freshFrame): { frame: Uint8Array; data: Uint8Array } {
  const frame = alloc(rreadSize(maxCount));
  // Size and count say maxCount until finishRread sets the real count.
  writeRreadHead(frame, tag, maxCount);
  return { frame, data: frame.subarray(RREAD_HEADER) };
}

/**
 * The 11-byte head of an Rread whose `count` payload bytes are sent right
 * after it as separate buffers (a stream's writev of stored data views).
 */
export function encodeRreadHead(tag: number, count: number): Uint8Array {
  const head = new Uint8Array(RREAD_HEADER);
  writeRreadHead(head, tag, count);
  return head;
}

function rreadSize(count: number): number {
  if (count >>> 0 !== count || count > 0xffffffff - RREAD_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Rread count ${count}`);
  }
  return RREAD_HEADER + count;
}

function writeRreadHead(frame: Uint8Array, tag: number, count: number): void {
  const w = new Writer(frame);
  w.u32(rreadSize(count));
  w.u8(MessageType.Rread);
  w.u16(tag);
  w.u32(count);
}

/** Fills in size and count of a frame from allocRread; returns the frame trimmed to its real length (a view). */
export function finishRread(frame: Uint8Array, count: number): Uint8Array {
  if (count >>> 0 !== count || count > frame.length - RREAD_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Rread count ${count} does not fit a frame of ${frame.length} bytes`);
  }
  const size = RREAD_HEADER + count;
  putU32(frame, 0, size);
  putU32(frame, HEADER_SIZE, count);
  return size === frame.length ? frame : frame.subarray(0, size);
}

/**
 * A complete Twrite frame of exactly `count` payload bytes whose header is
 * already written; the caller fills `data` (e.g. by reading a file or a user
 * buffer straight into it) and sends `frame` — one copy instead of two.
 */
export function allocTwrite(
  tag: number,
  fid: number,
  offset: number,
  count: number,
  alloc: FrameAlloc = freshFrame,
): { frame: Uint8Array; data: Uint8Array } {
  const frame = alloc(twriteSize(count));
  writeTwriteHead(new Writer(frame), tag, fid, offset, count);
  return { frame, data: frame.subarray(TWRITE_HEADER) };
}

/**
 * The 23-byte head of a Twrite whose `count` payload bytes are sent right
 * after it as a separate buffer (a stream's writev of the caller's data): no
 * copy of the payload at all.
 */
export function encodeTwriteHead(tag: number, fid: number, offset: number, count: number): Uint8Array {
  const head = new Uint8Array(TWRITE_HEADER);
  writeTwriteHead(new Writer(head), tag, fid, offset, count);
  return head;
}

function twriteSize(count: number): number {
  if (count >>> 0 !== count || count > 0xffffffff - TWRITE_HEADER) {
    throw new EncodeError(Errno.EINVAL, `Twrite count ${count}`);
  }
  return TWRITE_HEADER + count;
}

function writeTwriteHead(w: Writer, tag: number, fid: number, offset: number, count: number): void {
  w.u32(twriteSize(count));
  w.u8(MessageType.Twrite);
  w.u16(tag);
  w.u32(fid);
  w.u64(offset);
  w.u32(count);
}
