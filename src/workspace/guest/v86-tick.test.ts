// v86's real core (the npm build, its wasm, no guest image: the CPU runs whatever is in memory)
// scheduled by scheduleInThisThread: slices keep coming, a stale tick runs none, and a stopped
// emulator stays stopped when something wakes it.
import { createRequire } from "node:module";
import { afterEach, expect, test } from "vitest";
import { V86 } from "v86";
import { scheduleInThisThread, type V86Core } from "./v86-tick.js";

interface TestEmulator {
  readonly v86: V86Core & { running: boolean; next_tick(t: number): void; cpu: { main_loop(): number } };
  add_listener(event: string, listener: () => void): void;
  run(): void;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

const emulators: TestEmulator[] = [];
afterEach(async () => {
  for (const e of emulators.splice(0)) await e.destroy();
});

/** A real v86 core, loaded, not started, with this thread's scheduling; `helper` records what went to v86's own yield. */
async function scheduledCore() {
  const wasm_path = createRequire(import.meta.url).resolve("v86/build/v86.wasm");
  const emulator = new V86({ wasm_path, autostart: false, memory_size: 16 << 20, disable_keyboard: true, disable_mouse: true, disable_speaker: true } as ConstructorParameters<typeof V86>[0]) as unknown as TestEmulator;
  emulators.push(emulator);
  await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", resolve));
  const core = emulator.v86;
  const helper: number[] = [];
  const v86Yield = core.yield.bind(core);
  core.yield = (t, tick) => {
    helper.push(t);
    v86Yield(t, tick);
  };
  scheduleInThisThread(core);
  const counts = { slices: 0, loops: 0, callbacks: 0, stopped: 0 };
  const waiters: { when(): boolean; resolve(): void }[] = [];
  const check = () => {
    for (const w of waiters.splice(0)) (w.when() ? w.resolve : () => waiters.push(w))();
  };
  const doTick = core.do_tick.bind(core);
  core.do_tick = () => (counts.slices++, doTick());
  const mainLoop = core.cpu.main_loop;
  core.cpu.main_loop = () => (counts.loops++, check(), mainLoop());
  const callback = core.yield_callback.bind(core);
  core.yield_callback = (tick) => (counts.callbacks++, callback(tick), check());
  emulator.add_listener("emulator-stopped", () => counts.stopped++);
  const until = (when: () => boolean) => new Promise<void>((resolve) => (when() ? resolve() : waiters.push({ when, resolve })));
  return { emulator, core, helper, counts, until };
}

test("a running guest's slices follow one another through this thread; only waits of 1 ms or more go to v86's own timer", async () => {
  const { emulator, helper, counts, until } = await scheduledCore();
  emulator.run();
  await until(() => counts.loops >= 50);
  await emulator.stop();
  expect(counts.slices).toBeGreaterThanOrEqual(50);
  expect(helper.filter((t) => t < 1)).toEqual([]);
});

test("a tick made stale by a later one runs no slice (v86's tick_counter still decides)", async () => {
  const { core, counts, until } = await scheduledCore();
  // Not running: a slice that runs only reports "emulator-stopped", once per slice.
  core.next_tick(0);
  core.next_tick(0);
  await until(() => counts.callbacks === 2);
  expect(counts.slices).toBe(1);
  expect(counts.stopped).toBe(1);
});

test("a stopped emulator stays stopped when an interrupt wakes it: no guest code runs", async () => {
  const { emulator, core, counts, until } = await scheduledCore();
  emulator.run();
  await until(() => counts.loops >= 5);
  await emulator.stop();
  const loops = counts.loops;
  const callbacks = counts.callbacks;
  core.next_tick(0); // what the CPU does when an interrupt is raised while idle (a 9P reply)
  await until(() => counts.callbacks === callbacks + 1);
  expect(counts.loops).toBe(loops);
  expect(core.running).toBe(false);
});
