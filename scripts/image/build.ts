// `npm run image`: a Debian bookworm i386 userland, built from Debian packages into
// .cache/image/<key>/rootfs/, to be served as the guest's root file system over 9P.
//
// How (and why this way):
//  1. Resolve: the package list (packages.txt) plus the Essential:yes set, with their
//     dependencies (no Recommends), is resolved by the host's own apt against the host's package
//     lists (i386 is enabled in dpkg), with an empty dpkg status, simulated (`apt-get -s`). This
//     costs ~2 s and no download, and yields every package's exact version: the image key hashes
//     them with this build's revision and the init script, so a rebuild happens only when a
//     version, the list or the build changes, and the same inputs give the same key.
//  2. Download exactly those versions with `apt-get download` into a shared pool
//     (.cache/image/debs/, so a rebuild fetches only what changed) and make a flat local
//     repository of them (apt-ftparchive), which mmdebstrap reads with copy:// (the files are
//     copied into the chroot's apt cache and removed at the end).
//  3. Install with mmdebstrap (Debian's tool for this; well kept, reproducible with
//     SOURCE_DATE_EPOCH) from that repository only, so what is installed is exactly what was
//     resolved. i386 binaries run natively on an x86_64 kernel (IA32 emulation), so the
//     maintainer scripts really run in a chroot: users and groups, alternatives (editor, cc),
//     the ld.so cache, python's byte code, ca-certificates are made by Debian's own scripts.
//     Documentation, man pages and translations are left out (dpkg path-exclude), as in
//     Debian's own minimal images.
//  4. Add what has no package: /sbin/init (init.sh, no systemd), hostname, hosts, fstab.
//
// The CLI (`npm run image`) is scripts/image/main.ts; the boot profile is recorded by profile.ts.

import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { aptGetUpdate, errText, hasCommand } from "../apt.js";

const run = promisify(execFile);

/** Bump when the build steps change in a way the package versions do not show. */
const BUILD_REV = 1;
/** File times in the image (mmdebstrap's reproducible mode): 2025-01-01T00:00:00Z. */
const SOURCE_DATE_EPOCH = "1735689600";
const SUITE = "bookworm";
const ARCH = "i386";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HERE, "../..");
export const IMAGE_CACHE_DIR = path.join(REPO_ROOT, ".cache", "image");
export const PACKAGE_LIST = path.join(HERE, "packages.txt");
const INIT_SCRIPT = path.join(HERE, "init.sh");

/** What dpkg leaves out of the image (and of later installs in it): docs, manuals, translations. */
const DPKG_OPTIONS = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*",
];

export interface ImagePackage {
  name: string;
  version: string;
  /** i386 or all */
  arch: string;
}

export interface ImageManifest {
  key: string;
  suite: string;
  arch: string;
  /** The names listed in packages.txt. */
  requested: string[];
  /** Everything installed, sorted by name. */
  packages: ImagePackage[];
  stats: TreeStats;
  buildMs: number;
}

export interface TreeStats {
  files: number;
  dirs: number;
  symlinks: number;
  other: number;
  /** Bytes of regular files (a hard-linked file counted once). */
  bytes: number;
}

export interface DebianImage {
  /** .cache/image/<key>: the folder holding the image. */
  dir: string;
  key: string;
  /** The root file system tree. */
  rootfs: string;
  manifest: ImageManifest;
}

export interface EnsureImageOptions {
  cacheDir?: string;
  packageList?: string;
  /** Run `apt-get update` first. */
  refresh?: boolean;
  log?: (line: string) => void;
}

export class ImageBuildError extends Error {
  override name = "ImageBuildError";
}

const HINT =
  "The Debian root is built with the host's apt, dpkg and mmdebstrap (Debian, as root, i386 enabled in dpkg: " +
  "`dpkg --add-architecture i386 && apt-get update`).";

