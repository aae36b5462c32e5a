// The panels beside the terminal: files (browse, upload, import/export) and status (storage,
// usage, fsck, trees, preferences), each on its own 9P session of the tree (src/workspace/panel.ts).
import { Client, portTransport, type FileServer } from "../index.js";
import { createFilesPanel, type FilesPanelOptions } from "./files/index.js";
import type { Panel, PanelContext } from "./panel.js";
import { mountStatusPanel } from "./status/index.js";

export interface MountedPanels {
  /** Dispose the panels (their sessions end); resolves their `closing`. */
  close(): Promise<void>;
}

export async function mountPanels(
  side: HTMLElement,
  fileServer: FileServer,
  notify: PanelContext["notify"],
  files: FilesPanelOptions = {},
): Promise<MountedPanels> {
  let leave!: () => void;
  const closing = new Promise<void>((r) => (leave = r));
  const context: PanelContext = {
    fileServer,
    openClient: async () => Client.connect(portTransport(fileServer.connect())),
    notify,
    closing,
  };
  const filesEl = document.createElement("div");
  filesEl.className = "panel files";
  const status = document.createElement("div");
  status.className = "panel status";
  side.replaceChildren(filesEl, status);
  const mounted: Panel[] = [];
  for (const [element, mount] of [[filesEl, createFilesPanel(files)], [status, mountStatusPanel]] as const) {
    try {
      mounted.push(await mount(element, context));
    } catch (e) {
      notify(`a panel could not start: ${e instanceof Error ? e.message : String(e)}`, "error");
    }
  }
  let closed = false;
  return {
    async close() {
      if (closed) return;
      closed = true;
      leave();
      await Promise.allSettled(mounted.map((p) => p.dispose()));
      side.replaceChildren();
    },
  };
}
