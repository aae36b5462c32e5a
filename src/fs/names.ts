import { Errno, FsError } from "../protocol/errno.js";
import { isCanonicalName, utf8Length } from "../protocol/name-bytes.js";
import { NAME_MAX } from "./constants.js";

/** Names are counted in the bytes a client sends (see protocol/name-bytes.ts). */
export { utf8Length };

export function isDotName(name: string): boolean {
  return name === "." || name === "..";
}

function tooLong(name: string): boolean {
  // Three bytes per UTF-16 unit at most, so short names skip the count.
  return name.length * 3 > NAME_MAX && utf8Length(name) > NAME_MAX;
}

/**
 * A name about to be created (create, mkdir, link, symlink, mknod, rename target).
 * "." and ".." are the caller's to reject first: the right errno depends on the operation.
 */
export function checkNewName(name: string): void {
  if (name.length === 0) throw new FsError(Errno.ENOENT, "empty name");
  if (name.includes("/") || name.includes("\0")) throw new FsError(Errno.EINVAL, "name contains '/' or NUL");
  if (tooLong(name)) throw new FsError(Errno.ENAMETOOLONG);
  if (isDotName(name)) throw new FsError(Errno.EEXIST, name);
  // Another spelling of some name's bytes: creating it would give two entries one wire name.
  if (!isCanonicalName(name)) throw new FsError(Errno.EINVAL, "name is not a canonical byte string");
}

/** A name looked up (walk, unlink, rename source): what cannot exist is ENOENT, as QEMU answers. */
export function checkLookupName(name: string): void {
  if (tooLong(name)) throw new FsError(Errno.ENAMETOOLONG);
  if (name.length === 0 || name.includes("/") || name.includes("\0")) throw new FsError(Errno.ENOENT);
}

/** XATTR_NAME_MAX is 255 bytes; Linux answers a bad xattr name with ERANGE. */
export function checkXattrName(name: string): void {
  if (name.length === 0 || utf8Length(name) > NAME_MAX) throw new FsError(Errno.ERANGE, "bad xattr name");
}
