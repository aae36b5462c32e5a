// The Debian root (`npm run image`, scripts/image/) booted in v86 under Node with worker9p serving
// it as the root file system over its base image (an in-memory user's layer over the lazily read
// base): the boot, the maintainer scripts' effects and the tools a workspace needs; a second boot
// on the same tree (a "reload") keeps the first one's changes to base files and passes the
// kill/Tflush checks, Tflush reaching the base image's fetch() included; a reset of the user's
// layer gives the base back. The three worker9p boots share one worker (one tree), so they run in
// order. The first run builds the image, its boot profile and base image (several minutes;
// cached by key in .cache/image/); set W9P_SKIP_GUEST=1 to skip this file.

import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { DebianImage } from "../scripts/image/build.js";
import { ensureDebianRoot } from "../scripts/image/root.js";
import { ensureGuestImage, type GuestImage } from "../scripts/guest/image.js";
import { runGuest, type RunGuestResult } from "../scripts/guest/run.js";
import type { Worker9p } from "../scripts/guest/worker9p.js";

const dir = path.dirname(fileURLToPath(import.meta.url));
const guestFile = (name: string) => `@${path.join(dir, "guest", name)}`;
const skip = process.env.W9P_SKIP_GUEST === "1";
/**
 * Reads and writes of slow* files wait this long on the server (kill.sh), abortably: long enough
 * that kill.sh's 30 parallel readers are all still waiting when it has seen the last one block.
 */
const LATENCY_MS = 5000;
/**
 * A base file no boot and no check reads (so its pieces are not fetched yet) whose fetches the
 * server holds until they are aborted (worker/slow-base.ts), so a kill always comes while the
 * fetch waits; kill.sh kills `aborts` readers of it, whose aborted fetches lift the hold for the
 * read nobody kills.
 */
const SLOW_BASE = { path: "/usr/bin/i686-linux-gnu-lto-dump-12", aborts: 5 };
/** Killed readers of slowfile in kill.sh's first loop (more than the 32 virtqueue slots). */
const KILLS = 40;

let guestImage: GuestImage;
let debianImage: DebianImage;
/** The tree of the first boot, kept for the reload and the reset. */
let worker: Worker9p | undefined;
/** Bytes the base image's reader had fetched after the first boot, and after the reload. */
let fetchedFirst = 0;
let fetchedBeforeReset = 0;

function report(name: string, r: RunGuestResult, lines = 150): string[] {
  console.log(`${name}: exit ${r.exitCode}, boot ${(r.bootMs / 1000).toFixed(1)} s, script ${(r.scriptMs / 1000).toFixed(1)} s`);
  const fails = r.output.split("\n").filter((l) => l.startsWith("FAIL:"));
  if (r.exitCode !== 0 || fails.length > 0 || r.error) console.log(r.output.split("\n").slice(-lines).join("\n"));
  return fails;
}

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");

