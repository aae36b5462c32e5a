/**
 * The workspace: a Linux guest (v86) whose home is a worker9p tree, with its console in a
 * terminal. Importable by any page:
 *
 *   const ws = await createWorkspace({ element, tree: "home", storage: "opfs" });
 *   await ws.ready;                                   // the guest's shell is usable
 *   const { status, output } = await ws.run("ls -la");
 *   ws.fileServer?.connect();                         // another 9P session of the same tree
 */
import * as Comlink from "comlink";
import { createFileServer, type FileServer, type StorageKind } from "../index.js";
import { lifeLockName, watchLifeLock, WorkerLife } from "../storage/worker-life.js";
import type { BaseStats } from "../host/protocol.js";
import { baseImageUrl, resolveGuestImage, type GuestImageDescriptor, type ResolvedImage } from "./guest/image.js";
import type { BootRequest, GuestFs, GuestState, RunResult, WorkspaceEvent, WorkspaceWorkerControl } from "./protocol.js";
import type { TickMode } from "./guest/v86-tick.js";
import { mountTerminal, type ConsoleTerminal } from "./terminal.js";

export type { GuestFs, GuestState, RunResult } from "./protocol.js";

export interface WorkspaceOptions {
  /** Where the terminal goes (the workspace fills it). */
  element: HTMLElement;
  /** Which tree (default: the image's own, e.g. "home" for busybox, "debian" for the Debian root). */
  tree?: string;
  /** Where the tree lives (default "opfs"). */
  storage?: StorageKind;
  /** "builtin": v86's own in-memory 9P server instead of worker9p (comparison; nothing persists). */
  fs?: GuestFs;
  /** Guest image: a name (default: the server's default image), or one resolved already (resolveGuestImage). */
  image?: string | ResolvedImage;
  /** v86's scheduling of its next slice (guest/v86-tick.ts): "v86" is its own, for comparison; default "same-thread". */
  tick?: TickMode;
  /** Time 9P round trips and v86's slices in the worker, for bench:workspace --profile (guest/tick-profile.ts). */
  profile?: boolean;
  /** Test hook: reads and writes of files named slow* wait this long on the server, abortably. */
  latencyMs?: number;
  /** If another tab owns the tree, wait for it to let go instead of failing. */
  wait?: boolean;
  fontSize?: number;
  /**
   * Every guest state change (loading → booting → ready; failed; stopped). `cause` "worker-lost":
   * the workspace's worker itself is gone (see Workspace.lost); only a reload brings the tree back.
   */
  onState?(state: GuestState, message: string, cause?: "worker-lost"): void;
}

export interface Workspace {
  /** The guest image booted (its tree, home and base image). */
  readonly image: GuestImageDescriptor;
  /** The tree's name. */
  readonly tree: string;
  /** Resolves when the guest's shell is usable; rejects if the guest fails to get there. */
  readonly ready: Promise<void>;
  /** Run a shell script with `sh` in the guest's home; its exit status and combined output. */
  run(script: string, options?: { timeoutMs?: number }): Promise<RunResult>;
  /** The tree's file server (undefined with fs: "builtin"). */
  readonly fileServer: FileServer | undefined;
  readonly terminal: ConsoleTerminal;
  readonly state: GuestState;
  /**
   * Set once the workspace's worker died (terminated, crashed, out of memory): the state is then
   * "failed" for good, and run(), restart(), reset() and baseStats() reject with this error. The
   * tree's lock went with the worker, so reloading the page (createWorkspace again) reopens it.
   */
  readonly lost: Error | undefined;
  /** Boot the guest again (after a panic or hang); the tree stays open. */
  restart(): Promise<void>;
  /**
   * A tree over a base image: stop the guest, drop the user's layer (every change made to the
   * system and the home: the tree is the base again; the cached base stays) and boot again.
   * Resolves once the new guest is booting (then await `ready`). Open 9P sessions of the tree end.
   */
  reset(): Promise<void>;
  /** A tree over a base image: how much of the base was fetched, and its size. */
  baseStats(): Promise<BaseStats | undefined>;
  /** Stop the guest, close the tree (other tabs may then open it) and end the worker. */
  close(): Promise<void>;
}

/** Thrown (by name) when another tab owns the tree. */
export const TREE_BUSY = "TreeBusyError";

