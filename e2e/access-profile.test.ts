// The boot-profile recorder (worker/access-profile.ts): first content use, by the path walked.

import { expect, test } from "vitest";
import { FileSystem } from "../src/fs/filesystem.js";
import type { OpContext } from "../src/fs/types.js";
import { MemoryStore } from "../src/storage/memory.js";
import { recordAccesses } from "../worker/access-profile.js";

const ctx: OpContext = { signal: new AbortController().signal, name: "" };

test("paths are recorded in the order their contents are first used, each once, by the name walked", async () => {
  const base = await FileSystem.open(new MemoryStore());
  const usr = (await base.mkdir(base.rootIno, "usr", 0o755, 0, 0, ctx)).path;
  const bin = (await base.mkdir(usr, "bin", 0o755, 0, 0, ctx)).path;
  for (const name of ["a", "b", "untouched"]) {
    const ino = (await base.create(bin, name, 1, 0o755, 0, 0, ctx)).ino;
    await base.write(ino, 0, new TextEncoder().encode(name), false, ctx);
    await base.release(ino);
  }
  await base.symlink(base.rootIno, "bin", "usr/bin", 0, 0, ctx);

  const { fs, order, entries } = recordAccesses(base);
  const walk = async (names: string[]) => (await fs.walk(fs.rootIno, names, ctx)).ino;
  const b = await walk(["usr", "bin", "b"]);
  await fs.readInto(b, 0, new Uint8Array(8), ctx);
  await fs.readlink(await walk(["bin"]), ctx);
  // reached again through "..": still the same path, and a second read adds nothing
  const b2 = await walk(["usr", "bin", "..", "bin", "b"]);
  expect(b2).toBe(b);
  await fs.readInto(b2, 0, new Uint8Array(8), ctx);
  const a = await walk(["usr", "bin", "a"]);
  await fs.open(a, 0, ctx);
  await fs.getattr(await walk(["usr", "bin", "untouched"]), ctx); // metadata only: not a content use
  expect(order()).toEqual(["/usr/bin/b", "/bin", "/usr/bin/a"]);
  // the profile: pages read (not whole files; an open alone reads nothing), symlinks used
  expect(entries()).toEqual([{ path: "/usr/bin/b", ranges: [[0, 4096]] }, { path: "/bin" }]);
});
