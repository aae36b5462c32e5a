// The workspace worker's state: the tree (when the guest mounts worker9p), the guest machine,
// and the page API's run() over the agent's control channel.
//
// Placement — why the emulator runs here, in the same worker as the 9P server:
// v86 calls handle9p synchronously and the guest sees the reply only when v86 next checks for it.
// With v86 on the page's main thread and the server in a worker, every reply is a message that
// waits until the main thread yields to its event loop (v86 runs slices of guest time, and the
// page renders between them): measured ~1.8× the time of v86's own in-memory server for the hop
// alone (issue 9). Here handle9p is a direct call into the server's session (directFramePort), with
// no message hop between emulator and server. The page gets the console by messages, which only
// the user's typing waits on.
// What a request costs here (bench:workspace --profile, guest/tick-profile.ts; scripts/bench/README.md
// has the table): v86 calls handle9p inside its slice, and the guest runs on to its halt (0.2–0.3 ms
// mean: the kernel puts the process to sleep) before the server gets the thread; the server then
// answers in 0.02–0.08 ms, and every reply finds v86 idle, waiting for its next slice. v86 scheduled
// that slice through a nested helper worker's postMessage round trip (0.18–0.34 ms mean on the
// loaded 2-core VM); it now takes a MessageChannel message within this worker (0.05 ms;
// guest/v86-tick.ts, for the built-in 9P too, so the comparison stays fair). What is left is the guest's own sleep and wake-up, which v86's
// built-in server avoids by answering inside the call; a server that could answer synchronously
// would too.
// (The alternative — the emulator in its own worker blocking on a SharedArrayBuffer for replies —
// needs cross-origin isolation headers on every page that embeds the workspace.)
// bench:workspace measures the result against v86's built-in server with the same placement.
import { Client } from "../../client/client.js";
import { inProcessTransport } from "../../client/in-process.js";
import { directFramePort } from "../../host/direct-port.js";
import type { OpenTree } from "../../host/tree-host.js";
import { createHandle9p } from "../../transport/handle9p.js";
import type { BootRequest, GuestState, RunResult, WorkspaceEvent } from "../protocol.js";
import { loadGuestImage, type LoadedImage } from "./image.js";
import { GuestMachine } from "./machine.js";
import { TickProfile } from "./tick-profile.js";

/** Where run() keeps a script and its output, relative to the guest's home (the agent's /root/.w9p). */
const RUN_DIR = ".w9p";
/** The hang watchdog: a ping this often once the guest is ready… */
const PING_MS = 10_000;
/** …and "unresponsive" when none was answered for this long (the page offers a restart). */
const UNRESPONSIVE_MS = 120_000;

/** The part of v86's built-in file system we use (names survive its minified build). */
interface V86Fs {
  SearchPath(path: string): { id: number; parentid: number; name: string };
  CreateDirectory(name: string, parentid: number): number;
}

interface PendingRun {
  resolve(status: number): void;
}

export class WorkspaceHost {
  tree: OpenTree | undefined;
  private machine: GuestMachine | undefined;
  private image: LoadedImage | undefined;
  private boot: BootRequest | undefined;
  private events: MessagePort | undefined;
  private state: GuestState = "stopped";
  private readyWaiters: { resolve(): void; reject(e: Error): void }[] = [];
  private runs = new Map<number, PendingRun>();
  private nextRun = 1;
  private client: Promise<Client> | undefined;
  private closeGuestPort: (() => void) | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private lastPong = 0;
  private pings = 0;
  /**
   * Why no guest can boot: a reset failed, leaving the tree's old store closed and no new one open.
   * restart() and ready() (so run()) reject with it until a reset succeeds; a reload reopens the tree.
   */
  private resetFailed: Error | undefined;
  /** resetTree() in progress: it boots the reset tree's guest itself once the tree is reset. */
  private resetting: Promise<void> | undefined;

  async start(req: BootRequest, events: MessagePort): Promise<void> {
    if (req.fs === "worker9p" && !this.tree) throw new Error("open the tree before booting a guest on worker9p");
    this.boot = req;
    this.events = events;
    this.setState("loading", "loading the guest image");
    const image = { descriptor: req.image.descriptor, url: new URL(req.image.url) };
    this.image = await loadGuestImage(image, (text) => this.emit({ type: "progress", text }));
    this.startMachine();
  }

  async restart(): Promise<void> {
    // A reset boots a fresh guest: a restart asked meanwhile is that guest (restarting on the tree
    // being reset would boot one on its closed server, and the reset another beside it).
    if (this.resetting) {
      await this.resetting.catch(() => {});
      if (!this.resetFailed) return;
    }
    if (this.resetFailed) {
      // Said again as a state: the page renewed its `ready` for this restart, which must not wait.
      this.setState("failed", this.resetFailed.message);
      throw this.resetFailed;
    }
    await this.stopMachine("restarting");
    // Another restart (a double click), or a reset, began meanwhile: its guest is this one's.
    if (this.machine || this.resetting) return;
    if (!this.image) throw new Error("the guest was never booted");
    this.startMachine();
  }

