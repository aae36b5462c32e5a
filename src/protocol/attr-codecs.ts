/** Body codecs of the attribute messages: statfs, getattr, setattr, extended attributes and POSIX locks (codec.ts). */
import { QID_SIZE, empty, fidOnly, type BodyCodec } from "./body-codec.js";
import { stringSize } from "./wire.js";

export type AttrKind = `${"T" | "R"}${"statfs" | "getattr" | "setattr" | "xattrwalk" | "xattrcreate" | "lock" | "getlock"}`;

export const attrCodecs: { [K in AttrKind]: BodyCodec<K> } = {
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
};
