// Serves guest images to the workspace page under /__guest/ (GUEST_BASE): a descriptor per image
// (src/workspace/guest/image.ts) and its files as application/octet-stream.
//
// Why a middleware and not public files: Vite's dev server tries to transform an extension-less
// file such as `vmlinuz` and answers 500, and v86 then fails with a confusing RangeError on the
// kernel buffer. Here every guest file is sent as bytes, never through Vite's pipeline.
//
// Images are pluggable: `images` maps a name to a function preparing it (built once, on first
// request or by prepare.ts). "debian" (the default) boots the Debian root of `npm run image`
// (scripts/image/) over 9P: the guest harness's kernel + initramfs, which mounts the tree as /
// and switch_roots into it, with the workspace agent (agent.sh) as the root's /run/w9p/script.sh;
// the tree is the user's layer over the image's base image (src/storage/image/FORMAT.md).
// "busybox" is the small one: the same kernel and busybox initramfs, the tree being the home.
//
// URL layout (plain static files, so a deployed copy is a folder any web server serves):
//   /__guest/images.json                 GuestImageIndex: the image names and the default
//   /__guest/<image>/image.json          GuestImageDescriptor (its paths are relative to it)
//   /__guest/<image>/<file>              BIOS, kernel, initramfs parts
//   /__guest/<image>/base/<file>         the base image (image.json, index-*.bin, pack-*.bin),
//                                        with HTTP Range requests (206 + Content-Range): the
//                                        page's reader fetches pieces of packs, never whole packs
//   /__guest/<image>/v86/fs.json         the same root in v86's format, for ?fs=builtin (made on
//   /__guest/<image>/v86/blobs/<file>    first request: scripts/image/v86-format.ts); blobs are
//                                        named by content, so cacheable for good

import { promises as fsp } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "vite";
import type { GuestImageDescriptor, GuestImageIndex } from "../../src/workspace/guest/image.js";
import { buildCpio } from "../guest/cpio.js";
import { ensureGuestImage, type GuestImage } from "../guest/image.js";
import { BASE_MOUNT_OPTS, DEBIAN_MOUNT_OPTS, DEFAULT_MOUNT_OPTS } from "../guest/run.js";
import { ensureDebianRoot } from "../image/root.js";
import { ensureV86Format } from "../image/v86-format.js";

export interface ServedImage {
  descriptor: GuestImageDescriptor;
  /** File name (as the descriptor names it) → host path or bytes. */
  files: Record<string, string | Uint8Array>;
  /** Host folder of the base image the descriptor's `base` names (served under <image>/base/). */
  baseDir?: string;
  /** Host folder of the descriptor's v86Fs (served under <image>/v86/), made on first use. */
  v86Dir?: () => Promise<string>;
}

export type ImageSource = (log: (line: string) => void) => Promise<ServedImage>;

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The guest harness's kernel command line (scripts/guest/run.ts), so both boot the same way. */
export const GUEST_CMDLINE = "console=ttyS0 tsc=reliable mitigations=off random.trust_cpu=on quiet";
/** The same mount options as the guest harness and bench:guest. */
export const WORKSPACE_MOUNT_OPTS = `${BASE_MOUNT_OPTS},${DEFAULT_MOUNT_OPTS}`;

const PROFILE = `export PS1='\\u@workspace:\\w\\$ '
export HOME=/root TERM=xterm-256color PATH=/usr/sbin:/usr/bin:/sbin:/bin
alias ll='ls -la'
`;

/**
 * The agent and its config as an initramfs part appended to the harness's image. busybox: the
 * initramfs is the root (its /etc/profile is ours). root: the initramfs mounts the tree as / and
 * switch_roots into its /sbin/init (scripts/image/init.sh), which runs /run/w9p/script.sh, the
 * agent; W9P_ROOT is exported so that the agent, too, knows the tree is the root.
 */
export async function agentArchive(kind: "busybox" | "root" = "busybox"): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const agent = await fsp.readFile(path.join(HERE, "agent.sh"));
  const config =
    kind === "root"
      ? `W9P_MOUNT_OPTS='${WORKSPACE_MOUNT_OPTS},${DEBIAN_MOUNT_OPTS}'\nexport W9P_ROOT=1\n`
      : `W9P_MOUNT_OPTS='${WORKSPACE_MOUNT_OPTS}'\n`;
  return buildCpio([
    { kind: "dir", path: "guest" },
    { kind: "file", path: "guest/config", data: enc.encode(config) },
    { kind: "file", path: "guest/script.sh", data: agent, mode: 0o755 },
    ...(kind === "busybox" ? [{ kind: "file" as const, path: "etc/profile", data: enc.encode(PROFILE) }] : []),
  ]);
}