  /**
   * Drop the tree's user's layer (a tree over a base image) and boot a fresh guest on it: the old
   * guest is stopped first, so nothing it still had in flight lands in the new tree.
   */
  resetTree(): Promise<void> {
    // One at a time, as OpenTree.reset(): a second would boot a second guest.
    if (this.resetting) return this.resetting;
    const resetting = this.resetTreeOnce();
    this.resetting = resetting;
    return resetting.finally(() => {
      if (this.resetting === resetting) this.resetting = undefined;
    });
  }

  private async resetTreeOnce(): Promise<void> {
    const tree = this.tree;
    if (!tree) throw new Error("no tree is open in this worker");
    if (!tree.base) throw new Error("reset needs a tree over a base image: without one, delete the tree instead");
    // A guest was booted (it may be between a restart's stop and start, or stopped by a failed
    // reset): the reset tree gets one.
    const booted = this.image !== undefined;
    await this.stopMachine("resetting the tree");
    await this.dropClient(); // its session ends with the old server
    try {
      await tree.reset();
      this.resetFailed = undefined;
    } catch (e) {
      // No guest follows: who waits for one (a run() asked meanwhile), or asks later, hears why.
      this.resetFailed = new Error(`the reset failed: ${e instanceof Error ? e.message : String(e)}; reload the page to open the tree again`);
      this.onFailed(this.resetFailed.message);
      throw e;
    }
    if (booted) this.startMachine();
  }

  async shutdown(): Promise<void> {
    await this.stopMachine("stopped");
    await this.dropClient();
    const tree = this.tree;
    this.tree = undefined;
    await tree?.close();
    this.setState("stopped", "stopped");
  }

  input(data: Uint8Array): void {
    this.machine?.sendConsole(data);
  }

  resize(rows: number, cols: number): void {
    if (this.state === "ready" && Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0) {
      this.machine?.sendControl(`SIZE ${rows} ${cols}`);
    }
  }

