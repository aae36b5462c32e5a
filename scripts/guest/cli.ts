// The guest harness's command line: npm run guest (scripts/guest/README.md). runGuest() is in run.ts.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ensureDebianRoot } from "../image/root.js";
import { ensureGuestImage } from "./image.js";
import { BASE_MOUNT_OPTS, DEFAULT_MOUNT_OPTS, formatCounts, runGuest } from "./run.js";

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      fs: { type: "string", default: "worker9p" },
      image: { type: "string", default: "debian" },
      "debian-tree": { type: "string" },
      script: { type: "string" },
      file: { type: "string", multiple: true },
      import: { type: "string" },
      "base-image": { type: "string" },
      "mount-opts": { type: "string" },
      "latency-ms": { type: "string" },
      "memory-mb": { type: "string" },
      "timeout-s": { type: "string" },
      discard: { type: "string" },
      "reply-wait-ms": { type: "string" },
      quiet: { type: "boolean", default: false },
      trace: { type: "boolean", default: false },
      refresh: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(fileHeader());
    return 0;
  }
  if (values.fs !== "worker9p" && values.fs !== "v86") throw new Error(`--fs must be worker9p or v86, not ${values.fs}`);
  if (values.image !== "busybox" && values.image !== "debian") throw new Error(`--image must be busybox or debian, not ${values.image}`);
  if (values["debian-tree"] !== undefined && values["debian-tree"] !== "base" && values["debian-tree"] !== "import") {
    throw new Error("--debian-tree must be base or import");
  }
  if (values.discard !== undefined && values.discard !== "empty" && values.discard !== "eintr") throw new Error("--discard must be empty or eintr");
  if (values["latency-ms"] && values.fs !== "worker9p") console.error("note: --latency-ms only applies to --fs worker9p");
  const num = (v: string | undefined, name: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
    return n;
  };
  const log = (l: string) => console.error(l);
  if (values.import && values.image === "debian") throw new Error("--import copies a folder into a tree mounted at /mnt: add --image busybox");
  const image = await ensureGuestImage({ refresh: values.refresh, log });
  // The Debian root over its base image (the default) needs the base written: make it as npm run image does.
  const debianRoot =
    values.image === "debian" && values.fs === "worker9p" && values["debian-tree"] !== "import" && !values["base-image"]
      ? await ensureDebianRoot({ refresh: values.refresh, log })
      : undefined;
  const files: Record<string, string> = {};
  for (const f of values.file ?? []) files[path.basename(f)] = `@${path.resolve(f)}`;
  const result = await runGuest({
    fs: values.fs,
    root: values.image,
    ...(debianRoot ? { debianImage: debianRoot.image } : {}),
    ...(values["debian-tree"] === "base" || values["debian-tree"] === "import" ? { debianTree: values["debian-tree"] } : {}),
    ...(values.script ? { scriptFile: values.script } : {}),
    files,
    ...(values.import ? { importDir: values.import } : {}),
    ...(values["base-image"] ? { baseImage: values["base-image"] } : {}),
    ...(values["mount-opts"] ? { mountOpts: values["mount-opts"] } : {}),
    ...(values["latency-ms"] ? { latencyMs: num(values["latency-ms"], "latency-ms")! } : {}),
    ...(values["memory-mb"] ? { memoryMb: num(values["memory-mb"], "memory-mb")! } : {}),
    ...(values["timeout-s"] ? { timeoutS: num(values["timeout-s"], "timeout-s")! } : {}),
    ...(values.discard ? { discard: values.discard as "empty" | "eintr" } : {}),
    ...(values["reply-wait-ms"] !== undefined ? { replyWaitMs: num(values["reply-wait-ms"], "reply-wait-ms")! } : {}),
    trace: values.trace,
    image,
    log,
    ...(values.quiet ? {} : { echo: (t: string) => process.stdout.write(t) }),
  });
  const out = process.stderr;
  out.write(`\n--- guest: fs=${values.fs} image=${values.image} mount=${result.mountOpts}\n`);
  if (result.importMs !== undefined) out.write(`--- tree imported into the server in ${(result.importMs / 1000).toFixed(2)} s (before boot; not in the times below)\n`);
  if (result.rootMountedMs !== undefined) out.write(`--- root mounted by the initramfs: ${(result.rootMountedMs / 1000).toFixed(2)} s\n`);
  out.write(`--- boot (start → ${values.image === "debian" ? "Debian init ready" : "/mnt mounted"}): ${(result.bootMs / 1000).toFixed(2)} s, script: ${(result.scriptMs / 1000).toFixed(2)} s, total: ${(result.totalMs / 1000).toFixed(2)} s\n`);
  out.write(`--- 9P requests by type:\n${formatCounts(result.counts, result.meanLatencyMs)}\n`);
  if (result.server) {
    out.write(`--- worker9p: ${JSON.stringify(result.server.stats)}; discarded slots: ${result.server.discarded}\n`);
    out.write(`--- handle9p: ${result.server.answeredInWait} replies within the wait, ${result.server.waitTimeouts} waits ran out\n`);
    const b = result.server.base;
    if (b) out.write(`--- base image: ${b.requests} requests, ${(b.fetchedBytes / 2 ** 20).toFixed(1)} MiB fetched (${((100 * b.fetchedBytes) / b.imageBytes).toFixed(1)} % of its ${(b.imageBytes / 2 ** 20).toFixed(1)} MiB), ${b.cacheHits} pieces from the cache, ${b.abortedFetches} fetches aborted\n`);
    if (result.server.fsck && !result.server.fsck.ok) out.write(`--- worker9p fsck FAILED:\n  ${result.server.fsck.problems.join("\n  ")}\n`);
  }
  if (result.error) out.write(`--- FAILED: ${result.error}\n`);
  out.write(`--- exit status: ${result.exitCode}\n`);
  return result.exitCode;
}

function fileHeader(): string {
  return `npm run guest -- [--image debian|busybox] [--debian-tree base|import] [--fs worker9p|v86]
                 [--script FILE] [--file FILE]... [--import DIR] [--base-image DIR]
                 [--mount-opts OPTS] [--latency-ms N] [--memory-mb N] [--timeout-s N]
                 [--discard empty|eintr] [--reply-wait-ms N] [--trace] [--quiet] [--refresh]
Boots a Linux guest in v86 with a 9P tree (${BASE_MOUNT_OPTS},${DEFAULT_MOUNT_OPTS}[,OPTS]).
--image debian (default): npm run image's Debian root is the root file system, served over its
base image under an in-memory user's layer (--debian-tree import: imported into memory instead);
FILE runs with bash as root in /root, without --script the console gets a login shell.
--image busybox: the busybox initramfs mounts the tree at /mnt and runs FILE with sh there.
--file puts extra files next to the script (/guest/, or $W9P_GUEST_DIR on the Debian root).
Exits with the script's status (124: timeout, 125: panic or harness failure).`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`guest: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(125);
    },
  );
}

