import { inflateSync } from "fflate";
import { hex, PIECE_DEFLATE, type ImagePiece } from "./format.js";

/** A piece whose bytes do not hash to its name: the file reads as EIO, never as wrong bytes. */
export class PieceIntegrityError extends Error {
  constructor(readonly piece: ImagePiece, detail: string) {
    super(`base image piece ${hex(piece.sha256).slice(0, 16)}… (pack ${piece.pack} @${piece.offset}) ${detail}`);
    this.name = "PieceIntegrityError";
  }
}

/** Stored bytes of one piece → its raw bytes, checked against its SHA-256. */
export async function decodePiece(stored: Uint8Array, piece: ImagePiece): Promise<Uint8Array> {
  if (stored.length !== piece.stored) throw new PieceIntegrityError(piece, `has ${stored.length} stored bytes, expected ${piece.stored}`);
  let raw: Uint8Array;
  try {
    raw = piece.flags & PIECE_DEFLATE ? inflateSync(stored, { out: new Uint8Array(piece.raw) }) : stored.slice();
  } catch (e) {
    throw new PieceIntegrityError(piece, `does not inflate (${(e as Error).message})`);
  }
  if (raw.length !== piece.raw) throw new PieceIntegrityError(piece, `has ${raw.length} raw bytes, expected ${piece.raw}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw as Uint8Array<ArrayBuffer>));
  for (let i = 0; i < 32; i++) if (digest[i] !== piece.sha256[i]) throw new PieceIntegrityError(piece, "does not match its SHA-256");
  return raw;
}
