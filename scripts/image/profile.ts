// The boot profile: the bytes of the image's regular files that a boot, a login shell, a first
// `python3 -c 'print(1)'` and `cc hello.c && ./a.out` read, in first-use order, recorded by
// booting the image once with worker9p noting reads (worker/access-profile.ts). Written as
// <image>/profile.txt (src/storage/image/profile.ts: a path and its byte ranges per line); an
// image writer puts those pieces first, and only those: a boot reads pages of cc1 or libpython,
// not the whole files. A profile of an older version (whole files) is recorded again.

import { promises as fsp } from "node:fs";
import path from "node:path";
import { runGuest } from "../guest/run.js";
import type { DebianImage } from "./build.js";
import { formatProfile, isCurrentProfile, type ProfileEntry } from "../../src/storage/image/profile.js";

export const PROFILE_FILE = "profile.txt";

const PROFILE_SCRIPT = `
bash -l -c true
python3 -c 'print(1)'
cd /tmp
printf '#include <stdio.h>\\nint main(void) { puts("hello"); return 0; }\\n' > hello.c
cc hello.c && ./a.out
`;

export function profilePath(image: DebianImage): string {
  return path.join(image.dir, PROFILE_FILE);
}

/** Record the profile unless the image has one of the current version; returns its path. */
export async function ensureProfile(image: DebianImage, log: (line: string) => void = () => {}): Promise<string> {
  const file = profilePath(image);
  const old = await fsp.readFile(file, "utf8").catch(() => undefined);
  if (old !== undefined && isCurrentProfile(old)) return file;
  log("image: booting it once to record the boot profile");
  // The tree as imported: the base image is written from this profile, after it.
  const r = await runGuest({ root: "debian", debianTree: "import", debianImage: image, script: PROFILE_SCRIPT, profile: true, timeoutS: 900, log });
  if (r.exitCode !== 0 || !r.profile) {
    throw new Error(`the profile run failed (exit ${r.exitCode}${r.error ? `: ${r.error}` : ""}):\n${r.output.split("\n").slice(-30).join("\n")}`);
  }
  const entries = await regularFiles(image.rootfs, r.profile);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, formatProfile(entries));
  await fsp.rename(tmp, file);
  const files = new Set(entries.map((e) => e.path)).size;
  const mib = entries.reduce((n, e) => n + (e.ranges ?? []).reduce((m, [s, t]) => m + t - s, 0), 0) / 2 ** 20;
  log(`image: profile of ${files} files, ${mib.toFixed(1)} MiB read (boot ${(r.bootMs / 1000).toFixed(1)} s, python3 and cc ${(r.scriptMs / 1000).toFixed(1)} s)`);
  return file;
}

/** The entries of regular files in the image (directories and symlinks live in the index, not in pieces). */
async function regularFiles(rootfs: string, entries: ProfileEntry[]): Promise<ProfileEntry[]> {
  const isFile = new Map<string, boolean>();
  const out: ProfileEntry[] = [];
  for (const e of entries) {
    if (!isFile.has(e.path)) isFile.set(e.path, (await fsp.lstat(path.join(rootfs, e.path)).catch(() => undefined))?.isFile() ?? false);
    if (isFile.get(e.path)) out.push(e);
  }
  return out;
}