  /**
   * Resolves once the guest's agent said it is ready; rejects if the guest fails first. Between
   * restart()'s or resetTree()'s stop and the new guest's boot there is no machine (the state still
   * says the old one's): a caller then waits for the new guest.
   */
  ready(): Promise<void> {
    if (this.resetFailed) return Promise.reject(this.resetFailed);
    if (this.state === "ready" && this.machine) return Promise.resolve();
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }));
  }

  async run(script: string, timeoutMs: number): Promise<RunResult> {
    await this.ready();
    const machine = this.machine!;
    const id = this.nextRun++;
    await this.writeFile(`${RUN_DIR}/${id}.sh`, new TextEncoder().encode(script));
    // Stopped meanwhile (restart, reset): that guest answers nothing more, and abandon() ran before this run was in `runs`.
    if (this.machine !== machine) throw new Error(`workspace.run: the guest stopped before the script started (${this.state})`);
    const done = new Promise<number>((resolve) => this.runs.set(id, { resolve }));
    machine.sendControl(`RUN ${id}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    if (Number.isFinite(timeoutMs) && timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        machine.sendControl(`KILL ${id}`);
      }, timeoutMs);
    }
    const status = await done.finally(() => clearTimeout(timer));
    if (status < 0) throw new Error(`workspace.run: the guest stopped before the script finished (${this.state})`);
    const output = new TextDecoder().decode(await this.readFile(`${RUN_DIR}/${id}.out`).catch(() => new Uint8Array(0)));
    if (this.machine === machine) machine.sendControl(`DEL ${id}`);
    if (timedOut) throw new Error(`workspace.run: the script did not finish within ${timeoutMs} ms and was killed; its output so far:\n${output}`);
    return { status, output };
  }

  // ------------------------------------------------------------ internals

  private startMachine(): void {
    const req = this.boot!;
    let handle9p;
    if (req.fs === "worker9p") {
      const port = directFramePort(this.tree!.server);
      this.closeGuestPort = () => port.close();
      handle9p = createHandle9p(port);
    }
    this.setState("booting", `booting ${this.image!.descriptor.title}`);
    const profile = req.profile ? new TickProfile() : undefined;
    // For bench:workspace --profile, which reads it with Playwright's worker.evaluate.
    if (profile) (globalThis as { workspaceTickProfile?: TickProfile }).workspaceTickProfile = profile;
    this.machine = new GuestMachine({
      image: this.image!,
      ...(handle9p ? { handle9p } : {}),
      ...(req.tick ? { tick: req.tick } : {}),
      ...(profile ? { profile } : {}),
      events: {
        console: (data) => this.emit({ type: "console", data }),
        control: (line) => this.onControl(line),
        failed: (reason) => this.onFailed(reason),
      },
    });
  }

  private async stopMachine(why: string): Promise<void> {
    const m = this.machine;
    this.machine = undefined;
    this.abandon(new Error(`the guest was stopped (${why})`));
    await m?.destroy();
    // A new guest is a new 9P client: the old session's fids end with it.
    this.closeGuestPort?.();
    this.closeGuestPort = undefined;
  }

  private onControl(line: string): void {
    if (line === "@@W9P-READY") {
      this.setState("ready", "the shell is ready");
      for (const w of this.readyWaiters.splice(0)) w.resolve();
      this.startWatchdog();
      return;
    }
    if (line.startsWith("@@W9P-PONG ")) {
      this.lastPong = performance.now();
      if (this.state === "unresponsive") this.setState("ready", "the guest answers again");
      return;
    }
    const m = /^@@W9P-DONE (\d+) (-?\d+)$/.exec(line);
    if (m) {
      const id = Number(m[1]);
      this.runs.get(id)?.resolve(Number(m[2]));
      this.runs.delete(id);
    }
  }

  /** Ping the agent; a guest that stops answering is reported (it may be hung, or only very busy). */
  private startWatchdog(): void {
    clearInterval(this.watchdog);
    this.lastPong = performance.now();
    const machine = this.machine;
    this.watchdog = setInterval(() => {
      if (this.machine !== machine || this.state === "failed") return clearInterval(this.watchdog);
      machine?.sendControl(`PING ${++this.pings}`);
      if (this.state === "ready" && performance.now() - this.lastPong > UNRESPONSIVE_MS) {
        this.setState("unresponsive", `the guest has not answered for ${UNRESPONSIVE_MS / 1000} s: it may be hung, or very busy`);
      }
    }, PING_MS);
  }

  private onFailed(reason: string): void {
    this.setState("failed", reason);
    this.abandon(new Error(reason));
  }

  /** This guest will answer nothing more: stop pinging it, fail who waits for it to be ready, end its runs. */
  private abandon(err: Error): void {
    clearInterval(this.watchdog);
    for (const w of this.readyWaiters.splice(0)) w.reject(err);
    for (const r of this.runs.values()) r.resolve(-1);
    this.runs.clear();
  }

  private setState(state: GuestState, message: string): void {
    this.state = state;
    this.emit({ type: "state", state, message });
  }

  private emit(event: WorkspaceEvent): void {
    if (event.type === "console") this.events?.postMessage(event, [event.data.buffer]);
    else this.events?.postMessage(event);
  }

  /**
   * Put a run's script into the tree: through a 9P session of our own (worker9p) or v86's helpers
   * (built-in server). RUN_DIR exists only while runs do (the agent removes it when empty, so the
   * user's home shows no trace); it is created here, again if a concurrent DEL just removed it.
   */
  private async writeFile(path: string, data: Uint8Array): Promise<void> {
    if (this.boot!.fs === "builtin") {
      const emulator = this.machine!.emulator;
      const fs9p = (emulator as unknown as { fs9p?: V86Fs }).fs9p;
      const dir = fs9p?.SearchPath(`/${this.builtinPath(RUN_DIR)}`);
      if (fs9p && dir && dir.id === -1 && dir.parentid !== -1) fs9p.CreateDirectory(dir.name, dir.parentid);
      return emulator.create_file(`/${this.builtinPath(path)}`, data);
    }
    const client = await this.ownClient();
    for (let attempt = 0; ; attempt++) {
      await client.mkdir(this.runPath(RUN_DIR), 0o700).catch(() => {}); // EEXIST is fine
      try {
        return await client.writeFile(this.runPath(path), data);
      } catch (e) {
        if (attempt > 0) throw e;
      }
    }
  }

  private async readFile(path: string): Promise<Uint8Array> {
    if (this.boot!.fs === "builtin") return this.machine!.emulator.read_file(`/${this.builtinPath(path)}`);
    return (await this.ownClient()).readFile(this.runPath(path));
  }

  private async dropClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) (await client.catch(() => undefined))?.close();
  }

  /** A path under the home in worker9p's tree: the home itself (busybox), or root/ in a root tree. */
  private runPath(name: string): string {
    const home = this.image?.descriptor.homeInTree ?? "";
    return home ? `${home}/${name}` : name;
  }

  /** A path under the home in v86's own tree: the home itself (busybox), or root/ when v86 serves the whole root (v86Fs). */
  private builtinPath(name: string): string {
    const home = this.image?.v86Fs ? this.image.descriptor.homeInTree : "";
    return home ? `${home}/${name}` : name;
  }

  /** On the tree's server once no reset runs: the one a reset is replacing is closed (EIO for good), and this client is kept. */
  private ownClient(): Promise<Client> {
    const tree = this.tree!;
    this.client ??= tree.settled().then(() => Client.connect(inProcessTransport(tree.server)));
    return this.client;
  }
}
