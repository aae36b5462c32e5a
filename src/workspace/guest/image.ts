/**
 * A guest image as the workspace boots it: a pluggable descriptor, so a new image (e.g. a
 * Debian root) is one more entry served by scripts/workspace/guest-files.ts, not a change here.
 * Paths are URLs relative to the descriptor's own URL.
 */
export interface GuestImageDescriptor {
  /** Short name, used in `?image=NAME`. */
  name: string;
  /** What the user sees while it boots, e.g. "Debian i386 kernel 6.1, busybox". */
  title: string;
  bios: string;
  vgaBios: string;
  /** bzImage. */
  kernel: string;
  /** Initramfs parts, concatenated in order at 4-byte boundaries (the kernel unpacks each). */
  initrd: string[];
  cmdline: string;
  memoryMb: number;
  /** The user's home in the guest (the shell's start directory; busybox: where the tree is mounted). */
  home: string;
  /**
   * The base image the tree is layered over (a writeImage() folder, URL ending in "/"); absent:
   * the tree starts empty. With a base, the tree is the guest's whole root file system.
   */
  base?: string;
  /** The tree a page opens without `?tree=`: different images keep different trees. */
  tree: string;
  /** Where `home` is inside the tree, as a tree path: "" when the tree is the home, "root" for a root tree. */
  homeInTree: string;
  /**
   * The same root in v86's own lazily loaded format (fs.json version 3 + sha256-named blobs,
   * scripts/image/v86-format.ts): what `?fs=builtin` boots this image from, v86's built-in 9P
   * fetching each file whole on first open. For comparison (npm run bench:image).
   */
  v86Fs?: V86FsLocation;
}

/** v86's `filesystem: { basefs, baseurl }`: the index's URL and the folder of blobs (ending in "/"). */
export interface V86FsLocation {
  basefs: string;
  baseurl: string;
}

/** The images the dev server offers, and which one a page boots without `?image=`. */
export interface GuestImageIndex {
  default: string;
  images: string[];
}

/** Where the dev server (and a deployed copy) serves guest images. */
export const GUEST_BASE = "/__guest/";

export interface LoadedImage {
  descriptor: GuestImageDescriptor;
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  kernel: ArrayBuffer;
  initrd: ArrayBuffer;
  /** descriptor.v86Fs as absolute URLs. */
  v86Fs?: V86FsLocation;
}

async function fetchBytes(url: URL, what: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`the guest's ${what} (${url.pathname}) could not be loaded: HTTP ${res.status}`);
  return res.arrayBuffer();
}

export interface ResolvedImage {
  descriptor: GuestImageDescriptor;
  /** The descriptor's URL: its paths are relative to it. */
  url: URL;
}

/** Fetch an image's descriptor; `name` undefined: the server's default image. */
export async function resolveGuestImage(name: string | undefined, base: URL | string): Promise<ResolvedImage> {
  const root = new URL(GUEST_BASE, base);
  if (name === undefined) {
    const res = await fetch(new URL("images.json", root));
    if (!res.ok) throw new Error(`no guest images are served here (${root.pathname}images.json: HTTP ${res.status}); start the page with npm start`);
    name = ((await res.json()) as GuestImageIndex).default;
  }
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`image name ${JSON.stringify(name)}: use letters, digits, . _ -`);
  const url = new URL(`${name}/image.json`, root);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`guest image "${name}" is not served here (HTTP ${res.status})`);
  return { descriptor: (await res.json()) as GuestImageDescriptor, url };
}

/** The absolute URL of an image's base image, if it has one. */
export function baseImageUrl(image: ResolvedImage): string | undefined {
  return image.descriptor.base === undefined ? undefined : new URL(image.descriptor.base, image.url).href;
}

/** Fetch the files of an image resolved already (resolveGuestImage). */
export async function loadGuestImage({ descriptor, url: descUrl }: ResolvedImage, onProgress?: (what: string) => void): Promise<LoadedImage> {
  onProgress?.(`loading ${descriptor.title}`);
  const at = (p: string) => new URL(p, descUrl);
  const [bios, vgaBios, kernel, ...parts] = await Promise.all([
    fetchBytes(at(descriptor.bios), "BIOS"),
    fetchBytes(at(descriptor.vgaBios), "VGA BIOS"),
    fetchBytes(at(descriptor.kernel), "kernel"),
    ...descriptor.initrd.map((p) => fetchBytes(at(p), "initramfs")),
  ]);
  const v86Fs = descriptor.v86Fs ? { basefs: at(descriptor.v86Fs.basefs).href, baseurl: at(descriptor.v86Fs.baseurl).href } : undefined;
  return { descriptor, bios: bios!, vgaBios: vgaBios!, kernel: kernel!, initrd: concatAligned(parts), ...(v86Fs ? { v86Fs } : {}) };
}

/** Concatenate initramfs parts, each starting 4-aligned (the kernel skips the zero padding). */
export function concatAligned(parts: ArrayBuffer[]): ArrayBuffer {
  let size = 0;
  for (const p of parts) size += p.byteLength + ((4 - (p.byteLength % 4)) % 4);
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(new Uint8Array(p), at);
    at += p.byteLength + ((4 - (p.byteLength % 4)) % 4);
  }
  return out.buffer;
}