export async function ensureDebianImage(options: EnsureImageOptions = {}): Promise<DebianImage> {
  const cacheDir = options.cacheDir ?? IMAGE_CACHE_DIR;
  const log = options.log ?? (() => {});
  const requested = parsePackageList(await fsp.readFile(options.packageList ?? PACKAGE_LIST, "utf8"));
  if (requested.length === 0) throw new ImageBuildError("the package list is empty");
  await ensureHostTools(log);
  if (options.refresh) await aptUpdate(log);
  const packages = await resolvePackages(requested, log);
  const key = imageKey(packages, await fsp.readFile(INIT_SCRIPT, "utf8"));
  const existing = await loadImage(cacheDir, key);
  if (existing) {
    log(`image: ${key} is built (${existing.manifest.packages.length} packages)`);
    return existing;
  }
  log(`image: building ${key} (${packages.length} packages)`);
  await buildImage(cacheDir, key, requested, packages, log);
  const built = await loadImage(cacheDir, key);
  if (!built) throw new ImageBuildError(`image ${key} was built but is incomplete`);
  return built;
}

export async function loadImage(cacheDir: string, key: string): Promise<DebianImage | undefined> {
  const dir = path.join(cacheDir, key);
  const rootfs = path.join(dir, "rootfs");
  try {
    const manifest = JSON.parse(await fsp.readFile(path.join(dir, "manifest.json"), "utf8")) as ImageManifest;
    if (manifest.key !== key || !existsSync(path.join(rootfs, "sbin", "init"))) return undefined;
    return { dir, key, rootfs, manifest };
  } catch {
    return undefined;
  }
}

/** Names from packages.txt: one per line, `#` comments, blank lines ignored. */
export function parsePackageList(text: string): string[] {
  const names: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(line)) throw new ImageBuildError(`packages.txt: "${line}" is not a Debian package name`);
    if (!names.includes(line)) names.push(line);
  }
  return names;
}

