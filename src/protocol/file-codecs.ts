/** Body codecs of the session, walk, data and namespace messages, and Rlerror (codec.ts). */
import { Errno } from "./errno.js";
import type { Qid } from "./messages.js";
import { EncodeError, stringSize } from "./wire.js";
import { QID_SIZE, empty, fidOnly, qidIounit, qidOnly, version, type BodyCodec, type Kind } from "./body-codec.js";
import type { AttrKind } from "./attr-codecs.js";

/** Linux (and Plan 9) never walk more than this many names in one Twalk. */
export const MAXWELEM = 16;

export const fileCodecs: { [K in Exclude<Kind, AttrKind>]: BodyCodec<K> } = {
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
