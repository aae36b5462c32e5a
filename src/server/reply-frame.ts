/**
 * A handler's result as it goes on the wire. Every request gets its one
 * answer: a reply the wire cannot carry becomes Rlerror(EIO), one larger
 * than msize Rlerror(EMSGSIZE), never silence.
 */
import { encodeMessage, type FrameAlloc } from "../protocol/codec.js";
import { Errno } from "../protocol/errno.js";
import type { RMessage } from "../protocol/messages.js";
import type { HandlerResult } from "./handlers.js";

/** Parts to send as they are (an Rread's header and data), or one frame with what a trace shows of it. */
export type WireReply =
  | { kind: "parts"; parts: Uint8Array[]; size: number }
  | {
      kind: "frame";
      frame: Uint8Array;
      shown: RMessage | Uint8Array;
      /** Error replies this turned the result into (a session counts them). */
      errors: number;
    };

/** `report`: a value the wire cannot carry is a server bug, reported once. */
export function wireReply(tag: number, result: HandlerResult, msize: number, alloc: FrameAlloc | undefined, report: (e: unknown) => void): WireReply {
  if (Array.isArray(result)) {
    let size = 0;
    for (const p of result) size += p.length;
    if (size <= msize) return { kind: "parts", parts: result, size };
    result = { type: "Rlerror", tag, ecode: Errno.EMSGSIZE };
  }
  let errors = 0;
  let frame: Uint8Array;
  try {
    frame = result instanceof Uint8Array ? result : encodeMessage(result, alloc);
  } catch (e) {
    // A u32 past 2^32 and the like: the client still gets its one answer for the tag.
    report(e);
    result = { type: "Rlerror", tag, ecode: Errno.EIO };
    frame = encodeMessage(result);
    errors++;
  }
  if (frame.length > msize) {
    frame = encodeMessage({ type: "Rlerror", tag, ecode: Errno.EMSGSIZE });
    errors++;
  }
  return { kind: "frame", frame, shown: result, errors };
}
