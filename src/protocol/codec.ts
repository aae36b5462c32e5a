/**
 * 9P2000.L frames <-> Message objects.
 *
 * Layouts follow diod's protocol.md and Linux net/9p/protocol.c. Every
 * message type has one entry in `codecs` holding its body size, writer and
 * reader side by side, so a layout cannot drift between encode and decode;
 * the mapped type makes the compiler insist on an entry for every type. The
 * entries live in file-codecs.ts and attr-codecs.ts (their shape and shared
 * builders: body-codec.ts); the data path's frames built in place (Rread,
 * Twrite, Rreaddir) in data-frames.ts.
 */

import { HEADER_SIZE, MessageType, type MessageTypeName } from "./constants.js";
import { Errno } from "./errno.js";
import type { Message } from "./messages.js";
import { DecodeError, EncodeError, Reader, Writer, freshFrame, type FrameAlloc } from "./wire.js";
import type { AnyCodec, BodyCodec, Kind } from "./body-codec.js";
import { fileCodecs } from "./file-codecs.js";
import { attrCodecs } from "./attr-codecs.js";

export { DecodeError, EncodeError, type FrameAlloc } from "./wire.js";
export { MAXWELEM } from "./file-codecs.js";
export {
  allocRread,
  allocTwrite,
  decodeDirEntries,
  dirEntrySize,
  encodeDirEntries,
  encodeRreadHead,
  encodeRreaddir,
  encodeTwriteHead,
  finishRread,
} from "./data-frames.js";

const codecs: { [K in Kind]: BodyCodec<K> } = { ...fileCodecs, ...attrCodecs };

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
