// dbench for the guest benchmark without changing the Debian image (its package list keys every
// cached build): Debian's i386 `dbench` and its one dependency beyond libc6, `libpopt0`, are
// fetched with the host's apt (`apt-get download` + `dpkg-deb -x`, as scripts/guest/image.ts
// does) into the git-ignored .cache/bench/, and the three files the guest needs are handed to it
// through runGuest's `files` ($W9P_GUEST_DIR, a tmpfs — not on the 9P tree being measured).

import { execFile } from "node:child_process";
import { existsSync, promises as fsp } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { aptGetUpdate, errText, hasCommand } from "../apt.js";
import { REPO_ROOT } from "../guest/image.js";

const run = promisify(execFile);

export const DBENCH_CACHE_DIR = path.join(REPO_ROOT, ".cache", "bench", "dbench");
const PACKAGES = ["dbench:i386", "libpopt0:i386"];

/** Host paths of what the guest runs: the binary, its popt library and the NetBench loadfile. */
export interface DbenchFiles {
  dbench: string;
  libpopt: string;
  loadfile: string;
}

const WANTED = {
  dbench: "usr/bin/dbench",
  libpopt: "usr/lib/i386-linux-gnu/libpopt.so.0",
  loadfile: "usr/share/dbench/client.txt",
} as const;

function paths(root: string): DbenchFiles {
  return {
    dbench: path.join(root, WANTED.dbench),
    libpopt: path.join(root, WANTED.libpopt),
    loadfile: path.join(root, WANTED.loadfile),
  };
}

/** The extracted packages under .cache/bench/dbench/root (fetched once; kept until the folder is removed). */
export async function ensureDbench(log: (line: string) => void): Promise<DbenchFiles> {
  const root = path.join(DBENCH_CACHE_DIR, "root");
  const files = paths(root);
  if (Object.values(files).every((f) => existsSync(f))) return files;

  if (!(await hasCommand("apt-get")) || !(await hasCommand("dpkg-deb"))) {
    throw new Error("dbench: apt-get and dpkg-deb are needed to fetch Debian's dbench:i386 and libpopt0:i386");
  }
  const isRoot = process.getuid?.() === 0;
  const foreign = (await run("dpkg", ["--print-foreign-architectures"])).stdout.split(/\s+/);
  if (!foreign.includes("i386")) {
    if (!isRoot) throw new Error("dbench: the i386 architecture is not enabled in dpkg (as root: dpkg --add-architecture i386 && apt-get update)");
    log("dbench: dpkg --add-architecture i386");
    await run("dpkg", ["--add-architecture", "i386"]);
    await aptGetUpdate("dbench", log);
  }

  await fsp.mkdir(DBENCH_CACHE_DIR, { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(DBENCH_CACHE_DIR, "tmp-"));
  try {
    const debs = path.join(tmp, "debs");
    const out = path.join(tmp, "root");
    await Promise.all([fsp.mkdir(debs), fsp.mkdir(out)]);
    log(`dbench: apt-get download ${PACKAGES.join(" ")}`);
    try {
      await run("apt-get", ["download", ...PACKAGES], { cwd: debs, maxBuffer: 64 << 20 });
    } catch (err) {
      // A fresh machine's lists may not know the i386 packages yet.
      if (!isRoot) throw new Error(`dbench: apt-get download failed: ${errText(err)}`);
      await aptGetUpdate("dbench", log);
      await run("apt-get", ["download", ...PACKAGES], { cwd: debs, maxBuffer: 64 << 20 });
    }
    for (const deb of await fsp.readdir(debs)) {
      await run("dpkg-deb", ["-x", path.join(debs, deb), out], { maxBuffer: 64 << 20 });
    }
    const missing = Object.values(WANTED).filter((f) => !existsSync(path.join(out, f)));
    if (missing.length > 0) throw new Error(`dbench: the downloaded packages lack ${missing.join(", ")}`);
    await fsp.rm(root, { recursive: true, force: true });
    await fsp.rename(out, root);
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
  return files;
}

/** dbench's summary line: "Throughput 12.3456 MB/sec  3 clients  3 procs  max_latency=…". */
export function parseThroughput(output: string): number | undefined {
  const m = /^\s*Throughput ([\d.]+) MB\/sec/m.exec(output);
  return m ? Number(m[1]) : undefined;
}
