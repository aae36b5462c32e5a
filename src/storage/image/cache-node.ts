import * as fsp from "node:fs/promises";
import * as path from "node:path";
import type { ImageCache } from "./cache.js";

/** A cache in a folder (the Node guest harness): one file per key, written then renamed so a crash leaves no half entry. */
export class DirImageCache implements ImageCache {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    if (!/^[0-9a-z-]+$/.test(key)) throw new Error(`bad cache key ${key}`);
    return path.join(this.dir, `${key}.bin`);
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return new Uint8Array(await fsp.readFile(this.file(key)));
    } catch {
      return undefined;
    }
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true });
      const tmp = `${this.file(key)}.${process.pid}.tmp`;
      await fsp.writeFile(tmp, data);
      await fsp.rename(tmp, this.file(key));
    } catch {
      // Only a cache: a full disk keeps less.
    }
  }

  async keys(): Promise<string[]> {
    try {
      return (await fsp.readdir(this.dir)).filter((f) => f.endsWith(".bin")).map((f) => f.slice(0, -4));
    } catch {
      return [];
    }
  }

  async clear(): Promise<void> {
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
