/// <reference types="vite/client" />
// The emulator: v86 booting a guest image, its serial console (ttyS0, the user's terminal) and
// the workspace agent's control channel (ttyS1, scripts/workspace/agent.sh). Runs anywhere v86
// does without a DOM (a dedicated worker here): no screen, no keyboard or mouse, no speaker.
import { V86 } from "v86";
import wasmUrl from "v86/build/v86.wasm?url";
import type { Handle9p } from "../../transport/handle9p.js";
import type { LoadedImage } from "./image.js";
import type { TickProfile } from "./tick-profile.js";
import { scheduleInThisThread, type TickMode, type V86Core } from "./v86-tick.js";

export interface MachineEvents {
  /** Bytes the guest wrote on its console. */
  console(bytes: Uint8Array): void;
  /** A line from the agent on the control channel (without the line end). */
  control(line: string): void;
  /** The guest died: a kernel panic, or the emulator stopped. */
  failed(reason: string): void;
}

export interface MachineOptions {
  image: LoadedImage;
  /** worker9p's hook; undefined: v86's own in-memory 9P server (on the image's v86Fs, if it has one). */
  handle9p?: Handle9p;
  events: MachineEvents;
  /** How v86 schedules its next slice (v86-tick.ts); default "same-thread". */
  tick?: TickMode;
  /** Time requests, wake-ups and slices (bench:workspace --profile). */
  profile?: TickProfile;
}

/** What we use of v86 beyond its typings. */
export interface Emulator {
  run(): void;
  stop(): Promise<void>;
  destroy(): Promise<void>;
  add_listener(event: string, listener: (value: never) => void): void;
  serial_send_bytes(serial: number, data: Uint8Array): void;
  create_file(file: string, data: Uint8Array): Promise<void>;
  read_file(file: string): Promise<Uint8Array>;
  /** v86's core, once its wasm is loaded (before "emulator-ready"). */
  readonly v86?: V86Core;
}

const MARKER = "@@W9P-";

export class GuestMachine {
  readonly emulator: Emulator;
  private pendingConsole: number[] = [];
  /** The start of the current console line while it may still be an @@W9P- marker (held back). */
  private markerPrefix = "";
  private atLineStart = true;
  private flushQueued = false;
  private controlLine = "";
  private panicLine = "";
  private dead = false;
  /** v86 sent "emulator-loaded": its core exists, and autostart has started it. */
  private loaded = false;
  private destroyed = false;

  constructor(private readonly options: MachineOptions) {
    const { image, profile } = options;
    const handle9p = options.handle9p && profile ? profile.wrapHandle9p(options.handle9p) : options.handle9p;
    this.emulator = new V86({
      wasm_path: wasmUrl,
      bios: { buffer: image.bios },
      vga_bios: { buffer: image.vgaBios },
      bzimage: { buffer: image.kernel },
      initrd: { buffer: image.initrd },
      cmdline: image.descriptor.cmdline,
      memory_size: image.descriptor.memoryMb * 1024 * 1024,
      filesystem: handle9p ? { handle9p } : image.v86Fs ? { basefs: image.v86Fs.basefs, baseurl: image.v86Fs.baseurl } : {},
      uart1: true,
      autostart: true,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
    } as ConstructorParameters<typeof V86>[0]) as unknown as Emulator;
    this.emulator.add_listener("serial0-output-byte", (byte: number) => this.onConsoleByte(byte));
    this.emulator.add_listener("serial1-output-byte", (byte: number) => this.onControlByte(byte));
    // Sent by the core's init, before autostart runs its first tick.
    this.emulator.add_listener("emulator-ready", () => {
      const core = this.emulator.v86;
      if (!core || typeof core.yield !== "function" || typeof core.do_tick !== "function") {
        console.warn("workspace: v86's core is not where v86-tick.ts expects it; its own scheduling stays");
        return;
      }
      if ((options.tick ?? "same-thread") === "same-thread") scheduleInThisThread(core);
      profile?.attach(core);
    });
    this.emulator.add_listener("emulator-stopped", () => this.fail("the emulator stopped"));
    // A machine destroyed while v86 was still loading (a restart or stop while booting) is ended
    // as soon as it has loaded: autostart has only scheduled its first slice, which then stops it.
    this.emulator.add_listener("emulator-loaded", () => {
      this.loaded = true;
      if (this.destroyed) void this.emulator.destroy().catch(() => {});
    });
  }

  /** Keyboard input for the guest's console. */
  sendConsole(bytes: Uint8Array): void {
    this.emulator.serial_send_bytes(0, bytes);
  }

  sendControl(line: string): void {
    this.emulator.serial_send_bytes(1, new TextEncoder().encode(line + "\n"));
  }

  async destroy(): Promise<void> {
    this.dead = true;
    this.destroyed = true;
    // Before "emulator-loaded", v86's destroy() ends nothing: it throws without a core, or runs
    // before the core's init, which then schedules through a fresh channel and autostart runs the
    // guest anyway. The listener above ends it once loaded; nothing of it ran before.
    if (!this.loaded) return;
    await this.emulator.destroy().catch(() => {});
  }

  private fail(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.options.events.failed(reason);
  }

  private onConsoleByte(byte: number): void {
    this.watchForPanic(byte);
    // The guest's /init prints progress markers (@@W9P-BOOTED …) on the console: not for the user.
    if (this.atLineStart || this.markerPrefix) {
      const candidate = this.markerPrefix + String.fromCharCode(byte);
      if (candidate.startsWith(MARKER) ? true : MARKER.startsWith(candidate)) {
        this.markerPrefix = byte === 10 ? "" : candidate;
        this.atLineStart = byte === 10;
        return; // held back, dropped at its line end if it is a marker
      }
      for (let i = 0; i < this.markerPrefix.length; i++) this.pendingConsole.push(this.markerPrefix.charCodeAt(i));
      this.markerPrefix = "";
    }
    this.atLineStart = byte === 10;
    this.pendingConsole.push(byte);
    // One message per emulator time slice, not per byte: flushed once v86's loop yields.
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(() => this.flushConsole());
    }
  }

  /** A panic ends the guest: the page says so and offers a restart. */
  private watchForPanic(byte: number): void {
    if (byte !== 10) {
      // The line so far (its first 256 characters: a panic line says so near its start).
      if (this.panicLine.length < 256) this.panicLine += String.fromCharCode(byte);
      return;
    }
    const line = this.panicLine.trim();
    this.panicLine = "";
    if (/Kernel panic/.test(line)) {
      // v86 goes on running a panicked kernel; stop it so it costs nothing.
      void this.emulator.stop().catch(() => {});
      this.fail(`the guest's kernel panicked: ${line}`);
    }
  }

  private flushConsole(): void {
    this.flushQueued = false;
    if (this.pendingConsole.length === 0) return;
    const bytes = Uint8Array.from(this.pendingConsole);
    this.pendingConsole = [];
    this.options.events.console(bytes);
  }

  private onControlByte(byte: number): void {
    if (byte === 10) {
      const line = this.controlLine.replace(/\r$/, "");
      this.controlLine = "";
      this.options.events.control(line);
    } else this.controlLine += String.fromCharCode(byte);
  }
}

