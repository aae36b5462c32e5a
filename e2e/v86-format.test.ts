// Our converter to v86's basefs format (scripts/image/v86-format.ts): the layout of fs2json.py's
// index (version 3) and copy-to-sha256.py's blobs. That v86 boots the Debian root from it is
// checked in debian-root.test.ts.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "vitest";
import { writeV86Format, type V86Entry, type V86Index } from "../scripts/image/v86-format.js";

test("fs.json version 3 entries and sha256-named blobs; hard links share a blob; fifos are left out", async () => {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "w9p-v86fmt-"));
  try {
    const root = path.join(tmp, "root");
    await fsp.mkdir(path.join(root, "usr/bin"), { recursive: true });
    await fsp.writeFile(path.join(root, "usr/bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    await fsp.chmod(path.join(root, "usr/bin/hello"), 0o755);
    await fsp.link(path.join(root, "usr/bin/hello"), path.join(root, "usr/bin/hi"));
    await fsp.symlink("usr/bin", path.join(root, "bin"));
    execFileSync("mkfifo", [path.join(root, "fifo")]);
    await fsp.utimes(path.join(root, "usr/bin/hello"), 1_700_000_000.5, 1_700_000_000.5);

    const r = await writeV86Format(root, path.join(tmp, "out"));
    const index = JSON.parse(await fsp.readFile(r.basefs, "utf8")) as V86Index;
    expect(index.version).toBe(3);
    const names = index.fsroot.map((e) => e[0]);
    expect(names).toEqual(["bin", "usr"]); // the fifo is not in v86's format
    const bin = index.fsroot[0]!;
    expect(bin[3] & 0o170000).toBe(0o120000);
    expect(bin[6]).toBe("usr/bin");
    const usrBin = ((index.fsroot[1]![6] as V86Entry[])[0]![6]) as V86Entry[];
    const [hello, hi] = usrBin;
    const sha = createHash("sha256").update("#!/bin/sh\necho hello\n").digest("hex");
    expect(hello).toEqual(["hello", 21, 1_700_000_000, 0o100755, process.getuid?.() ?? 0, process.getgid?.() ?? 0, `${sha.slice(0, 8)}.bin`]);
    expect(hi![6]).toBe(hello![6]);
    expect(r.blobs).toBe(1);
    expect(await fsp.readFile(path.join(r.baseurl, `${sha.slice(0, 8)}.bin`), "utf8")).toBe("#!/bin/sh\necho hello\n");
    // size: the sum of every entry's st_size, as fs2json.py counts it
    const st = (p: string) => fsp.lstat(path.join(root, p)).then((s) => s.size);
    const sizes = await Promise.all(["bin", "usr", "usr/bin", "usr/bin/hello", "usr/bin/hi"].map(st));
    expect(index.size).toBe(sizes.reduce((a, b) => a + b, 0));
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
});
