// The Debian root as the guest harness and tests serve it by default: the tree (build.ts), its
// boot profile (profile.ts) and the base image written from both (base.ts), each made unless done:
// what `npm run image` makes. Kept apart from those so the guest harness's CLI can use it without
// an import cycle (profile.ts boots the guest to record the profile).

import { promises as fsp } from "node:fs";
import path from "node:path";
import { baseDir, ensureBaseImage } from "./base.js";
import { ensureDebianImage, IMAGE_CACHE_DIR, type DebianImage, type EnsureImageOptions } from "./build.js";
import { ensureProfile } from "./profile.js";

export interface DebianRoot {
  image: DebianImage;
  /** The written base image's folder (<image>/base). */
  baseDir: string;
}

/**
 * One process at a time: test files run in parallel (the workspace's and the guest harness's both
 * need the root), and two builds of a cold cache would fight over the same folders.
 */
export async function ensureDebianRoot(options: EnsureImageOptions = {}): Promise<DebianRoot> {
  return withBuildLock(options.cacheDir ?? IMAGE_CACHE_DIR, options.log ?? (() => {}), async () => {
    const image = await ensureDebianImage(options);
    await ensureBaseImage(image, await ensureProfile(image, options.log), options.log);
    return { image, baseDir: baseDir(image) };
  });
}

/** A lock folder holding its owner's pid; a lock whose owner is gone is taken over. */
export async function withBuildLock<T>(cacheDir: string, log: (line: string) => void, body: () => Promise<T>): Promise<T> {
  await fsp.mkdir(cacheDir, { recursive: true });
  const lock = path.join(cacheDir, ".build.lock");
  const pidFile = path.join(lock, "pid");
  let told = false;
  for (;;) {
    try {
      await fsp.mkdir(lock);
      await fsp.writeFile(pidFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    const owner = Number(await fsp.readFile(pidFile, "utf8").catch(() => ""));
    if (owner > 0 && !alive(owner)) {
      await fsp.rm(lock, { recursive: true, force: true });
      continue;
    }
    if (!told) log(`image: another process${owner > 0 ? ` (pid ${owner})` : ""} is preparing the Debian root; waiting for it`);
    told = true;
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    return await body();
  } finally {
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
