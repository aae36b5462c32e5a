import { Errno, FsError } from "../protocol/errno.js";
import type { Fid, FidTable, XattrWrite } from "./fid-table.js";

/**
 * Bytes of xattr values one session may hold in its fids at once: values
 * being written (Txattrcreate … Tclunk) and values read back (Txattrwalk …
 * Tclunk). Linux holds one per setxattr/getxattr call in progress; 4 MiB is
 * 64 of the largest in flight. Without a bound, 10,000 fids × 64 KiB would
 * be 640 MiB of one client's making.
 */
export const SESSION_XATTR_BYTES_MAX = 4 * 1024 * 1024;

interface Account {
  bytes: number;
}

const accounts = new WeakMap<FidTable, Account>();
/** What each buffer was charged, and to whom: a fid's buffers are given back wherever the fid is dropped. */
const charges = new WeakMap<object, { account: Account; bytes: number }>();
let total = 0;

/** Bytes of xattr values held by fids: one session's (its fid table), or every session's. */
export function xattrBufferBytes(fids?: FidTable): number {
  return fids ? (accounts.get(fids)?.bytes ?? 0) : total;
}

function accountOf(fids: FidTable): Account {
  let a = accounts.get(fids);
  if (!a) accounts.set(fids, (a = { bytes: 0 }));
  return a;
}

/** Charge `buffer` (an xattr value or write) with `bytes` in all; past the session's bound, `errno`. */
function charge(fids: FidTable, buffer: object, bytes: number, errno: number): void {
  const account = accountOf(fids);
  const before = charges.get(buffer)?.bytes ?? 0;
  const more = bytes - before;
  if (more > 0 && account.bytes + more > SESSION_XATTR_BYTES_MAX) {
    throw new FsError(errno, `xattr values held by this session would exceed ${SESSION_XATTR_BYTES_MAX} bytes`);
  }
  account.bytes += more;
  total += more;
  charges.set(buffer, { account, bytes });
}

/** A value read by Txattrwalk, held until the fid is clunked. ENOMEM past the session's bound. */
export function holdXattrValue(fids: FidTable, value: Uint8Array): void {
  charge(fids, value, value.length, Errno.ENOMEM);
}

/** A pending value declared by Txattrcreate: nothing is allocated until data arrives. */
export function newXattrWrite(name: string, flags: number, size: number): XattrWrite {
  return { name, flags, size, value: new Uint8Array(0), written: 0 };
}

/**
 * Twrite on an xattr fid: bytes [offset, offset + data.length) of the value.
 * The buffer grows with what arrives (doubling, never past the declared
 * size); ENOSPC when the session's bound would be passed.
 */
export function writeXattr(fids: FidTable, x: XattrWrite, offset: number, data: Uint8Array): void {
  const end = offset + data.length;
  if (end > x.size) throw new FsError(Errno.EINVAL, "xattr write past its declared size");
  if (end > x.value.length) {
    const room = Math.min(x.size, Math.max(end, 2 * x.value.length));
    charge(fids, x, room, Errno.ENOSPC);
    const grown = new Uint8Array(room);
    grown.set(x.value);
    x.value = grown;
  }
  x.value.set(data, offset);
  x.written = Math.max(x.written, end);
}

/** The complete value at Tclunk (EINVAL when bytes are missing). */
export function finishedXattrValue(x: XattrWrite): Uint8Array {
  if (x.written !== x.size) throw new FsError(Errno.EINVAL, "xattr value incomplete at clunk");
  return x.value.length === x.size ? x.value : x.value.subarray(0, x.size);
}

/** The fid is gone: what its xattr buffers were charged goes back to its session. */
export function releaseXattrBuffers(f: Fid): void {
  for (const buffer of [f.xattrRead, f.xattrWrite]) {
    if (!buffer) continue;
    const c = charges.get(buffer);
    if (!c) continue;
    charges.delete(buffer);
    c.account.bytes -= c.bytes;
    total -= c.bytes;
  }
}
