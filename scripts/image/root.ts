// The Debian root as the guest harness and tests serve it by default: the tree (build.ts), its
// boot profile (profile.ts) and the base image written from both (base.ts), each made unless done:
// what `npm run image` makes. Kept apart from those so the guest harness's CLI can use it without
// an import cycle (profile.ts boots the guest to record the profile).

import { baseDir, ensureBaseImage } from "./base.js";
import { ensureDebianImage, type DebianImage, type EnsureImageOptions } from "./build.js";
import { ensureProfile } from "./profile.js";

export interface DebianRoot {
  image: DebianImage;
  /** The written base image's folder (<image>/base). */
  baseDir: string;
}

export async function ensureDebianRoot(options: EnsureImageOptions = {}): Promise<DebianRoot> {
  const image = await ensureDebianImage(options);
  await ensureBaseImage(image, await ensureProfile(image, options.log), options.log);
  return { image, baseDir: baseDir(image) };
}
