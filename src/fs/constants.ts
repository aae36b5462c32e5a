export const ROOT_INO = 1;
/** NAME_MAX on Linux. */
export const NAME_MAX = 255;
/** Largest file size we accept (Linux's MAX_LFS_FILESIZE on 64-bit is larger; JS numbers stay exact to 2^53). */
export const MAX_FILE_SIZE = 2 ** 53 - 1;
/** XATTR_SIZE_MAX on Linux. */
export const XATTR_SIZE_MAX = 65536;
/** XATTR_LIST_MAX on Linux: listxattr's answer (names, NUL-terminated) never exceeds it. */
export const XATTR_LIST_MAX = 65536;
/**
 * Names and values of one inode's extended attributes together: past it a
 * setxattr is ENOSPC, as on ext4 when an inode's xattr space is full. Four
 * largest values' worth: enough for ACLs, capabilities, SELinux labels and
 * user attributes, and a bound on what one xattr operation may load.
 */
export const XATTR_INODE_MAX = 4 * XATTR_SIZE_MAX;
