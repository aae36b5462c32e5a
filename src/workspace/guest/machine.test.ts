// GuestMachine on v86's real core (the npm build and its wasm; no guest image: the CPU runs
// whatever the zeroed BIOS holds). What is checked is the machine's life, not a guest's.
import { createRequire } from "node:module";
import { expect, test, vi } from "vitest";
import type { LoadedImage } from "./image.js";
import { GuestMachine } from "./machine.js";

// In Node, v86 reads its wasm from a file path, not from the dev server's URL.
vi.mock("v86/build/v86.wasm?url", () => ({ default: createRequire(import.meta.url).resolve("v86/build/v86.wasm") }));

const image: LoadedImage = {
  descriptor: { name: "blank", title: "no guest", bios: "", vgaBios: "", kernel: "", initrd: [], cmdline: "", memoryMb: 16, home: "/" } as unknown as LoadedImage["descriptor"],
  bios: new ArrayBuffer(64 * 1024),
  vgaBios: new ArrayBuffer(32 * 1024),
  kernel: new ArrayBuffer(4096),
  initrd: new ArrayBuffer(4096),
};

test("a machine destroyed before v86 has loaded its wasm (a restart while booting) runs no guest code once it loads", async () => {
  const failures: string[] = [];
  const machine = new GuestMachine({ image, events: { console: () => {}, control: () => {}, failed: (r) => failures.push(r) } });
  const emulator = machine.emulator as typeof machine.emulator & { v86?: { running: boolean; cpu: { main_loop(): number } } };
  let loops = 0;
  // Sent by the core's init, before autostart's run(): count every slice of guest code from the start.
  emulator.add_listener("emulator-ready", () => {
    const cpu = emulator.v86!.cpu;
    const mainLoop = cpu.main_loop.bind(cpu);
    cpu.main_loop = () => (loops++, mainLoop());
  });
  // The first slice it would run, or its stop: whichever comes first settles it.
  const settled = new Promise<string>((resolve) => {
    emulator.add_listener("emulator-stopped", () => resolve("stopped"));
    emulator.add_listener("emulator-ready", () => {
      const cpu = emulator.v86!.cpu;
      const counted = cpu.main_loop;
      cpu.main_loop = () => (resolve("ran"), counted());
    });
  });
  expect(emulator.v86).toBeUndefined(); // still loading its wasm
  try {
    await machine.destroy();
    expect(await settled).toBe("stopped");
    expect(loops).toBe(0);
    expect(emulator.v86!.running).toBe(false);
    expect(failures).toEqual([]);
  } finally {
    await emulator.destroy(); // idempotent; ends a guest left running if the check failed
  }
});
