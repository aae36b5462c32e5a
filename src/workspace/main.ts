// The workspace page (index.html): layout, query parameters, one owner per tree, and the page API
// `window.workspace = { ready, run, fileServer, reset, … }` that tests and other scripts use.
import type { BaseStats } from "../host/protocol.js";
import type { FileServer, StorageKind } from "../index.js";
import { resolveGuestImage, type GuestImageDescriptor, type ResolvedImage } from "./guest/image.js";
import { TICK_MODES, type TickMode } from "./guest/v86-tick.js";
import { createWorkspace, TREE_BUSY, type GuestFs, type GuestState, type RunResult, type Workspace } from "./app.js";
import { ownerChannel } from "./owner.js";
import { mountPanels, type MountedPanels } from "./panels.js";
import { prefs, type PanelLayout } from "./prefs.js";
import "./workspace.css";

export interface WorkspaceApi {
  readonly ready: Promise<void>;
  run(script: string, options?: { timeoutMs?: number }): Promise<RunResult>;
  readonly fileServer: FileServer | undefined;
  /** The guest's state, and the page's own ("busy": another tab owns the tree; "taken": it was taken over). */
  readonly state: GuestState | "busy" | "taken";
  restart(): Promise<void>;
  /** The image booted (name, title, base, tree, homeInTree); undefined until it is known. */
  readonly image: GuestImageDescriptor | undefined;
  /** A tree over a base image: drop every change made over it and reboot (then await `ready`); the panels start again. */
  reset(): Promise<void>;
  /** A tree over a base image: what was fetched of it, and its size; undefined otherwise. */
  baseStats(): Promise<BaseStats | undefined>;
}

declare global {
  interface Window {
    workspace?: WorkspaceApi;
  }
}

interface PageParams {
  /** undefined: the one opened last with this image, else the image's own tree. */
  tree: string | undefined;
  storage: StorageKind;
  fs: GuestFs;
  image: string | undefined;
  latencyMs: number;
  tick: TickMode | undefined;
  profile: boolean;
}

type LastTree = { name: string; storage: StorageKind; image?: string } | null;

function readParams(search: string, last: LastTree): PageParams {
  const q = new URLSearchParams(search);
  // Without ?tree= and ?storage=, the tree opened last (a page preference), if it was this image's:
  // a busybox home is no root file system, nor the other way round.
  const image = q.get("image") ?? undefined;
  const remembered = !q.has("tree") && !q.has("storage") && (image === undefined || image === (last?.image ?? "busybox")) ? last : null;
  const storage = q.get("storage") ?? remembered?.storage ?? "opfs";
  if (storage !== "opfs" && storage !== "indexeddb" && storage !== "memory") {
    throw new Error(`?storage=${storage}: use opfs, indexeddb or memory`);
  }
  const fs = q.get("fs") ?? "worker9p";
  if (fs !== "worker9p" && fs !== "builtin") throw new Error(`?fs=${fs}: use builtin (v86's own 9P) or leave it out`);
  const latencyMs = Number(q.get("latencyMs") ?? 0);
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new Error(`?latencyMs=${q.get("latencyMs")}: a number of milliseconds`);
  const tick = q.get("tick") ?? undefined;
  if (tick !== undefined && !TICK_MODES.includes(tick as TickMode)) throw new Error(`?tick=${tick}: use ${TICK_MODES.join(" or ")}`);
  return {
    tick: tick as TickMode | undefined,
    profile: q.get("profile") === "tick",
    tree: q.get("tree") || remembered?.name || undefined,
    storage,
    fs,
    // The remembered tree's image, when the URL names neither (the default may have changed since).
    image: image ?? (remembered ? (remembered.image ?? "busybox") : undefined),
    latencyMs,
  };
}

const STORAGE_NAMES: Record<StorageKind, string> = { opfs: "OPFS", indexeddb: "IndexedDB", memory: "memory" };

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]) {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
}