/** Both images boot the guest harness's kernel and initramfs, with the agent appended. */
const BOOT_FILES: Pick<GuestImageDescriptor, "bios" | "vgaBios" | "kernel" | "initrd" | "cmdline"> = {
  bios: "bios.bin",
  vgaBios: "vgabios.bin",
  kernel: "vmlinuz",
  initrd: ["initrd.img", "agent.cpio"],
  // loglevel=3: the firmware complaints of a quiet boot (ACPI, MP table) stay out of the terminal.
  cmdline: `${GUEST_CMDLINE} loglevel=3`,
};

async function bootFiles(guest: GuestImage, agent: "busybox" | "root" = "busybox"): Promise<Record<string, string | Uint8Array>> {
  return {
    "bios.bin": guest.bios,
    "vgabios.bin": guest.vgaBios,
    vmlinuz: guest.kernel,
    "initrd.img": guest.initrd,
    "agent.cpio": await agentArchive(agent),
  };
}

export const busyboxImage: ImageSource = async (log) => {
  const image = await ensureGuestImage({ log });
  return {
    descriptor: {
      name: "busybox",
      title: `Debian i386 kernel ${image.kernelRelease}, busybox`,
      ...BOOT_FILES,
      memoryMb: 256,
      home: "/root",
      // The tree is the home; "home" keeps the trees users made before images had their own.
      tree: "home",
      homeInTree: "",
    },
    files: await bootFiles(image),
  };
};

/**
 * The Debian root (scripts/image/): built the first time (apt downloads and mmdebstrap, minutes),
 * its boot profile recorded (one boot under Node) and written as a base image; later starts
 * find all three in .cache/image/<key>/.
 */
export const debianImage: ImageSource = async (log) => {
  const guest = await ensureGuestImage({ log });
  const { image: debian, baseDir: debianBase } = await ensureDebianRoot({ log });
  return {
    descriptor: {
      name: "debian",
      title: `Debian bookworm i386 (kernel ${guest.kernelRelease})`,
      ...BOOT_FILES,
      // As the guest harness gives the Debian root: python3 and cc want more than busybox.
      memoryMb: 512,
      home: "/root",
      base: "base/",
      // A whole root, not a home: a tree of its own, never the busybox image's "home".
      tree: "debian",
      homeInTree: "root",
      v86Fs: { basefs: "v86/fs.json", baseurl: "v86/blobs/" },
    },
    files: await bootFiles(guest, "root"),
    baseDir: debianBase,
    // Converted only when a page asks for it (?fs=builtin): a few minutes and ~400 MB the first time.
    v86Dir: once(async () => path.dirname((await ensureV86Format(debian, log)).basefs)),
  };
};

function once<T>(make: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= make());
}

export interface GuestFilesOptions {
  images?: Record<string, ImageSource>;
  default?: string;
  log?: (line: string) => void;
  /** Serve from this registry (images prepared already, e.g. by a test harness) instead of a new one. */
  registry?: ImageRegistry;
}

export type ImageRegistry = ReturnType<typeof imageRegistry>;

export const DEFAULT_IMAGES: Record<string, ImageSource> = { debian: debianImage, busybox: busyboxImage };
export const DEFAULT_IMAGE = "debian";

/** Prepare images once; the same promise answers every later request. */
export function imageRegistry(options: GuestFilesOptions = {}) {
  const images = options.images ?? DEFAULT_IMAGES;
  const log = options.log ?? ((line: string) => console.log(line));
  const prepared = new Map<string, Promise<ServedImage>>();
  const get = (name: string): Promise<ServedImage> | undefined => {
    const source = images[name];
    if (!source) return undefined;
    let p = prepared.get(name);
    if (!p) {
      p = source(log);
      p.catch(() => prepared.delete(name)); // a failed preparation is tried again next time
      prepared.set(name, p);
    }
    return p;
  };
  const index: GuestImageIndex = { default: options.default ?? (images[DEFAULT_IMAGE] ? DEFAULT_IMAGE : (Object.keys(images)[0] ?? "busybox")), images: Object.keys(images) };
  return { get, index };
}

