// A writer for the "newc" cpio format (the one the Linux kernel unpacks as an initramfs).
// Written here so building the guest image needs neither root (device nodes) nor the cpio tool.
//
// Format (Documentation/driver-api/early-userspace/buffer-format.rst): per entry a 110-byte
// ASCII header "070701" + 13 fields of 8 hex digits, the NUL-terminated name padded to a
// multiple of 4, then the data padded to a multiple of 4; the archive ends with "TRAILER!!!".

export type CpioEntry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const enc = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/**
 * Build an uncompressed newc archive. Paths are stored without a leading "/".
 * Parent directories are not implied: list them before their children.
 */
export function buildCpio(entries: CpioEntry[], mtime = 0): Uint8Array {
  const chunks: Uint8Array[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Uint8Array, nlink: number, rmaj = 0, rmin = 0) => {
    const nameBytes = enc.encode(name.replace(/^\/+/, "") + "\0");
    const header =
      "070701" +
      hex8(ino++) +
      hex8(mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(nlink) +
      hex8(mtime) +
      hex8(data.length) +
      hex8(0) + // devmajor
      hex8(0) + // devminor
      hex8(rmaj) +
      hex8(rmin) +
      hex8(nameBytes.length) +
      hex8(0); // check
    chunks.push(enc.encode(header), nameBytes, new Uint8Array(pad4(110 + nameBytes.length)));
    if (data.length > 0) chunks.push(data, new Uint8Array(pad4(data.length)));
  };
  for (const e of entries) {
    switch (e.kind) {
      case "dir":
        push(e.path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), 2);
        break;
      case "file":
        push(e.path, S_IFREG | (e.mode ?? 0o644), e.data, 1);
        break;
      case "symlink":
        push(e.path, S_IFLNK | 0o777, enc.encode(e.target), 1);
        break;
      case "chardev":
        push(e.path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), 1, e.major, e.minor);
        break;
    }
  }
  push("TRAILER!!!", 0, new Uint8Array(0), 1);
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total + pad4(total));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
