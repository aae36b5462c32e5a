export const ROOT_INO = 1;
/** NAME_MAX on Linux. */
export const NAME_MAX = 255;
/** Largest file size we accept (Linux's MAX_LFS_FILESIZE on 64-bit is larger; JS numbers stay exact to 2^53). */
export const MAX_FILE_SIZE = 2 ** 53 - 1;
/** XATTR_SIZE_MAX on Linux. */
export const XATTR_SIZE_MAX = 65536;
