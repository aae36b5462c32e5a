/** Extended attributes of one inode: reading its list, and the rules of setxattr(2) and of the room an inode has. */
import { XattrFlags } from "../protocol/constants.js";
import { Errno, FsError } from "../protocol/errno.js";
import { nameToBytes } from "../protocol/name-bytes.js";
import type { InodeRecord, StoreTx, XattrList } from "../storage/store.js";
import { XATTR_INODE_MAX, XATTR_LIST_MAX } from "./constants.js";
import { utf8Length } from "./names.js";

/** An inode's extended attributes: nothing is read when its record says it has none. */
export async function xattrsOf(tx: StoreTx, rec: InodeRecord): Promise<XattrList> {
  if (rec.xattrBytes) return (await tx.getXattrs(rec.ino)) ?? [];
  return rec.xattrs ?? [];
}

/** listxattr(2)'s answer: the names, each followed by a NUL. */
export function listedNames(list: XattrList): Uint8Array {
  const parts = list.map(([n]) => nameToBytes(n));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length + 1, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length + 1; // the NUL is already there
  }
  return out;
}

/** Bytes of names and values in `list`, refused with ENOSPC past what one inode may hold (XATTR_INODE_MAX, XATTR_LIST_MAX). */
export function checkXattrRoom(list: XattrList): number {
  let bytes = 0;
  let listed = 0;
  for (const [name, value] of list) {
    const n = utf8Length(name);
    bytes += n + value.length;
    listed += n + 1;
  }
  if (bytes > XATTR_INODE_MAX || listed > XATTR_LIST_MAX) throw new FsError(Errno.ENOSPC, "no room for more extended attributes on this inode");
  return bytes;
}

/** setxattr(2) on a [name, value] list: value null removes; CREATE/REPLACE as in Linux. */
export function nextXattrs(list: XattrList, name: string, value: Uint8Array | null, flags: number): XattrList {
  const i = list.findIndex(([n]) => n === name);
  if (value === null) {
    if (i < 0) throw new FsError(Errno.ENODATA, name);
    return list.filter((_, j) => j !== i);
  }
  if (i >= 0 && flags & XattrFlags.CREATE) throw new FsError(Errno.EEXIST, name);
  if (i < 0 && flags & XattrFlags.REPLACE) throw new FsError(Errno.ENODATA, name);
  return i >= 0 ? list.map((x, j): [string, Uint8Array] => (j === i ? [name, value] : x)) : [...list, [name, value]];
}
