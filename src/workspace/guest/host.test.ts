// WorkspaceHost's run() against a restart, with a stand-in GuestMachine (a real one needs a guest
// image and minutes of CPU): what is checked is which guest a run's script is handed to.
import { expect, test, vi } from "vitest";
import type { BootRequest, WorkspaceEvent } from "../protocol.js";
import { WorkspaceHost } from "./host.js";
import type { MachineOptions } from "./machine.js";

interface FakeMachine {
  options: MachineOptions;
  controls: string[];
  destroyed: boolean;
  /** Control lines sent to it after its destroy(). */
  afterDeath: Promise<string>;
}
const machines: FakeMachine[] = [];
/** v86's create_file for the next script: the test says when it has landed. */
let scriptWritten: Promise<void> = Promise.resolve();
let writing: () => void = () => {};

vi.mock("./image.js", () => ({
  loadGuestImage: async () => ({ descriptor: { title: "stand-in", homeInTree: "" } }),
}));
vi.mock("./machine.js", () => ({
  GuestMachine: class {
    readonly record: FakeMachine;
    private told!: (line: string) => void;
    readonly emulator = { create_file: () => (writing(), scriptWritten), read_file: async () => new Uint8Array(0) };
    constructor(options: MachineOptions) {
      this.record = { options, controls: [], destroyed: false, afterDeath: new Promise((resolve) => (this.told = resolve)) };
      machines.push(this.record);
    }
    sendConsole(): void {}
    sendControl(line: string): void {
      this.record.controls.push(line);
      if (this.record.destroyed) this.told(line);
    }
    async destroy(): Promise<void> {
      this.record.destroyed = true;
    }
  },
}));

const boot = { fs: "builtin", image: { descriptor: { name: "stand-in" }, url: "http://localhost/images/stand-in.json" } } as unknown as BootRequest;

test("a run() whose script is being written when restart() stops the guest rejects, instead of handing it to the stopped guest and waiting forever", async () => {
  const host = new WorkspaceHost();
  const { port1, port2 } = new MessageChannel();
  try {
    await host.start(boot, port1);
    machines[0]!.options.events.control("@@W9P-READY");
    let land!: () => void;
    scriptWritten = new Promise((resolve) => (land = resolve));
    const written = new Promise<void>((resolve) => (writing = resolve));
    const run = host.run("true", 0);
    run.catch(() => {});
    // The run waits for its script to land; the guest is stopped and a new one boots meanwhile.
    await written;
    await host.restart();
    expect(machines).toHaveLength(2);
    land();
    const outcome = await Promise.race([
      run.then(
        () => "resolved",
        (e: Error) => e.message,
      ),
      machines[0]!.afterDeath.then((line) => `sent "${line}" to the stopped guest`),
    ]);
    expect(outcome).toMatch(/guest stopped/);
    expect(machines[1]!.controls).toEqual([]);
  } finally {
    port1.close();
    port2.close();
  }
});

test("after a reset that failed, restart() and run() say so at once instead of booting a guest on the closed tree or waiting for one", async () => {
  machines.length = 0;
  const host = new WorkspaceHost();
  const events: WorkspaceEvent[] = [];
  const port = { postMessage: (e: WorkspaceEvent) => events.push(e) } as unknown as MessagePort;
  // The tree as a failed reset leaves it: its old store closed, no new one opened.
  host.tree = { base: {}, reset: () => Promise.reject(new Error("the store could not be opened")), settled: async () => {} } as unknown as WorkspaceHost["tree"];
  await host.start(boot, port);
  machines[0]!.options.events.control("@@W9P-READY");
  await expect(host.resetTree()).rejects.toThrow("the store could not be opened");
  events.length = 0;
  await expect(host.restart()).rejects.toThrow(/the reset failed: the store could not be opened.*reload the page/);
  expect(machines).toHaveLength(1); // no guest booted on what the reset left
  // The page renewed its `ready` for the restart: the state says it will not come.
  expect(events).toEqual([{ type: "state", state: "failed", message: expect.stringMatching(/the reset failed.*reload the page/) }]);
  await expect(host.run("true", 0)).rejects.toThrow(/the reset failed.*reload the page/);
});

test("a reset tried again after one that failed boots the guest once it succeeds (the page waits for that guest)", async () => {
  machines.length = 0;
  const host = new WorkspaceHost();
  const events: WorkspaceEvent[] = [];
  const port = { postMessage: (e: WorkspaceEvent) => events.push(e) } as unknown as MessagePort;
  let fails = true;
  host.tree = {
    base: {},
    reset: () => (fails ? Promise.reject(new Error("the store could not be opened")) : Promise.resolve()),
    settled: async () => {},
  } as unknown as WorkspaceHost["tree"];
  await host.start(boot, port);
  machines[0]!.options.events.control("@@W9P-READY");
  await expect(host.resetTree()).rejects.toThrow("the store could not be opened");
  fails = false;
  events.length = 0;
  await host.resetTree();
  expect(machines).toHaveLength(2);
  expect(events.map((e) => (e.type === "state" ? e.state : e.type))).toEqual(["booting"]);
  machines[1]!.options.events.control("@@W9P-READY");
  await expect(host.ready()).resolves.toBeUndefined();
});

test("a restart() or second reset asked while a reset runs leaves one guest running, not two side by side", async () => {
  machines.length = 0;
  const host = new WorkspaceHost();
  const port = { postMessage: () => {} } as unknown as MessagePort;
  let resetDone!: () => void;
  let entered!: () => void;
  const resetting = new Promise<void>((resolve) => (entered = resolve));
  let pending: Promise<void> | undefined;
  // As OpenTree.reset: one reset at a time, a second call gets the running one.
  host.tree = {
    base: {},
    reset: () => (entered(), (pending ??= new Promise<void>((resolve) => (resetDone = resolve)))),
    settled: async () => {},
  } as unknown as WorkspaceHost["tree"];
  await host.start(boot, port);
  machines[0]!.options.events.control("@@W9P-READY");
  const reset = host.resetTree();
  await resetting; // the old guest stopped, the tree resetting
  const restart = host.restart();
  const again = host.resetTree();
  resetDone();
  await Promise.all([reset, restart, again]);
  const running = machines.filter((m) => !m.destroyed);
  expect(running).toHaveLength(1);
  expect(machines).toHaveLength(2);
});

test("two restart() at once (a double click) leave one guest running", async () => {
  machines.length = 0;
  const host = new WorkspaceHost();
  await host.start(boot, { postMessage: () => {} } as unknown as MessagePort);
  machines[0]!.options.events.control("@@W9P-READY");
  await Promise.all([host.restart(), host.restart()]);
  expect(machines.filter((m) => !m.destroyed)).toHaveLength(1);
});

test("a reset asked while a restart stops the guest leaves one guest running, on the reset tree", async () => {
  machines.length = 0;
  const host = new WorkspaceHost();
  let machinesBeforeResetEnded = -1;
  host.tree = {
    base: {},
    reset: async () => {
      await new Promise<void>((resolve) => queueMicrotask(resolve)); // the store closes, the new one opens
      machinesBeforeResetEnded = machines.length;
    },
    settled: async () => {},
  } as unknown as WorkspaceHost["tree"];
  await host.start(boot, { postMessage: () => {} } as unknown as MessagePort);
  machines[0]!.options.events.control("@@W9P-READY");
  await Promise.all([host.restart(), host.resetTree()]);
  const running = machines.filter((m) => !m.destroyed);
  expect(running).toHaveLength(1);
  expect(machines.indexOf(running[0]!), "the guest running was booted after the reset").toBeGreaterThanOrEqual(machinesBeforeResetEnded);
});
