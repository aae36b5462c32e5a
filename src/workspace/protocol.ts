import type { WorkerControl } from "../host/protocol.js";
import type { GuestImageDescriptor } from "./guest/image.js";
import type { TickMode } from "./guest/v86-tick.js";

/** Which 9P server the guest mounts: worker9p on the tree, or v86's own in-memory one (no persistence). */
export type GuestFs = "worker9p" | "builtin";

/** "unresponsive": ready before, but the agent has not answered a ping for a long time (hung or very busy). */
export type GuestState = "loading" | "booting" | "ready" | "unresponsive" | "failed" | "stopped";

export interface BootRequest {
  fs: GuestFs;
  /** The image the page resolved (its descriptor, and the descriptor's URL its paths are relative to). */
  image: { descriptor: GuestImageDescriptor; url: string };
  /** How v86 schedules its next slice (guest/v86-tick.ts); default "same-thread". */
  tick?: TickMode;
  /** Time 9P round trips and v86's slices in the worker (guest/tick-profile.ts; bench:workspace --profile). */
  profile?: boolean;
}

/** Worker → page, on the events port given to boot(). */
export type WorkspaceEvent =
  | { type: "console"; data: Uint8Array }
  | { type: "progress"; text: string }
  | { type: "state"; state: GuestState; message?: string };

export interface RunResult {
  /** The script's exit status (137 if it was killed at its timeout). */
  status: number;
  /** Its stdout and stderr, interleaved as written. */
  output: string;
}

/** The workspace worker: a tree (createFileServer's WorkerControl) plus the emulator that mounts it. */
export interface WorkspaceWorkerControl extends WorkerControl {
  /** Load the image and start the guest; events (console, progress, state) come on `events`. */
  boot(req: BootRequest, events: MessagePort): Promise<void>;
  /** Keyboard bytes for the guest's console. */
  input(data: Uint8Array): void;
  /** The terminal's size, for the guest's tty. */
  resize(rows: number, cols: number): void;
  run(script: string, timeoutMs: number): Promise<RunResult>;
  /** Stop the guest and boot it again (the tree stays open). */
  restart(): Promise<void>;
  /** Stop the guest and close the tree. */
  shutdown(): Promise<void>;
}
