// The host-folder import that serves a root file system (the Debian image) from worker9p's
// memory store: everything a root tree holds must arrive as it is on the host.

import { execFileSync } from "node:child_process";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FileSystem } from "../src/fs/filesystem.js";
import type { OpContext } from "../src/fs/types.js";
import { MemoryStore } from "../src/storage/memory.js";
import { importTree } from "../worker/import-tree.js";

const root = process.getuid?.() === 0;
const ctx: OpContext = { signal: new AbortController().signal, name: "" };
let host: string;

async function imported(): Promise<{ fs: FileSystem; ino: (p: string) => Promise<number> }> {
  const fs = await FileSystem.open(new MemoryStore());
  await importTree(fs, host, fs.rootIno, ctx);
  const ino = async (p: string) => {
    const r = await fs.walk(fs.rootIno, p.split("/"), ctx);
    if (r.ino === undefined) throw new Error(`${p} was not imported`);
    return r.ino;
  };
  return { fs, ino };
}

describe("importTree (host folder → worker9p tree)", () => {
  beforeAll(async () => {
    host = await fsp.mkdtemp(path.join(os.tmpdir(), "w9p-import-"));
    await fsp.mkdir(path.join(host, "usr/bin"), { recursive: true });
    await fsp.writeFile(path.join(host, "usr/bin/tool"), "#!/bin/sh\necho tool\n");
    await fsp.link(path.join(host, "usr/bin/tool"), path.join(host, "usr/bin/tool-alias"));
    await fsp.symlink("usr/bin", path.join(host, "bin"));
    await fsp.mkdir(path.join(host, "tmp"));
    await fsp.chmod(path.join(host, "tmp"), 0o1777);
    execFileSync("mkfifo", [path.join(host, "fifo")]);
    if (root) {
      execFileSync("mknod", [path.join(host, "null"), "c", "1", "3"]);
      await fsp.chown(path.join(host, "usr/bin/tool"), 1000, 1001);
    }
    // after chown, which clears setuid
    await fsp.chmod(path.join(host, "usr/bin/tool"), 0o4755);
    await fsp.utimes(path.join(host, "usr/bin/tool"), 1_600_000_000, 1_600_000_000);
    await fsp.utimes(path.join(host, "usr"), 1_500_000_000, 1_500_000_000);
  });
  afterAll(async () => {
    await fsp.rm(host, { recursive: true, force: true });
  });

  test("hard links stay one inode with nlink 2", async () => {
    const { fs, ino } = await imported();
    const a = await ino("usr/bin/tool");
    const b = await ino("usr/bin/tool-alias");
    expect(b).toBe(a);
    expect((await fs.getattr(a, ctx)).nlink).toBe(2);
  });

  test("setuid and sticky bits, owners, times and symlinks are kept", async () => {
    const { fs, ino } = await imported();
    const tool = await fs.getattr(await ino("usr/bin/tool"), ctx);
    expect(tool.mode & 0o7777).toBe(0o4755);
    expect(tool.size).toBe(20);
    expect(tool.mtime.sec).toBe(1_600_000_000);
    if (root) expect([tool.uid, tool.gid]).toEqual([1000, 1001]);
    expect((await fs.getattr(await ino("tmp"), ctx)).mode & 0o7777).toBe(0o1777);
    expect((await fs.getattr(await ino("usr"), ctx)).mtime.sec).toBe(1_500_000_000);
    expect(await fs.readlink(await ino("bin"), ctx)).toBe("usr/bin");
  });

  test("fifos and (as root) device nodes are made with mknod", async () => {
    const { fs, ino } = await imported();
    expect((await fs.getattr(await ino("fifo"), ctx)).mode & 0o170000).toBe(0o010000);
    if (!root) return;
    const dev = await fs.getattr(await ino("null"), ctx);
    expect(dev.mode & 0o170000).toBe(0o020000);
    // Linux's encoding of (1, 3), as 9P carries it
    expect(dev.rdev).toBe((1 << 8) | 3);
  });
});
