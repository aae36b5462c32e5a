/**
 * A page with the files panel and the status panel on a tree of their own, for
 * the panels' browser tests and for working on them without the emulator:
 * /e2e/workspace/panels-dev.html?tree=NAME&storage=opfs|indexeddb|memory&quotaBytes=N
 *
 * window.panelsDev gives tests a second 9P session of the same tree (standing in
 * for the guest) and the messages the panels showed.
 */
import { Client, createFileServer, portTransport, type FileServer, type StorageKind } from "../../src/index.js";
import { createFilesPanel } from "../../src/workspace/files/index.js";
import type { Panel, PanelContext } from "../../src/workspace/panel.js";
import { mountStatusPanel } from "../../src/workspace/status/index.js";
import { mountPanelTabs } from "../../src/workspace/panel-tabs.js";

export interface PanelsDev {
  ready: Promise<void>;
  fileServer?: FileServer;
  notices: { message: string; kind: "info" | "error" }[];
  /** Another session of the tree, as the guest would have. */
  other?: Client;
  readText(path: string): Promise<string>;
  writeText(path: string, text: string): Promise<void>;
  list(path: string): Promise<string[]>;
  panels: Panel[];
  /** From now on the panels' requests are held, never sent (a tree too busy to answer). */
  holdPanelRequests(): void;
  /** Requests held so far, per panel client in the order the panels opened them (the files panel's first). */
  heldPanelRequests(): number[];
}

declare global {
  interface Window {
    panelsDev: PanelsDev;
  }
}

const params = new URLSearchParams(location.search);
const storage = (params.get("storage") ?? "memory") as StorageKind;
const tree = params.get("tree") ?? "panels";
const quota = params.get("quotaBytes");
const pollMs = params.get("pollMs");

let holding = false;
const heldByClient: Uint8Array[][] = [];

const dev: PanelsDev = {
  ready: Promise.resolve(),
  notices: [],
  panels: [],
  async readText(path) {
    return new TextDecoder().decode(await dev.other!.readFile(path));
  },
  async writeText(path, text) {
    await dev.other!.writeFile(path, text);
  },
  async list(path) {
    return (await dev.other!.readdir(path)).map((e) => e.name).filter((n) => n !== "." && n !== "..").sort();
  },
  holdPanelRequests() {
    holding = true;
  },
  heldPanelRequests: () => heldByClient.map((held) => held.length),
};
window.panelsDev = dev;

function toast(message: string, kind: "info" | "error" = "info"): void {
  dev.notices.push({ message, kind });
  const el = document.createElement("div");
  el.className = `toast ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  el.textContent = message;
  document.getElementById("toasts")!.append(el);
}

dev.ready = (async () => {
  const server = await createFileServer({ storage, name: tree, ...(quota ? { quotaBytes: Number(quota) } : {}) });
  dev.fileServer = server;
  dev.other = await Client.connect(portTransport(server.connect()));
  document.getElementById("what")!.textContent = `tree "${tree}" on ${storage}`;
  let leave!: () => void;
  const closing = new Promise<void>((r) => (leave = r));
  addEventListener("pagehide", () => leave());
  const context: PanelContext = {
    fileServer: server,
    openClient: async () => {
      const transport = portTransport(server.connect());
      const held: Uint8Array[] = [];
      heldByClient.push(held);
      const send = transport.send.bind(transport);
      transport.send = (frame) => void (holding ? held.push(frame) : send(frame));
      return Client.connect(transport);
    },
    notify: toast,
    closing,
  };
  if (params.get("layout") === "tabs") {
    // As the shell hosts them: one sidebar, a tab per panel.
    const main = document.querySelector("main")!;
    main.style.gridTemplateColumns = "1fr 560px";
    document.getElementById("files")!.textContent = "";
    dev.panels.push(await mountPanelTabs(document.getElementById("status")!, context));
    return;
  }
  dev.panels.push(await createFilesPanel(pollMs !== null ? { pollMs: Number(pollMs) } : {})(document.getElementById("files")!, context));
  dev.panels.push(await mountStatusPanel(document.getElementById("status")!, context));
})();