export function imageKey(packages: ImagePackage[], initScript: string): string {
  const text = JSON.stringify({
    rev: BUILD_REV,
    epoch: SOURCE_DATE_EPOCH,
    dpkg: DPKG_OPTIONS,
    init: initScript,
    packages: packages.map((p) => `${p.name}:${p.arch}=${p.version}`).sort(),
  });
  return `${SUITE}-${ARCH}-${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
}

// ---------------------------------------------------------------- host tools and apt

async function ensureHostTools(log: (line: string) => void): Promise<void> {
  for (const tool of ["apt-get", "dpkg"]) {
    if (!(await hasCommand(tool))) throw new ImageBuildError(`${tool} is not available. ${HINT}`);
  }
  const foreign = (await run("dpkg", ["--print-foreign-architectures"])).stdout.split(/\s+/);
  if (!foreign.includes(ARCH)) {
    requireRoot("enable i386 in dpkg");
    log("image: dpkg --add-architecture i386");
    await run("dpkg", ["--add-architecture", ARCH]);
    await aptUpdate(log);
  }
  const missing: string[] = [];
  if (!(await hasCommand("mmdebstrap"))) missing.push("mmdebstrap");
  if (!(await hasCommand("apt-ftparchive"))) missing.push("apt-utils");
  // mmdebstrap checks with arch-test that the host runs i386 binaries (it does: IA32 emulation)
  if (!(await hasCommand("arch-test"))) missing.push("arch-test");
  if (missing.length === 0) return;
  requireRoot(`install ${missing.join(", ")}`);
  log(`image: apt-get install ${missing.join(" ")}`);
  const install = () => run("apt-get", ["install", "-y", "--no-install-recommends", ...missing], { maxBuffer: 64 << 20 });
  try {
    await install();
  } catch {
    await aptUpdate(log);
    await install();
  }
}

function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) throw new ImageBuildError(`need root to ${what}. ${HINT}`);
}

async function aptUpdate(log: (line: string) => void): Promise<void> {
  requireRoot("run apt-get update");
  await aptGetUpdate("image", log);
}

/**
 * The requested packages, the Essential:yes set and their dependencies as the host's apt resolves
 * them for i386 onto an empty system. Runs `apt-get update` once if a name does not resolve.
 */
export async function resolvePackages(requested: string[], log: (line: string) => void): Promise<ImagePackage[]> {
  const tmp = await fsp.mkdtemp(path.join(process.env.TMPDIR ?? "/tmp", "w9p-image-resolve-"));
  try {
    const status = path.join(tmp, "status");
    await fsp.writeFile(status, "");
    const simulate = () =>
      run(
        "apt-get",
        [
          "-s",
          "-q",
          "-o", `Dir::State::status=${status}`,
          "-o", `APT::Architecture=${ARCH}`,
          "-o", `APT::Architectures::=${ARCH}`,
          "-o", "APT::Install-Recommends=false",
          "-o", "APT::Install-Suggests=false",
          "-o", "Debug::NoLocking=1",
          "install",
          `?and(?essential,?architecture(${ARCH}))`,
          ...requested,
        ],
        { maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: "C" } },
      );
    let out: string;
    try {
      out = (await simulate()).stdout;
    } catch (err) {
      if (process.getuid?.() !== 0) throw new ImageBuildError(`apt cannot resolve the package list: ${errText(err)}. ${HINT}`);
      await aptUpdate(log);
      try {
        out = (await simulate()).stdout;
      } catch (err2) {
        throw new ImageBuildError(`apt cannot resolve the package list: ${errText(err2)}`);
      }
    }
    const packages = parseSimulation(out);
    if (packages.length === 0) throw new ImageBuildError("apt resolved no packages");
    return packages;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/** `Inst name (version origin [arch])` lines of `apt-get -s install`, sorted by name. */
export function parseSimulation(out: string): ImagePackage[] {
  const packages: ImagePackage[] = [];
  for (const line of out.split("\n")) {
    const m = line.match(/^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) .*\[([a-z0-9]+)\]\)/);
    if (m) packages.push({ name: m[1]!.replace(/:.*$/, ""), version: m[2]!, arch: m[3]! });
  }
  return packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The file name apt-get download gives a package (an epoch's ":" is written %3a). */
function debFileName(p: ImagePackage): string {
  return `${p.name}_${p.version.replace(/:/g, "%3a")}_${p.arch}.deb`;
}

// ---------------------------------------------------------------- build

async function buildImage(
  cacheDir: string,
  key: string,
  requested: string[],
  packages: ImagePackage[],
  log: (line: string) => void,
): Promise<void> {
  requireRoot("build the image (mmdebstrap installs into a chroot)");
  const started = performance.now();
  const pool = path.join(cacheDir, "debs");
  await fsp.mkdir(pool, { recursive: true });
  await downloadPackages(pool, packages, log);

  // .cache may be a symlink shared between work trees; mmdebstrap wants the real paths.
  const tmp = await fsp.realpath(await fsp.mkdtemp(path.join(cacheDir, `tmp-${key}-`)));
  try {
    const repo = path.join(tmp, "repo");
    await fsp.mkdir(repo);
    for (const p of packages) await fsp.link(path.join(pool, debFileName(p)), path.join(repo, debFileName(p)));
    const { stdout: index } = await run("apt-ftparchive", ["packages", "."], { cwd: repo, maxBuffer: 256 << 20 });
    await fsp.writeFile(path.join(repo, "Packages"), index);
    const { stdout: release } = await run(
      "apt-ftparchive",
      ["-o", `APT::FTPArchive::Release::Suite=${SUITE}`, "-o", `APT::FTPArchive::Release::Codename=${SUITE}`, "release", "."],
      { cwd: repo, maxBuffer: 64 << 20 },
    );
    await fsp.writeFile(path.join(repo, "Release"), release);

    const rootfs = path.join(tmp, "rootfs");
    const args = [
      `--arch=${ARCH}`,
      "--variant=essential",
      "--mode=root",
      "--format=directory",
      `--include=${packages.map((p) => p.name).join(",")}`,
      "--aptopt=APT::Install-Recommends \"false\"",
      ...DPKG_OPTIONS.map((o) => `--dpkgopt=${o}`),
      SUITE,
      rootfs,
      `deb [trusted=yes] copy://${repo} ./`,
    ];
    log(`image: mmdebstrap ${packages.length} packages into ${rootfs}`);
    await spawnLogged("mmdebstrap", args, { ...process.env, SOURCE_DATE_EPOCH, LC_ALL: "C" }, log);
    await customize(rootfs);
    await clampTimes(rootfs, Number(SOURCE_DATE_EPOCH));

    const stats = await treeStats(rootfs);
    const manifest: ImageManifest = {
      key,
      suite: SUITE,
      arch: ARCH,
      requested,
      packages,
      stats,
      buildMs: Math.round(performance.now() - started),
    };
    const dest = path.join(cacheDir, key);
    await fsp.rm(dest, { recursive: true, force: true });
    await fsp.mkdir(dest, { recursive: true });
    await fsp.rename(rootfs, path.join(dest, "rootfs"));
    await fsp.writeFile(path.join(dest, "packages.txt"), packages.map((p) => `${p.name}:${p.arch} ${p.version}`).join("\n") + "\n");
    await fsp.writeFile(path.join(dest, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
    log(`image: ready in ${dest}: ${stats.files} files, ${(stats.bytes / 2 ** 20).toFixed(1)} MiB, built in ${(manifest.buildMs / 1000).toFixed(0)} s`);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

async function downloadPackages(pool: string, packages: ImagePackage[], log: (line: string) => void): Promise<void> {
  const missing = packages.filter((p) => !existsSync(path.join(pool, debFileName(p))));
  if (missing.length === 0) return;
  log(`image: apt-get download ${missing.length} packages`);
  // apt-get download prints nothing useful per package; download in batches so one failure names its batch.
  for (let i = 0; i < missing.length; i += 40) {
    const batch = missing.slice(i, i + 40);
    try {
      await run("apt-get", ["download", "-q", ...batch.map((p) => p.arch === "all" ? `${p.name}=${p.version}` : `${p.name}:${p.arch}=${p.version}`)], {
        cwd: pool,
        maxBuffer: 64 << 20,
      });
    } catch (err) {
      throw new ImageBuildError(`apt-get download failed: ${errText(err)}`);
    }
  }
  const still = missing.filter((p) => !existsSync(path.join(pool, debFileName(p))));
  if (still.length > 0) throw new ImageBuildError(`apt-get download did not produce ${still.map(debFileName).join(", ")}`);
}

/** What no package provides: init, hostname, hosts, fstab, apt sources of the real mirror. */
async function customize(rootfs: string): Promise<void> {
  const put = async (rel: string, text: string, mode = 0o644) => {
    const file = path.join(rootfs, rel);
    await fsp.rm(file, { force: true });
    await fsp.writeFile(file, text, { mode });
    await fsp.chmod(file, mode);
  };
  await put("sbin/init", await fsp.readFile(INIT_SCRIPT, "utf8"), 0o755);
  await put("etc/hostname", "debian\n");
  await put("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n");
  await put("etc/fstab", "# The root is mounted over 9P by the initramfs; /sbin/init mounts the rest.\n");
  await put("etc/resolv.conf", "");
  await put(
    "etc/apt/sources.list",
    `deb http://deb.debian.org/debian ${SUITE} main\ndeb http://deb.debian.org/debian ${SUITE}-updates main\n` +
      `deb http://deb.debian.org/debian-security ${SUITE}-security main\n`,
  );
  await put("etc/motd", "\nDebian GNU/Linux (bookworm, i386) on worker9p: the root file system is served over 9P.\n\n");
}

/**
 * Times later than `epoch` (files and directories the build made or changed) become `epoch`, so
 * a rebuild of the same key gives the same tree, times included (packaged files keep theirs).
 */
export async function clampTimes(root: string, epoch: number): Promise<void> {
  const walk = async (dir: string) => {
    for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) await walk(p);
      if ((await fsp.lstat(p)).mtimeMs > epoch * 1000) await fsp.lutimes(p, epoch, epoch);
    }
  };
  await walk(root);
  if ((await fsp.lstat(root)).mtimeMs > epoch * 1000) await fsp.lutimes(root, epoch, epoch);
}

export async function treeStats(root: string): Promise<TreeStats> {
  const stats: TreeStats = { files: 0, dirs: 0, symlinks: 0, other: 0, bytes: 0 };
  const seen = new Set<string>();
  const walk = async (dir: string) => {
    for (const ent of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) {
        stats.dirs++;
        await walk(p);
      } else if (ent.isSymbolicLink()) stats.symlinks++;
      else if (ent.isFile()) {
        stats.files++;
        const st = await fsp.lstat(p, { bigint: true });
        const id = `${st.dev}:${st.ino}`;
        if (st.nlink > 1n && seen.has(id)) continue;
        seen.add(id);
        stats.bytes += Number(st.size);
      } else stats.other++;
    }
  };
  await walk(root);
  return stats;
}

// ---------------------------------------------------------------- helpers

function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const tail: string[] = [];
    const onData = (buf: Buffer) => {
      for (const line of buf.toString("utf8").split("\n")) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > 40) tail.shift();
        log(`  ${line}`);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new ImageBuildError(`${cmd} exited with ${code}:\n${tail.join("\n")}`)),
    );
  });
}
