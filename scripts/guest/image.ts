// Builds (once) and finds the Linux guest that `npm run guest` boots in v86:
// SeaBIOS, a Debian i386 kernel, and a gzip newc initramfs holding busybox, the
// virtio/9p kernel modules, util-linux's flock (busybox-static has no flock applet)
// and an /init that mounts the 9P share at /mnt and runs /guest/script.sh.
//
// Everything comes from Debian's apt (no install: `apt-get download` + `dpkg -x`) and is
// kept in .cache/guest/<key>/, where <key> hashes the package versions and this file's
// build revision. A run whose cache is complete costs no apt call at all unless the last
// version check is older than a day (or `--refresh` / `refresh: true`).
//
// CLI: tsx scripts/guest/image.ts [--refresh] [--print]

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { aptGetUpdate, errText, hasCommand } from "../apt.js";
import { buildCpio, type CpioEntry } from "./cpio.js";

const run = promisify(execFile);

/** Bump when the initramfs layout or /init changes, so cached images are rebuilt. */
const BUILD_REV = 5;

/** Modules the guest needs; their dependencies (from each .ko's modinfo) are added in load order. */
const WANTED_MODULES = ["virtio_pci", "9pnet_virtio", "9p"];

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const DEFAULT_CACHE_DIR = path.join(REPO_ROOT, ".cache", "guest");

export interface GuestImage {
  /** The folder holding the files below. */
  dir: string;
  key: string;
  /** SeaBIOS (128 KiB build) and its VGA BIOS. */
  bios: string;
  vgaBios: string;
  /** bzImage of the Debian i386 kernel. */
  kernel: string;
  /** gzip newc cpio (a per-run cpio with the script is appended by the harness). */
  initrd: string;
  kernelRelease: string;
  /** Debian package → version it was built from. */
  packages: Record<string, string>;
  /** Kernel modules in the order /init loads them. */
  modules: string[];
}

export interface EnsureGuestImageOptions {
  cacheDir?: string;
  /** Check apt for newer package versions even if the last check is recent. */
  refresh?: boolean;
  log?: (line: string) => void;
}

interface CurrentPointer {
  key: string;
  checkedAt: number;
  /** BUILD_REV of the image `key` names: a pointer written by another revision is not trusted. */
  rev?: number;
}

const CHECK_INTERVAL_MS = 24 * 3600 * 1000;

const INSTALL_HINT =
  "The guest image is built from Debian packages with apt-get and dpkg (Debian/Ubuntu, as root): " +
  "it needs `dpkg --add-architecture i386 && apt-get update`, then downloads seabios, busybox-static:i386, " +
  "linux-image-<version>-686-unsigned:i386, util-linux:i386 and libc6:i386. " +
  "On another system, run this once on a Debian machine (or container) and copy .cache/guest/ over.";

export class GuestImageError extends Error {
  override name = "GuestImageError";
}

export async function ensureGuestImage(options: EnsureGuestImageOptions = {}): Promise<GuestImage> {
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const log = options.log ?? (() => {});
  const current = await readJson<CurrentPointer>(path.join(cacheDir, "current.json"));
  const cached = current ? await loadImage(cacheDir, current.key) : undefined;

  const refresh = options.refresh || process.env.W9P_GUEST_REFRESH === "1";
  if (cached && current && current.rev === BUILD_REV && !refresh && Date.now() - current.checkedAt < CHECK_INTERVAL_MS) return cached;

  if (!(await hasCommand("apt-get")) || !(await hasCommand("dpkg"))) {
    if (cached) {
      log("guest image: apt-get/dpkg not available, using the cached image without a version check");
      return cached;
    }
    throw new GuestImageError(`apt-get and dpkg are not available. ${INSTALL_HINT}`);
  }

  let versions: Versions;
  try {
    versions = await resolveVersions(log);
  } catch (err) {
    if (cached) {
      log(`guest image: version check failed (${errText(err)}), using the cached image`);
      return cached;
    }
    throw err;
  }
  const key = cacheKey(versions);
  let image = await loadImage(cacheDir, key);
  if (!image) {
    log(`guest image: building ${key} (${Object.entries(versions.packages).map(([p, v]) => `${p}=${v}`).join(" ")})`);
    await buildImage(cacheDir, key, versions, log);
    image = await loadImage(cacheDir, key);
    if (!image) throw new GuestImageError(`guest image ${key} was built but is incomplete`);
  }
  await writeJson(path.join(cacheDir, "current.json"), { key, checkedAt: Date.now(), rev: BUILD_REV } satisfies CurrentPointer);
  return image;
}

