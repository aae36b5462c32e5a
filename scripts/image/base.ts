// The Debian root as a worker9p base image (src/storage/image/FORMAT.md, written by the
// image-layer's writeImage): index + content-addressed packs in <image>/base/, the boot profile's
// files first. Extended attributes (file capabilities) come from getfattr, which Node cannot read.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { ImageManifest } from "../../src/storage/image/format.js";
import { MANIFEST_FILE } from "../../src/storage/image/format.js";
import { parseGetfattrDump, writeImage, type XattrRecord } from "../../src/storage/image/writer.js";
import { parseProfile } from "../../src/storage/image/profile.js";
import type { DebianImage } from "./build.js";

const run = promisify(execFile);

export function baseDir(image: DebianImage): string {
  return path.join(image.dir, "base");
}

/**
 * Which profile <image>/base/ was laid out from (the profile's SHA-256), beside the folder: a base
 * written from another profile (an older profile version) is written again.
 */
const BASE_PROFILE_STAMP = "base.profile-sha256.txt";

/** Write <image>/base/ unless it is written from this profile; returns its manifest. */
export async function ensureBaseImage(image: DebianImage, profileFile: string, log: (line: string) => void = () => {}): Promise<ImageManifest> {
  const out = baseDir(image);
  const profileText = await fsp.readFile(profileFile, "utf8");
  const profileSha = createHash("sha256").update(profileText).digest("hex");
  const stampFile = path.join(image.dir, BASE_PROFILE_STAMP);
  const stamp = await fsp.readFile(stampFile, "utf8").catch(() => "");
  if (stamp.trim() === profileSha) {
    try {
      return JSON.parse(await fsp.readFile(path.join(out, MANIFEST_FILE), "utf8")) as ImageManifest;
    } catch {
      // not written yet
    }
  }
  const profile = parseProfile(profileText);
  const xattrs = await readXattrs(image.rootfs, log);
  log(`image: writing the base image (${profile.length} profile entries first, ${xattrs.length} xattrs) into ${out}`);
  // Inode numbers stay those of the image already there (writeImage keeps them), so a user's layer stays valid.
  const { manifest, missingProfilePaths } = await writeImage(image.rootfs, out, { profile, xattrs });
  if (missingProfilePaths.length > 0) log(`image: profile paths not in the tree: ${missingProfilePaths.slice(0, 5).join(" ")}`);
  await fsp.writeFile(stampFile, profileSha + "\n");
  return manifest;
}

async function readXattrs(rootfs: string, log: (line: string) => void): Promise<XattrRecord[]> {
  const dump = async () =>
    (await run("getfattr", ["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", rootfs], { maxBuffer: 256 << 20 })).stdout;
  try {
    return parseGetfattrDump(await dump(), rootfs);
  } catch (err) {
    if ((err as { code?: unknown }).code !== "ENOENT" || process.getuid?.() !== 0) throw err;
  }
  log("image: apt-get install attr (getfattr, for file capabilities)");
  await run("apt-get", ["install", "-y", "--no-install-recommends", "attr"], { maxBuffer: 64 << 20 });
  return parseGetfattrDump(await dump(), rootfs);
}
