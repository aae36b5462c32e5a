// The Debian root (`npm run image`, scripts/image/) booted in v86 under Node with worker9p serving
// it as the root file system: the boot, the maintainer scripts' effects and the tools a workspace
// needs. The first run builds the image (a few minutes; cached by key in .cache/image/); set
// W9P_SKIP_GUEST=1 to skip this file.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, test } from "vitest";
import { ensureDebianImage, type DebianImage } from "../scripts/image/build.js";
import { ensureGuestImage, type GuestImage } from "../scripts/guest/image.js";
import { runGuest } from "../scripts/guest/run.js";

const dir = path.dirname(fileURLToPath(import.meta.url));
const skip = process.env.W9P_SKIP_GUEST === "1";

let guestImage: GuestImage;
let debianImage: DebianImage;

describe.skipIf(skip)("Debian root over virtio-9p (worker9p)", () => {
  beforeAll(async () => {
    guestImage = await ensureGuestImage({ log: (l) => console.log(l) });
    debianImage = await ensureDebianImage({ log: (l) => console.log(l) });
  }, 1_800_000);

  test("boots to its own init; users, alternatives, ld.so cache; bash, python3, cc hello.c, make, git, file work", async () => {
    const script = path.join(dir, "guest", "debian-root.sh");
    const r = await runGuest({
      root: "debian",
      image: guestImage,
      debianImage,
      scriptFile: script,
      files: { "lib.sh": `@${path.join(dir, "guest", "lib.sh")}` },
      timeoutS: 900,
    });
    console.log(`debian-root.sh: exit ${r.exitCode}, boot ${(r.bootMs / 1000).toFixed(1)} s, script ${(r.scriptMs / 1000).toFixed(1)} s`);
    const fails = r.output.split("\n").filter((l) => l.startsWith("FAIL:"));
    if (r.exitCode !== 0 || fails.length > 0 || r.error) console.log(r.output.split("\n").slice(-150).join("\n"));
    expect(r.error).toBeUndefined();
    expect(fails).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.output).toContain("ALL CHECKS PASSED");
    expect(r.server?.fsck?.problems).toEqual([]);
  }, 1_000_000);

  test("without a script, the console gets a root login shell with job control", async () => {
    const prompt = /root@debian:~# /;
    const r = await runGuest({
      root: "debian",
      image: guestImage,
      debianImage,
      timeoutS: 900,
      interact: async (con) => {
        await con.waitFor(prompt);
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