describe.skipIf(skip)("Debian root over virtio-9p (worker9p over the base image)", () => {
  beforeAll(async () => {
    guestImage = await ensureGuestImage({ log: (l) => console.log(l) });
    debianImage = (await ensureDebianRoot({ log: (l) => console.log(l) })).image;
  }, 1_800_000);
  afterAll(async () => {
    await worker?.terminate();
  });

  test("boots to its own init; users, alternatives, ld.so cache; bash, python3, cc hello.c, make, git, file work; base files changed", async () => {
    const r = await runGuest({
      root: "debian",
      image: guestImage,
      debianImage,
      scriptFile: path.join(dir, "guest", "debian-root.sh"),
      files: { "lib.sh": guestFile("lib.sh") },
      latencyMs: LATENCY_MS,
      slowBaseFiles: { aborts: SLOW_BASE.aborts, paths: [SLOW_BASE.path] },
      keepWorker9p: true,
      timeoutS: 900,
    });
    worker = r.worker9p;
    fetchedFirst = r.server?.base?.fetchedBytes ?? 0;
    const fails = report("debian-root.sh", r);
    expect(r.error).toBeUndefined();
    expect(fails).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("ALL CHECKS PASSED");
    expect(r.server?.fsck?.problems).toEqual([]);
    expect(r.server?.base?.requests, "the tree is the base image, fetched lazily").toBeGreaterThan(0);
  }, 1_000_000);

  test("a reload (a fresh kernel on the same user's layer) keeps the changes to base files; SIGKILL during slow reads, writes and base fetches: Tflush cancels, down to fetch()", async () => {
    expect(worker, "the first boot kept its tree").toBeDefined();
    const r = await runGuest({
      root: "debian",
      image: guestImage,
      debianImage,
      worker9p: worker!,
      scriptFile: path.join(dir, "guest", "debian-reload.sh"),
      files: { "lib.sh": guestFile("lib.sh"), "kill.sh": guestFile("kill.sh") },
      latencyMs: LATENCY_MS,
      env: { W9P_KILLS: String(KILLS), W9P_SLOW_BASE: SLOW_BASE.path, W9P_SLOW_BASE_KILLS: String(SLOW_BASE.aborts) },
      timeoutS: 900,
    });
    fetchedBeforeReset = r.server?.base?.fetchedBytes ?? 0;
    const fails = report("debian-reload.sh", r, 200);
    console.log(`Tflush ${r.counts.Tflush ?? 0}; server ${JSON.stringify(r.server?.stats)}; discarded ${r.server?.discarded}; base ${JSON.stringify(r.server?.base)}`);
    expect(r.error).toBeUndefined();
    expect(fails).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("ALL CHECKS PASSED");
    expect(r.server?.fsck?.problems).toEqual([]);
    // As in guest.test.ts's kill test: KILLS + 30 readers of stuckfile and 2 small writers of
    // stuckout were killed while they slept in a 9P request that ends only when aborted, so each
    // kill sent a Tflush that the server honoured before the request took effect, and its
    // virtqueue slot came back. The killed readers of the slow base file (held until aborted)
    // add to both counts.
    expect(r.output).toMatch(new RegExp(`^KILL-LOOP n=${KILLS} `, "m"));
    const killed = KILLS + 30 + 2;
    expect(r.counts.Tflush ?? 0).toBeGreaterThanOrEqual(killed);
    expect(r.server?.stats.flushedBeforeCommit ?? 0).toBeGreaterThanOrEqual(killed);
    expect(r.server?.discarded ?? 0).toBe(r.server?.stats.flushedBeforeCommit);
    // The killed reads of the slow base file waited on the base image's fetch, which ends only
    // when aborted: their Tflush aborted it (the AbortSignal reached fetch()), and that lifted
    // the hold, so the read nobody killed got the base's bytes.
    expect(r.server?.base?.abortedFetches ?? 0).toBeGreaterThanOrEqual(SLOW_BASE.aborts);
    const head = (await fsp.readFile(path.join(debianImage.rootfs, SLOW_BASE.path))).subarray(0, 65536);
    expect(r.output).toMatch(new RegExp(`^SLOW-BASE-HEAD ${md5(head)}$`, "m"));
  }, 1_000_000);

  test("after a reset of the user's layer the base is back; the console gets a root login shell with job control", async () => {
    expect(worker, "the first boot kept its tree").toBeDefined();
    await worker!.reset();
    const motd = md5(await fsp.readFile(path.join(debianImage.rootfs, "etc/motd")));
    const prompt = /root@debian:~# /;
    const r = await runGuest({
      root: "debian",
      image: guestImage,
      debianImage,
      worker9p: worker!,
      timeoutS: 900,
      interact: async (con) => {
        await con.waitFor(prompt);
        con.send("md5sum /etc/motd; yes | head -n 2 | tr '\\n' .; echo\n");
        expect(await con.waitFor(prompt)).toMatch(new RegExp(`${motd}  /etc/motd\\ny\\.y\\.\\n`));
        con.send("shopt -q login_shell && echo LOGIN-$((6*7)); tty; pwd\n");
        expect(await con.waitFor(prompt)).toMatch(/LOGIN-42\n\/dev\/ttyS0\n\/root\n/);
        // job control: a background job is listed, can be stopped with ^Z and resumed
        con.send("sleep 600 &\n");
        await con.waitFor(prompt);
        con.send("jobs\n");
        expect(await con.waitFor(prompt)).toMatch(/\[1\]\+\s+Running\s+sleep 600 &/);
        con.send("fg\n");
        await con.waitFor(/sleep 600\n/);
        con.send("\x1a"); // ^Z reaches the shell's foreground job only with a controlling terminal
        expect(await con.waitFor(prompt)).toMatch(/\[1\]\+\s+Stopped\s+sleep 600/);
        con.send("kill -9 %1; wait; echo \"@@W9P-EXIT $(id -u)\"\n");
      },
    });
    if (r.exitCode !== 0 || r.error) console.log(r.output.split("\n").slice(-80).join("\n"));
    expect(r.error).toBeUndefined();
    expect(r.exitCode).toBe(0);
    expect(r.server?.fsck?.problems).toEqual([]);
    // The reset kept the fetched base: this boot fetched only what no earlier boot had read
    // (yes, removed unread by the first boot), a sliver of the first boot's fetch.
    const fetchedHere = r.server!.base!.fetchedBytes - fetchedBeforeReset;
    console.log(`base bytes fetched: first boot ${fetchedFirst}, boot after the reset ${fetchedHere}`);
    expect(fetchedHere).toBeLessThan(fetchedFirst / 10);
  }, 1_000_000);

  test("the same tree in v86's own format (fs.json + sha256 blobs, our converter) boots on v86's 9P server", async () => {
    const r = await runGuest({
      fs: "v86",
      root: "debian",
      image: guestImage,
      debianImage,
      script: `python3 -c 'print(6*7)'\ncd /tmp && printf 'int main(void){return 7;}\\n' > t.c && cc t.c && ./a.out; echo "cc-status=$?"\n`,
      timeoutS: 900,
    });
    if (r.exitCode !== 0 || r.error) console.log(r.output.split("\n").slice(-60).join("\n"));
    expect(r.error).toBeUndefined();
    expect(r.output).toMatch(/^42$/m);
    expect(r.output).toMatch(/^cc-status=7$/m);
    expect(r.exitCode).toBe(0);
  }, 1_000_000);
});
