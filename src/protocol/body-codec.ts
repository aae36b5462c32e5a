/**
 * The shape of one message type's body codec (codec.ts: size, writer and
 * reader side by side) and the builders that several types share.
 */
import type { Message, Qid } from "./messages.js";
import { stringSize, type Reader, type Writer } from "./wire.js";

export const QID_SIZE = 13;

export type Kind = Message["type"];
export type Msg<K extends Kind> = Extract<Message, { type: K }>;

/** Body = everything after size[4] type[1] tag[2]. Method syntax keeps the table assignable to BodyCodec<Kind>. */
export interface BodyCodec<K extends Kind> {
  size(m: Msg<K>): number;
  write(w: Writer, m: Msg<K>): void;
  read(r: Reader, tag: number): Msg<K>;
}
export type AnyCodec = BodyCodec<Kind>;

export function empty<K extends Kind>(type: K): BodyCodec<K> {
  return {
    size: () => 0,
    write: () => {},
    read: (_r, tag) => ({ type, tag }) as Msg<K>,
  };
}

export function qidOnly<K extends Kind>(type: K, field: "qid" | "aqid"): BodyCodec<K> {
  return {
    size: () => QID_SIZE,
    write: (w, m) => w.qid((m as unknown as Record<typeof field, Qid>)[field]),
    read: (r, tag) => ({ type, tag, [field]: r.qid() }) as unknown as Msg<K>,
  };
}

export function fidOnly<K extends Kind>(type: K): BodyCodec<K> {
  return {
    size: () => 4,
    write: (w, m) => w.u32((m as unknown as { fid: number }).fid),
    read: (r, tag) => ({ type, tag, fid: r.u32() }) as unknown as Msg<K>,
  };
}

export function qidIounit<K extends "Rlopen" | "Rlcreate">(type: K): BodyCodec<K> {
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

export function version<K extends "Tversion" | "Rversion">(type: K): BodyCodec<K> {
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
