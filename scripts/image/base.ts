// The Debian root as a worker9p base image (src/storage/image/FORMAT.md, written by the
// image-layer's writeImage): index + content-addressed packs in <image>/base/, the boot profile's
// files first. Extended attributes (file capabilities) come from getfattr, which Node cannot read.

import { execFile } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { ImageManifest } from "../../src/storage/image/format.js";
import { MANIFEST_FILE } from "../../src/storage/image/format.js";
import { parseGetfattrDump, writeImage, type XattrRecord } from "../../src/storage/image/writer.js";
import type { DebianImage } from "./build.js";

const run = promisify(execFile);

export function baseDir(image: DebianImage): string {
  return path.join(image.dir, "base");
}

/** Write <image>/base/ unless it is written; returns its manifest. */
export async function ensureBaseImage(image: DebianImage, profileFile: string, log: (line: string) => void = () => {}): Promise<ImageManifest> {
  const out = baseDir(image);
  try {
    return JSON.parse(await fsp.readFile(path.join(out, MANIFEST_FILE), "utf8")) as ImageManifest;
  } catch {
    // not written yet
  }
  const profile = (await fsp.readFile(profileFile, "utf8")).split("\n").filter(Boolean);
  const xattrs = await readXattrs(image.rootfs, log);
  log(`image: writing the base image (${profile.length} profile files first, ${xattrs.length} xattrs) into ${out}`);
  const { manifest, missingProfilePaths } = await writeImage(image.rootfs, out, { profile, xattrs });
  if (missingProfilePaths.length > 0) log(`image: profile paths not in the tree: ${missingProfilePaths.slice(0, 5).join(" ")}`);
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