export async function createWorkspace(options: WorkspaceOptions): Promise<Workspace> {
  const fs = options.fs ?? "worker9p";
  const storage = options.storage ?? "opfs";
  const image = typeof options.image === "object" ? options.image : await resolveGuestImage(options.image, location.href);
  const baseUrl = baseImageUrl(image);
  if (fs === "builtin" && baseUrl && !image.descriptor.v86Fs) {
    throw new Error(`the "${image.descriptor.name}" image boots from a base image that v86's built-in 9P cannot serve (no v86Fs): use it with worker9p`);
  }
  const name = options.tree ?? image.descriptor.tree;
  const worker = new Worker(new URL("../../worker/workspace.ts", import.meta.url), { type: "module", name: `workspace:${name}` });
  const remote = Comlink.wrap<WorkspaceWorkerControl>(worker);
  const life = new WorkerLife();

  let fileServer: FileServer | undefined;
  try {
    if (fs === "worker9p") {
      fileServer = await createFileServer({
        storage,
        name,
        worker,
        latencyMs: options.latencyMs ?? 0,
        wait: options.wait ?? false,
        ...(baseUrl ? { base: { url: baseUrl } } : {}),
      });
    }
  } catch (e) {
    remote[Comlink.releaseProxy]();
    worker.terminate();
    throw e;
  }

  let state: GuestState = "loading";
  // One `ready` per boot: a restart after a failure starts a fresh one.
  let ready = deferred();

  const terminal = mountTerminal(
    options.element,
    {
      input: (bytes) => void (life.lost || remote.input(Comlink.transfer(bytes, [bytes.buffer]))),
      resize: (r, c) => void (life.lost || remote.resize(r, c)),
    },
    options.fontSize !== undefined ? { fontSize: options.fontSize } : {},
  );

  const renewReady = () => {
    if (ready.settled) ready = deferred();
  };
  const { port1, port2 } = new MessageChannel();
  port1.onmessage = (ev: MessageEvent<WorkspaceEvent>) => {
    const e = ev.data;
    if (life.lost) return;
    if (e.type === "console") terminal.write(e.data);
    else if (e.type === "progress") options.onState?.(state, e.text);
    else {
      state = e.state;
      if (e.state === "booting") renewReady();
      if (e.state === "ready") {
        ready.resolve();
        // The tty learns the terminal's size only now: the agent sets it.
        void life.call(() => remote.resize(terminal.terminal.rows, terminal.terminal.cols)).catch(() => {});
        terminal.focus();
      } else if (e.state === "failed" || e.state === "stopped") ready.reject(new Error(e.message ?? `the guest ${e.state}`));
      options.onState?.(e.state, e.message ?? e.state);
    }
  };
  const boot: BootRequest = {
    fs,
    image: { descriptor: image.descriptor, url: image.url.href },
    ...(options.tick ? { tick: options.tick } : {}),
    ...(options.profile ? { profile: true } : {}),
  };
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    port1.close();
    try {
      // A dead worker let go of the tree with its context: closed all the same.
      if (fileServer) await fileServer.close(); // shuts the guest down, closes the tree, ends the worker
      else if (!life.lost) await life.call(() => remote.shutdown()).catch((e: unknown) => {
        if (e !== life.lost) throw e;
      });
    } finally {
      life.stop();
      remote[Comlink.releaseProxy]();
      worker.terminate();
      terminal.dispose();
    }
  };
  try {
    // The worker's death, seen through a Web Lock it holds for its life (storage/worker-life.ts), as
    // createFileServer does for its own calls; ours (boot, run, restart, reset) would wait forever.
    // Asked only now: a worker whose script did not load never answers (createFileServer saw to that).
    const lockName = lifeLockName(`workspace:${name}`);
    if (await remote.holdLifeLock(lockName).catch(() => false)) {
      watchLifeLock(lockName, () => {
        const message = `The workspace's worker stopped (it was terminated, crashed or ran out of memory), and the guest with it. Reload the page to open the tree "${name}" again`;
        const lost = new Error(message);
        lost.name = WORKER_LOST;
        if (!life.end(lost)) return;
        state = "failed";
        if (ready.settled) ready = deferred(); // a guest that was ready is not any more
        ready.reject(lost);
        options.onState?.("failed", message, "worker-lost");
      }, life.signal);
    }
    await life.call(() => remote.boot(boot, Comlink.transfer(port2, [port2])));
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }

  return {
    get ready() {
      return ready.promise;
    },
    fileServer,
    terminal,
    get state() {
      return state;
    },
    get lost() {
      return life.lost;
    },
    image: image.descriptor,
    tree: name,
    run: (script, runOptions) => life.call(() => remote.run(script, runOptions?.timeoutMs ?? 0)),
    // A fresh `ready` before the worker reboots: the caller may await it as soon as this resolves,
    // before the "booting" event arrives on the other channel.
    restart: () => life.call(() => (renewReady(), remote.restart())),
    reset: () =>
      life.call(async () => {
        if (!fileServer || !baseUrl) throw new Error("reset needs a tree over a base image (this one has none)");
        renewReady();
        await fileServer.control.reset(); // the workspace worker stops the guest, resets and boots again
      }),
    baseStats: () => (fileServer ? life.call(() => fileServer.control.baseStats()) : Promise.resolve(undefined)),
    close,
  };
}

/** The name of Workspace.lost (the workspace's worker died). */
export const WORKER_LOST = "WorkspaceWorkerLost";

interface Deferred {
  readonly promise: Promise<void>;
  readonly settled: boolean;
  resolve(): void;
  reject(e: Error): void;
}

function deferred(): Deferred {
  let settled = false;
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // a caller may never look at it
  return {
    promise,
    get settled() {
      return settled;
    },
    resolve() {
      settled = true;
      resolve();
    },
    reject(e) {
      if (settled) return;
      settled = true;
      reject(e);
    },
  };
}