// ---------------------------------------------------------------- apt

interface Versions {
  kernelPackage: string;
  /** "name:arch" → candidate version */
  packages: Record<string, string>;
}

const FIXED_PACKAGES = ["seabios", "busybox-static:i386", "util-linux:i386", "libc6:i386"];

async function resolveVersions(log: (line: string) => void): Promise<Versions> {
  const root = process.getuid?.() === 0;
  const foreign = (await run("dpkg", ["--print-foreign-architectures"])).stdout.split(/\s+/);
  let updated = false;
  const update = async () => {
    if (!root) throw new GuestImageError(`apt needs an update but this is not root. ${INSTALL_HINT}`);
    await aptGetUpdate("guest image", log);
    updated = true;
  };
  if (!foreign.includes("i386")) {
    if (!root) throw new GuestImageError(`the i386 architecture is not enabled in dpkg. ${INSTALL_HINT}`);
    log("guest image: dpkg --add-architecture i386");
    await run("dpkg", ["--add-architecture", "i386"]);
    await update();
  }
  for (;;) {
    const kernelPackage = await newestKernelPackage();
    const names = kernelPackage ? [...FIXED_PACKAGES, `${kernelPackage}:i386`] : FIXED_PACKAGES;
    const packages = await candidates(names);
    const missing = names.filter((n) => !packages[n]);
    if (kernelPackage && missing.length === 0) return { kernelPackage, packages };
    if (updated) {
      throw new GuestImageError(
        `apt cannot find ${kernelPackage ? missing.join(", ") : "any linux-image-*-686-unsigned package"}. ${INSTALL_HINT}`,
      );
    }
    await update();
  }
}

