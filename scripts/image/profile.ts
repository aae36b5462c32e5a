// The boot profile: the image's regular files in the order a boot, a login shell, a first
// `python3 -c 'print(1)'` and `cc hello.c && ./a.out` first use their contents, recorded by
// booting the image once with worker9p noting first accesses (worker/access-profile.ts). Written
// as <image>/profile.txt, one absolute path per line; an image writer puts these files first.

import { promises as fsp } from "node:fs";
import path from "node:path";
import { runGuest } from "../guest/run.js";
import type { DebianImage } from "./build.js";

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

/** Record the profile unless the image has one; returns its path. */
export async function ensureProfile(image: DebianImage, log: (line: string) => void = () => {}): Promise<string> {
  const file = profilePath(image);
  try {
    await fsp.access(file);
    return file;
  } catch {
    // not recorded yet
  }
  log("image: booting it once to record the boot profile");
  const r = await runGuest({ root: "debian", debianImage: image, script: PROFILE_SCRIPT, profile: true, timeoutS: 900, log });
  if (r.exitCode !== 0 || !r.profile) {
    throw new Error(`the profile run failed (exit ${r.exitCode}${r.error ? `: ${r.error}` : ""}):\n${r.output.split("\n").slice(-30).join("\n")}`);
  }
  const files = await regularFiles(image.rootfs, r.profile);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, files.join("\n") + "\n");
  await fsp.rename(tmp, file);
  log(`image: profile of ${files.length} files (boot ${(r.bootMs / 1000).toFixed(1)} s, python3 and cc ${(r.scriptMs / 1000).toFixed(1)} s)`);
  return file;
}

/** The paths that are regular files in the image (directories and symlinks live in any index). */
async function regularFiles(rootfs: string, paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await fsp.lstat(path.join(rootfs, p)).catch(() => undefined);
    if (st?.isFile()) out.push(p);
  }
  return out;
}
