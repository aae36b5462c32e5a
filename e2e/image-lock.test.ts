// The Debian root's build lock (scripts/image/root.ts): test files run in parallel and several
// need the root, so on a cold cache one builds while the others wait, and a lock left by a
// process that died is taken over instead of waited on for ever.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, test } from "vitest";
import { withBuildLock } from "../scripts/image/root.js";

const dir = mkdtempSync(join(tmpdir(), "w9p-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("two preparations of the root never overlap", async () => {
  const events: string[] = [];
  let release!: () => void;
  const firstHolds = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const firstEntered = new Promise<void>((r) => (entered = r));
  const first = withBuildLock(dir, () => {}, async () => {
    events.push("first in");
    entered();
    await firstHolds;
    events.push("first out");
  });
  await firstEntered;
  const second = withBuildLock(dir, () => events.push("second waits"), async () => {
    events.push("second in");
  });
  // The second is waiting on the lock (it said so) before the first lets go.
  await new Promise<void>((r) => {
    const check = () => (events.includes("second waits") ? r() : setImmediate(check));
    check();
  });
  release();
  await Promise.all([first, second]);
  expect(events).toEqual(["first in", "second waits", "first out", "second in"]);
});

test("a lock whose owner died is taken over", async () => {
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid!;
  mkdirSync(join(dir, ".build.lock"));
  writeFileSync(join(dir, ".build.lock", "pid"), String(dead));
  expect(await withBuildLock(dir, () => {}, async () => "ran")).toBe("ran");
});