async function newestKernelPackage(): Promise<string | undefined> {
  const { stdout } = await run("apt-cache", ["search", "--names-only", "^linux-image-[0-9.]+-[0-9]+-686-unsigned$"]);
  const names = stdout
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n): n is string => !!n && /^linux-image-[\d.]+-\d+-686-unsigned$/.test(n));
  const num = (n: string) => (n.match(/\d+/g) ?? []).map(Number);
  names.sort((a, b) => {
    const x = num(a);
    const y = num(b);
    for (let i = 0; i < Math.max(x.length, y.length); i++) {
      const d = (x[i] ?? 0) - (y[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
  return names.at(-1);
}

async function candidates(names: string[]): Promise<Record<string, string>> {
  const { stdout } = await run("apt-cache", ["policy", ...names]);
  const out: Record<string, string> = {};
  let name: string | undefined;
  for (const line of stdout.split("\n")) {
    const head = line.match(/^(\S+):$/);
    if (head) {
      name = head[1];
      continue;
    }
    const cand = line.match(/^\s+Candidate:\s+(\S+)/);
    if (cand && name && cand[1] !== "(none)") {
      // apt prints the native-arch package without its ":arch" qualifier
      const key = names.find((n) => n === name || n.split(":")[0] === name) ?? name;
      out[key] = cand[1]!;
    }
  }
  return out;
}

function cacheKey(v: Versions): string {
  const text = JSON.stringify({ rev: BUILD_REV, packages: Object.entries(v.packages).sort() });
  return `${v.kernelPackage.replace(/^linux-image-|-unsigned$/g, "")}-${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
}

// ---------------------------------------------------------------- build

async function buildImage(cacheDir: string, key: string, v: Versions, log: (line: string) => void): Promise<void> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(cacheDir, `tmp-${key}-`));
  try {
    const debs = path.join(tmp, "debs");
    const root = path.join(tmp, "root");
    const out = path.join(tmp, "out");
    await Promise.all([fsp.mkdir(debs), fsp.mkdir(root), fsp.mkdir(out)]);

    const specs = Object.entries(v.packages).map(([name, ver]) => `${name}=${ver}`);
    log(`guest image: apt-get download ${specs.join(" ")}`);
    await run("apt-get", ["download", ...specs], { cwd: debs, maxBuffer: 64 << 20 });
    for (const deb of await fsp.readdir(debs)) {
      await run("dpkg", ["-x", path.join(debs, deb), root], { maxBuffer: 64 << 20 });
    }

    const need = async (...candidates: string[]) => {
      for (const c of candidates) if (existsSync(path.join(root, c))) return path.join(root, c);
      throw new GuestImageError(`none of ${candidates.join(", ")} is in the downloaded packages`);
    };
    const bios = await need("usr/share/seabios/bios.bin");
    const vgaBios = await need("usr/share/seabios/vgabios-stdvga.bin");
    const bootDir = await need("boot");
    const vmlinuz = (await fsp.readdir(bootDir)).find((f) => f.startsWith("vmlinuz-"));
    if (!vmlinuz) throw new GuestImageError("no boot/vmlinuz-* in the kernel package");
    const kernelRelease = vmlinuz.slice("vmlinuz-".length);
    const modDir = await need(`lib/modules/${kernelRelease}`, `usr/lib/modules/${kernelRelease}`);
    const busybox = await need("bin/busybox", "usr/bin/busybox");
    const flock = await need("usr/bin/flock", "bin/flock");
    const ldso = await fsp.realpath(await need("lib/ld-linux.so.2", "usr/lib/ld-linux.so.2"));
    const libc = await fsp.realpath(await need("lib/i386-linux-gnu/libc.so.6", "usr/lib/i386-linux-gnu/libc.so.6"));

    const modules = await resolveModules(modDir);
    log(`guest image: kernel ${kernelRelease}, modules ${modules.map((m) => m.name).join(" ")}`);

    const entries: CpioEntry[] = [];
    for (const d of ["bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "mnt", "newroot", "root", "etc", "guest", "lib", "lib/i386-linux-gnu", "lib/modules"]) {
      entries.push({ kind: "dir", path: d, mode: d === "tmp" ? 0o1777 : 0o755 });
    }
    entries.push({ kind: "chardev", path: "dev/console", major: 5, minor: 1 });
    entries.push({ kind: "chardev", path: "dev/null", major: 1, minor: 3, mode: 0o666 });
    entries.push({ kind: "file", path: "bin/busybox", data: await fsp.readFile(busybox), mode: 0o755 });
    entries.push({ kind: "file", path: "usr/bin/flock", data: await fsp.readFile(flock), mode: 0o755 });
    entries.push({ kind: "file", path: "lib/i386-linux-gnu/ld-linux.so.2", data: await fsp.readFile(ldso), mode: 0o755 });
    entries.push({ kind: "symlink", path: "lib/ld-linux.so.2", target: "i386-linux-gnu/ld-linux.so.2" });
    entries.push({ kind: "file", path: "lib/i386-linux-gnu/libc.so.6", data: await fsp.readFile(libc), mode: 0o755 });
    for (const m of modules) {
      entries.push({ kind: "file", path: `lib/modules/${m.name}.ko`, data: m.data });
    }
    entries.push({ kind: "file", path: "etc/modules", data: utf8(modules.map((m) => m.name).join("\n") + "\n") });
    entries.push({ kind: "file", path: "etc/passwd", data: utf8("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n") });
    entries.push({ kind: "file", path: "etc/group", data: utf8("root:x:0:\nnogroup:x:65534:\n") });
    entries.push({ kind: "file", path: "init", data: utf8(INIT_SCRIPT), mode: 0o755 });
    const cpio = buildCpio(entries);
    const gz = gzipSync(cpio, { level: 9 });
    // Pad to 4 bytes: the per-run archive the harness appends must start 4-aligned.
    const padded = new Uint8Array(gz.length + ((4 - (gz.length % 4)) % 4));
    padded.set(gz);

    await fsp.copyFile(bios, path.join(out, "bios.bin"));
    await fsp.copyFile(vgaBios, path.join(out, "vgabios.bin"));
    await fsp.copyFile(path.join(bootDir, vmlinuz), path.join(out, "vmlinuz"));
    await fsp.writeFile(path.join(out, "initrd.img"), padded);
    const manifest: Manifest = {
      key,
      kernelRelease,
      packages: v.packages,
      modules: modules.map((m) => m.name),
      builtAt: new Date().toISOString(),
    };
    await writeJson(path.join(out, "manifest.json"), manifest);

    const dest = path.join(cacheDir, key);
    await fsp.rm(dest, { recursive: true, force: true });
    await fsp.rename(out, dest);
    log(`guest image: ready in ${dest} (initrd ${(padded.length / 1024).toFixed(0)} KiB)`);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

interface Manifest {
  key: string;
  kernelRelease: string;
  packages: Record<string, string>;
  modules: string[];
  builtAt: string;
}

async function loadImage(cacheDir: string, key: string): Promise<GuestImage | undefined> {
  const dir = path.join(cacheDir, key);
  const m = await readJson<Manifest>(path.join(dir, "manifest.json"));
  if (!m) return undefined;
  const files = {
    bios: path.join(dir, "bios.bin"),
    vgaBios: path.join(dir, "vgabios.bin"),
    kernel: path.join(dir, "vmlinuz"),
    initrd: path.join(dir, "initrd.img"),
  };
  if (!Object.values(files).every((f) => existsSync(f))) return undefined;
  return { dir, key: m.key, ...files, kernelRelease: m.kernelRelease, packages: m.packages, modules: m.modules };
}

interface Module {
  name: string;
  data: Uint8Array;
}

/** Find WANTED_MODULES and their dependencies under modDir; return them dependencies first, decompressed. */
async function resolveModules(modDir: string): Promise<Module[]> {
  const index = new Map<string, string>();
  const walk = async (dir: string) => {
    for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) await walk(p);
      else {
        const m = ent.name.match(/^(.*)\.ko(\.xz|\.zst|\.gz)?$/);
        if (m) index.set(m[1]!.replace(/-/g, "_"), p);
      }
    }
  };
  await walk(modDir);
  const builtin = new Set(
    (await fsp.readFile(path.join(modDir, "modules.builtin"), "utf8").catch(() => ""))
      .split("\n")
      .map((l) => path.basename(l).replace(/\.ko.*$/, "").replace(/-/g, "_"))
      .filter(Boolean),
  );

  const order: Module[] = [];
  const seen = new Set<string>();
  const visit = async (name: string, from: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const file = index.get(name);
    if (!file) {
      if (builtin.has(name)) return;
      throw new GuestImageError(`kernel module ${name} (needed by ${from}) is neither a module nor built in`);
    }
    const data = await readModule(file);
    for (const dep of modinfoDepends(data)) await visit(dep, name);
    order.push({ name, data });
  };
  for (const m of WANTED_MODULES) await visit(m, "the guest");
  return order;
}

async function readModule(file: string): Promise<Uint8Array> {
  if (file.endsWith(".ko")) return fsp.readFile(file);
  const tool = file.endsWith(".xz") ? "xz" : file.endsWith(".zst") ? "zstd" : "gzip";
  try {
    const { stdout } = await run(tool, ["-dc", file], { encoding: "buffer", maxBuffer: 256 << 20 });
    return stdout;
  } catch (err) {
    throw new GuestImageError(`cannot decompress ${path.basename(file)} with ${tool} (${errText(err)}); install ${tool}`);
  }
}

/** The `depends=` entry of a module's .modinfo section (NUL-separated key=value strings). */
function modinfoDepends(data: Uint8Array): string[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  for (;;) {
    const i = buf.indexOf("depends=", at, "latin1");
    if (i < 0) return [];
    if (i === 0 || buf[i - 1] === 0) {
      const end = buf.indexOf(0, i);
      const list = buf.toString("latin1", i + "depends=".length, end < 0 ? undefined : end);
      return list.split(",").map((s) => s.trim().replace(/-/g, "_")).filter(Boolean);
    }
    at = i + 1;
  }
}

// ---------------------------------------------------------------- /init

/**
 * The guest's /init. The harness appends /guest/config (shell variables), /guest/script.sh and
 * any extra files in a second cpio. Lines starting with "@@W9P-" are read by the harness:
 *   @@W9P-BOOTED <uptime>   modules loaded, about to mount
 *   @@W9P-MOUNTED <uptime>  /mnt is mounted, the script starts
 *   @@W9P-EXIT <status>     the script's exit status (98: a module failed, 99: mount failed)
 * With W9P_ROOT=1 in /guest/config the 9P tree is the root file system instead: it is mounted at
 * /newroot, /guest/* is copied to a tmpfs at /newroot/run/w9p, /proc, /sys and /dev move along,
 * and switch_root starts the tree's /sbin/init (which prints MOUNTED and EXIT itself), printing
 *   @@W9P-ROOT <uptime>     the root is mounted, about to switch to it
 */
const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
hostname guest
w9p_exit() {
  echo "@@W9P-EXIT $1"
  poweroff -f
  sleep 30
}
for m in $(cat /etc/modules); do
  insmod /lib/modules/$m.ko || { echo "@@W9P-ERROR insmod $m failed"; w9p_exit 98; }
done
W9P_MOUNT_OPTS=trans=virtio,version=9p2000.L
W9P_ROOT=
[ -f /guest/config ] && . /guest/config
echo "@@W9P-BOOTED $(cut -d' ' -f1 /proc/uptime)"
mnt=/mnt
[ -n "$W9P_ROOT" ] && mnt=/newroot
if ! mount -t 9p -o "$W9P_MOUNT_OPTS" host9p $mnt; then
  echo "@@W9P-ERROR mount -t 9p -o $W9P_MOUNT_OPTS failed"
  dmesg | tail -n 20
  w9p_exit 99
fi
if [ -n "$W9P_ROOT" ]; then
  if [ ! -x /newroot/sbin/init ]; then
    echo "@@W9P-ERROR the 9P root has no /sbin/init"
    w9p_exit 99
  fi
  mount -t tmpfs -o mode=0755 tmpfs /newroot/run
  mkdir -p /newroot/run/w9p
  cp -a /guest/. /newroot/run/w9p/
  umount /tmp
  for d in dev proc sys; do mount --move /$d /newroot/$d; done
  echo "@@W9P-ROOT $(cut -d' ' -f1 /newroot/proc/uptime)"
  exec switch_root /newroot /sbin/init
fi
echo "@@W9P-MOUNTED $(cut -d' ' -f1 /proc/uptime)"
cd /mnt
if [ -f /guest/script.sh ]; then
  sh /guest/script.sh </dev/null
  rc=$?
else
  grep ' /mnt ' /proc/mounts; ls -la /mnt
  rc=$?
fi
cd /
w9p_exit $rc
`;

// ---------------------------------------------------------------- helpers

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify(value, null, 2) + "\n");
  await fsp.rename(tmp, file);
}

// ---------------------------------------------------------------- CLI

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  ensureGuestImage({ refresh: args.includes("--refresh"), log: (l) => console.error(l) }).then(
    (image) => {
      console.log(JSON.stringify(image, null, 2));
    },
    (err: unknown) => {
      console.error(`guest image: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