function layout(root: HTMLElement, p: PageParams & { tree: string }, image: GuestImageDescriptor) {
  const state = el("span", { className: "state", textContent: "starting" });
  const restart = el("button", { className: "restart", textContent: "Restart the guest", hidden: true });
  const where = p.fs === "builtin" ? "v86 built-in 9P (in memory, not kept)" : `${STORAGE_NAMES[p.storage]}`;
  const header = el(
    "header",
    {},
    el("span", { className: "brand", textContent: "worker9p" }),
    el(
      "span",
      { className: "tree", title: image.base ? `the tree is the guest's root file system: ${image.title}` : `the tree mounted at ${image.home}` },
      el("b", { textContent: p.tree }),
      ` · ${image.name} · ${where}`,
    ),
    el("span", { className: "spacer" }),
    restart,
    state,
  );
  const terminal = el("div", { className: "terminal" });
  const overlayText = el("div", { className: "overlay-text" });
  const overlayActions = el("div", { className: "overlay-actions" });
  const overlay = el("div", { className: "overlay" }, el("div", { className: "card" }, el("div", { className: "spinner" }), overlayText, overlayActions));
  const side = el("aside", { className: "side", hidden: true });
  const main = el("main", {}, el("section", { className: "console" }, terminal, overlay), side);
  const toasts = el("div", { className: "toasts" });
  toasts.setAttribute("aria-live", "polite");
  root.replaceChildren(header, main, toasts);
  let silenced = false;
  return {
    terminal,
    side,
    setLayout(layout: PanelLayout) {
      main.dataset.layout = layout;
    },
    notify(message: string, kind: "info" | "error" = "info") {
      if (silenced) return;
      const t = el("div", { className: `toast ${kind}`, textContent: message, title: "click to dismiss" });
      t.setAttribute("role", kind === "error" ? "alert" : "status");
      toasts.append(t);
      // Information fades after a while; an error stays until clicked.
      if (kind === "info") setTimeout(() => t.remove(), 6000);
      t.onclick = () => t.remove();
    },
    restart,
    /**
     * No more toasts, and none left: once the worker died, every session's end reports an error
     * (EIO, connection closed) that only repeats, less clearly, what the overlay says.
     */
    silence() {
      silenced = true;
      toasts.replaceChildren();
    },
    setState(text: string, kind: string) {
      state.textContent = text;
      state.dataset.kind = kind;
    },
    /** Cover the terminal with a message (busy: with spinner) and optional buttons; null hides it. */
    showOverlay(message: string | null, options: { busy?: boolean; kind?: string; actions?: [string, () => void][] } = {}) {
      overlay.hidden = message === null;
      overlay.dataset.kind = options.kind ?? "info";
      overlay.classList.toggle("busy", options.busy ?? false);
      overlayText.textContent = message ?? "";
      overlayActions.replaceChildren(
        ...(options.actions ?? []).map(([label, action]) => el("button", { textContent: label, onclick: action })),
      );
    },
  };
}

