// Serves guest images to the workspace page under /__guest/ (GUEST_BASE): a descriptor per image
// (src/workspace/guest/image.ts) and its files as application/octet-stream.
//
// Why a middleware and not public files: Vite's dev server tries to transform an extension-less
// file such as `vmlinuz` and answers 500, and v86 then fails with a confusing RangeError on the
// kernel buffer. Here every guest file is sent as bytes, never through Vite's pipeline.
//
// Images are pluggable: `images` maps a name to a function preparing it (built once, on first
// request or by prepareImages()); "busybox" is the Debian kernel + busybox initramfs of the guest
// harness (scripts/guest/image.ts) plus the workspace agent (agent.sh).

import { promises as fsp } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Plugin } from "vite";
import type { GuestImageDescriptor, GuestImageIndex } from "../../src/workspace/guest/image.js";
import { buildCpio } from "../guest/cpio.js";
import { ensureGuestImage } from "../guest/image.js";
import { BASE_MOUNT_OPTS, DEFAULT_MOUNT_OPTS } from "../guest/run.js";

export interface ServedImage {
  descriptor: GuestImageDescriptor;
  /** File name (as the descriptor names it) → host path or bytes. */
  files: Record<string, string | Uint8Array>;
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

/** The agent and its config as an initramfs part appended to the harness's image. */
export async function agentArchive(): Promise<Uint8Array> {
  const enc = new TextEncoder();
  const agent = await fsp.readFile(path.join(HERE, "agent.sh"));
  return buildCpio([
    { kind: "dir", path: "guest" },
    { kind: "file", path: "guest/config", data: enc.encode(`W9P_MOUNT_OPTS='${WORKSPACE_MOUNT_OPTS}'\n`) },
    { kind: "file", path: "guest/script.sh", data: agent, mode: 0o755 },
    { kind: "file", path: "etc/profile", data: enc.encode(PROFILE) },
  ]);
}

export const busyboxImage: ImageSource = async (log) => {
  const image = await ensureGuestImage({ log });
  return {
    descriptor: {
      name: "busybox",
      title: `Debian i386 kernel ${image.kernelRelease}, busybox`,
      bios: "bios.bin",
      vgaBios: "vgabios.bin",
      kernel: "vmlinuz",
      initrd: ["initrd.img", "agent.cpio"],
      // loglevel=3: the firmware complaints of a quiet boot (ACPI, MP table) stay out of the terminal.
      cmdline: `${GUEST_CMDLINE} loglevel=3`,
      memoryMb: 256,
      home: "/root",
    },
    files: {
      "bios.bin": image.bios,
      "vgabios.bin": image.vgaBios,
      vmlinuz: image.kernel,
      "initrd.img": image.initrd,
      "agent.cpio": await agentArchive(),
    },
  };
};

export interface GuestFilesOptions {
  images?: Record<string, ImageSource>;
  default?: string;
  log?: (line: string) => void;
}

export const DEFAULT_IMAGES: Record<string, ImageSource> = { busybox: busyboxImage };

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
  const index: GuestImageIndex = { default: options.default ?? Object.keys(images)[0] ?? "busybox", images: Object.keys(images) };
  return { get, index };
}

/** The Vite plugin: `plugins: [guestFiles()]`. */
export function guestFiles(options: GuestFilesOptions = {}): Plugin {
  const registry = imageRegistry(options);
  return {
    name: "worker9p-guest-files",
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        void serveGuest(registry, req, res).then((handled) => {
          if (!handled) next();
        }, (err: unknown) => {
          res.statusCode = 500;
          res.setHeader("content-type", "text/plain; charset=utf-8");
          res.end(`guest image: ${err instanceof Error ? err.message : String(err)}\n`);
        });
      });
    },
  };
}

async function serveGuest(registry: ReturnType<typeof imageRegistry>, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://x");
  const m = /^\/__guest\/(?:(images\.json)|([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+))$/.exec(url.pathname);
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
  const image = registry.get(m[2]!);
  if (!image) {
    send(404, "text/plain; charset=utf-8", `no guest image named ${m[2]}\n`);
    return true;
  }
  const served = await image;
  if (m[3] === "image.json") {
    send(200, "application/json", JSON.stringify(served.descriptor));
    return true;
  }
  const file = served.files[m[3]!];
  if (file === undefined) {
    send(404, "text/plain; charset=utf-8", `guest image ${m[2]} has no file ${m[3]}\n`);
    return true;
  }
  send(200, "application/octet-stream", typeof file === "string" ? await fsp.readFile(file) : file);
  return true;
}
