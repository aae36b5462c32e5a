// The panels beside the terminal: files (browse, upload, import/export) and status (storage,
// usage, fsck, trees, preferences), each on its own 9P session of the tree (src/workspace/panel.ts).
import { Client, portTransport, type FileServer } from "../index.js";
import { mountFilesPanel } from "./files/index.js";
import type { Panel, PanelContext } from "./panel.js";
import { mountStatusPanel } from "./status/index.js";

export interface MountedPanels {
  /** Dispose the panels (their sessions end); resolves their `closing`. */
  close(): Promise<void>;
}

export async function mountPanels(side: HTMLElement, fileServer: FileServer, notify: PanelContext["notify"]): Promise<MountedPanels> {
  let leave!: () => void;
  const closing = new Promise<void>((r) => (leave = r));
  const context: PanelContext = {
    fileServer,
    openClient: async () => Client.connect(portTransport(fileServer.connect())),
    notify,
    closing,
  };
  const files = document.createElement("div");
  files.className = "panel files";
  const status = document.createElement("div");
  status.className = "panel status";
  side.replaceChildren(files, status);
  const mounted: Panel[] = [];
  for (const [element, mount] of [[files, mountFilesPanel], [status, mountStatusPanel]] as const) {
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