async function start(): Promise<void> {
  const root = document.getElementById("app")!;
  const saved = await prefs.all();
  let p: PageParams & { tree: string };
  let resolved: ResolvedImage;
  let image: GuestImageDescriptor;
  try {
    const params = readParams(location.search, saved.lastTree);
    resolved = await resolveGuestImage(params.image, location.href);
    image = resolved.descriptor;
    p = { ...params, image: image.name, tree: params.tree ?? image.tree };
  } catch (e) {
    root.textContent = String(e instanceof Error ? e.message : e);
    return;
  }
  document.title = `${p.tree} · worker9p workspace`;
  const ui = layout(root, p, image);
  ui.setLayout(saved.panelLayout);
  const owner = p.fs === "worker9p" && p.storage !== "memory" ? ownerChannel(p.storage, p.tree) : undefined;
  let ws: Workspace | undefined;
  let panels: MountedPanels | undefined;
  let pageState: WorkspaceApi["state"] = "loading";
  /** The workspace being opened or running (replaced by a take-over); rejects if it cannot start. */
  let opening: Promise<Workspace> = new Promise(() => {});

  const api: WorkspaceApi = {
    get ready() {
      return opening.then((w) => w.ready);
    },
    run: (script, options) => opening.then((w) => w.run(script, options)),
    get fileServer() {
      return ws?.fileServer;
    },
    get state() {
      return pageState === "busy" || pageState === "taken" ? pageState : (ws?.state ?? pageState);
    },
    restart: () => (ws ? ws.restart() : Promise.reject(new Error("the workspace is not running here"))),
    get image() {
      return ws?.image ?? image;
    },
    reset: () => resetTree(),
    baseStats: () => (ws ? ws.baseStats() : Promise.resolve(undefined)),
  };
  window.workspace = api;

  const onState = (state: GuestState, message: string, cause?: "worker-lost") => {
    pageState = state;
    if (cause === "worker-lost") return workerLost(message);
    ui.restart.hidden = !(state === "ready" || state === "failed" || state === "unresponsive");
    switch (state) {
      case "loading":
      case "booting":
        ui.setState(state === "loading" ? "loading" : "booting", "busy");
        ui.showOverlay(message, { busy: true });
        break;
      case "ready":
        ui.setState("running", "ok");
        ui.showOverlay(null);
        break;
      case "unresponsive":
        ui.setState("not answering", "bad");
        ui.showOverlay(`${message[0]!.toUpperCase()}${message.slice(1)}. Your files are safe: the tree is intact.`, {
          kind: "error",
          actions: [["Restart the guest", () => void ws?.restart()], ["Keep waiting", () => ui.showOverlay(null)]],
        });
        break;
      case "failed":
        ui.setState("stopped", "bad");
        ui.showOverlay(`${message}. Your files are safe: the tree is intact.`, { kind: "error", actions: [["Restart the guest", () => void ws?.restart()]] });
        break;
      case "stopped":
        ui.setState("stopped", "bad");
        break;
    }
  };

  const open = (wait: boolean) => {
    opening = openWorkspace(wait);
    opening.catch(() => {}); // reported in the page
  };
  const openWorkspace = async (wait: boolean): Promise<Workspace> => {
    ui.showOverlay(wait ? "Waiting for the other tab to let go of the tree…" : "Starting…", { busy: true });
    try {
      ws = await createWorkspace({
        element: ui.terminal,
        tree: p.tree,
        storage: p.storage,
        fs: p.fs,
        latencyMs: p.latencyMs,
        ...(p.tick ? { tick: p.tick } : {}),
        profile: p.profile,
        wait,
        fontSize: saved.terminalFontSize,
        image: resolved,
        onState,
      });
    } catch (e) {
      const err = e as Error;
      if (err?.name === TREE_BUSY) {
        pageState = "busy";
        ui.setState("in use", "bad");
        ui.showOverlay(
          `The tree "${p.tree}" (${STORAGE_NAMES[p.storage]}) is open in another tab. One tab at a time runs it, so its files stay consistent.`,
          { actions: [["Use it here instead", takeOver]] },
        );
        throw new Error(`the tree "${p.tree}" is open in another tab`);
      }
      pageState = "failed";
      ui.setState("failed", "bad");
      // A tree made without a base image (a busybox home) asked to be this image's root: offer the image it was made with.
      const plainTree = err?.name === "LayerMismatchError" && /without a base image/.test(err.message);
      const withBusybox = () => {
        const url = new URL(location.href);
        url.searchParams.set("image", "busybox");
        location.assign(url.href);
      };
      ui.showOverlay(`The workspace could not start: ${err?.message ?? String(e)}`, {
        kind: "error",
        actions: plainTree ? [["Open it with the busybox image", withBusybox]] : [["Try again", () => location.reload()]],
      });
      throw err;
    }
    pageState = ws.state;
    if (ws.fileServer) {
      if (p.storage !== "memory") void prefs.set("lastTree", { name: p.tree, storage: p.storage, image: image.name }).catch(() => {});
      ui.side.hidden = false;
      const shown = await showPanels(ws);
      if (!ws.lost) panels = shown;
      else {
        // The worker died while they opened: they make way for the news again.
        await shown.close();
        workerLost(ws.lost.message);
      }
    }
    return ws;
  };
  // The files panel opens at the user's home: /root of a root tree (the breadcrumbs go up to /).
  const showPanels = (w: Workspace) => mountPanels(ui.side, w.fileServer!, ui.notify, { startPath: w.image.homeInTree });

  /**
   * The workspace's worker died, and the guest and the tree's server with it: nothing here can be
   * restarted. The tree's lock went with the worker, so a reload opens it again, with every change
   * the tree had committed. The panels' sessions ended with the server: they make way for the news.
   */
  const workerLost = (message: string) => {
    ui.silence();
    ui.restart.hidden = true;
    ui.setState("stopped", "bad");
    ui.showOverlay(`${message}. Changes the tree had saved are kept.`, { kind: "error", actions: [["Reload the page", () => location.reload()]] });
    const closing = panels?.close(); // it empties the side when done
    panels = undefined;
    const why = () => ui.side.replaceChildren(el("div", { className: "panel lost", textContent: "The files panel worked through the workspace's worker, which stopped. Reload the page to see your files again." }));
    why();
    void closing?.finally(why);
  };

  /** The page's reset (window.workspace.reset): the panels' sessions end with the layer, so they start again. */
  const resetTree = async (): Promise<void> => {
    const w = await opening;
    await panels?.close();
    panels = undefined;
    try {
      await w.reset();
    } finally {
      if (ws === w && w.fileServer && !w.lost) panels = await showPanels(w);
    }
  };

  const takeOver = () => {
    owner?.requestTakeOver();
    open(true);
  };

  owner?.onTakeOver(() => {
    const old = ws;
    if (!old) return; // not the owner: nothing to hand over
    ws = undefined;
    pageState = "taken";
    ui.restart.hidden = true;
    ui.setState("moved", "bad");
    ui.showOverlay(`The tree "${p.tree}" is now open in another tab, so this tab stopped its guest (one tab at a time runs a tree).`, {
      actions: [["Take it back", takeOver]],
    });
    opening = Promise.reject(new Error(`the tree "${p.tree}" was taken over by another tab`));
    opening.catch(() => {});
    void panels?.close();
    panels = undefined;
    ui.side.hidden = true;
    void old.close();
  });

  ui.restart.onclick = () => void ws?.restart();
  // The status panel changes preferences; the shell applies those it owns at once.
  window.addEventListener("worker9p-prefs", (ev) => {
    const { key, value } = (ev as CustomEvent<{ key: string; value: unknown }>).detail;
    if (key === "terminalFontSize" && typeof value === "number") ws?.terminal.setFontSize(value);
    if (key === "panelLayout") ui.setLayout(value as PanelLayout);
  });
  addEventListener("pagehide", () => void panels?.close());
  open(false);
}

void start();
