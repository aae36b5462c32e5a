/**
 * What a session reads from a request frame before (or instead of) decoding
 * it: its type and tag, whether it is a Tversion, and the reply bytes it may
 * bring; and how a message reads in a trace line.
 */
import { NOTAG } from "../protocol/constants.js";
import { decodeMessage, peekHeader } from "../protocol/codec.js";
import { errnoName } from "../protocol/errno.js";
import type { RMessage, TMessage } from "../protocol/messages.js";

export const TFLUSH = 108;
export const TVERSION = 100;
const TREAD = 116;
const TREADDIR = 40;

/** The tag of a frame long enough to have one (size[4] type[1] tag[2]), else undefined. */
export function requestTag(frame: Uint8Array): number | undefined {
  return frame.length >= 7 ? frame[5]! | (frame[6]! << 8) : undefined;
}

export function decodesAsTversion(frame: Uint8Array): boolean {
  const header = peekHeader(frame);
  if (!header || header.size !== frame.length) return false;
  try {
    return decodeMessage(frame).type === "Tversion";
  } catch {
    return false;
  }
}

/** Most reply bytes `frame` may bring: a Tread/Treaddir's count (at most msize), else nothing worth counting. */
export function replyBound(frame: Uint8Array, msize: number): number {
  const type = frame[4];
  if ((type !== TREAD && type !== TREADDIR) || frame.length < 23) return 0;
  const count = (frame[19]! | (frame[20]! << 8) | (frame[21]! << 16) | (frame[22]! << 24)) >>> 0;
  return Math.min(count, msize);
}

/** A message as a trace line shows it: type, tag and fields, data as its length. */
export function describe(m: TMessage | RMessage): string {
  if (m.type === "Rlerror") return `Rlerror tag ${m.tag} ${errnoName(m.ecode)}`;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(m)) {
    if (k === "type" || k === "tag") continue;
    parts.push(`${k}=${v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v)}`);
  }
  return `${m.type} tag ${m.tag === NOTAG ? "NOTAG" : m.tag} ${parts.join(" ")}`;
}