/** The Vite plugin: `plugins: [guestFiles()]`. */
export function guestFiles(options: GuestFilesOptions = {}): Plugin {
  const middleware = guestMiddleware(options);
  return {
    name: "worker9p-guest-files",
    configureServer(server) {
      server.middlewares.use(middleware);
    },
  };
}

/** The same as a Connect/Node middleware: answers /__guest/… and passes anything else to `next`. */
export function guestMiddleware(options: GuestFilesOptions = {}) {
  const registry = options.registry ?? imageRegistry(options);
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    void serveGuest(registry, req, res).then((handled) => {
      if (!handled) next();
    }, (err: unknown) => {
      res.statusCode = 500;
      res.setHeader("content-type", "text/plain; charset=utf-8");
      res.end(`guest image: ${err instanceof Error ? err.message : String(err)}\n`);
    });
  };
}

async function serveGuest(registry: ReturnType<typeof imageRegistry>, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://x");
  const m = /^\/__guest\/(?:(images\.json)|([A-Za-z0-9._-]+)\/(base\/|v86\/(?:blobs\/)?)?([A-Za-z0-9._-]+))$/.exec(url.pathname);
  if (!m || (req.method !== "GET" && req.method !== "HEAD")) return false;
  const send = (status: number, type: string, body: Uint8Array | string) => {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    res.statusCode = status;
    res.setHeader("content-type", type);
    res.setHeader("content-length", String(bytes.byteLength));
    res.setHeader("cache-control", "no-cache");
    res.end(req.method === "HEAD" ? undefined : bytes);
  };
  if (m[1]) {
    send(200, "application/json", JSON.stringify(registry.index));
    return true;
  }
  const [, , name, inBase, file] = m as unknown as [string, string, string, string | undefined, string];
  const image = registry.get(name);
  if (!image) {
    send(404, "text/plain; charset=utf-8", `no guest image named ${name}\n`);
    return true;
  }
  const served = await image;
  if (inBase?.startsWith("v86/")) {
    if (!served.v86Dir || file.startsWith(".")) {
      send(404, "text/plain; charset=utf-8", `guest image ${name} has no v86 file ${file}\n`);
      return true;
    }
    const blob = inBase === "v86/blobs/";
    await sendFileRange(req, res, path.join(await served.v86Dir(), inBase.slice(4), file), blob ? "application/octet-stream" : "application/json", blob);
    return true;
  }
  if (inBase) {
    if (!served.baseDir || file.startsWith(".")) {
      send(404, "text/plain; charset=utf-8", `guest image ${name} has no base image file ${file}\n`);
      return true;
    }
    await sendFileRange(req, res, path.join(served.baseDir, file), file === "image.json" ? "application/json" : "application/octet-stream");
    return true;
  }
  if (file === "image.json") {
    send(200, "application/json", JSON.stringify(served.descriptor));
    return true;
  }
  const entry = served.files[file];
  if (entry === undefined) {
    send(404, "text/plain; charset=utf-8", `guest image ${name} has no file ${file}\n`);
    return true;
  }
  send(200, "application/octet-stream", typeof entry === "string" ? await fsp.readFile(entry) : entry);
  return true;
}

/** A byte range of a `size`-byte file from a Range header: [start, end) or "unsatisfiable"; undefined: the whole file. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined {
  if (!header) return undefined;
  // One range only (the reader asks for one); a multi-range request gets the whole file, as RFC 9110 allows.
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const suffix = Number(m[2]);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(m[1]);
  const last = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || last < start) return "unsatisfiable";
  return { start, end: last + 1 };
}

/** A static file with Range support: 206 + Content-Range for a range, 416 past the end, 404 if absent. */
async function sendFileRange(req: IncomingMessage, res: ServerResponse, file: string, type: string, immutable = false): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await fsp.open(file, "r");
  } catch {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" }).end(`not found: ${path.basename(file)}\n`);
    return;
  }
  try {
    const size = (await handle.stat()).size;
    const range = parseRange(req.headers.range, size);
    const headers: Record<string, string> = { "content-type": type, "accept-ranges": "bytes", "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" };
    if (range === "unsatisfiable") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}`, "content-length": "0" }).end();
      return;
    }
    const { start, end } = range ?? { start: 0, end: size };
    if (range) headers["content-range"] = `bytes ${start}-${end - 1}/${size}`;
    headers["content-length"] = String(end - start);
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD") return void res.end();
    const body = Buffer.alloc(end - start);
    const { bytesRead } = await handle.read(body, 0, body.length, start);
    res.end(body.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}
