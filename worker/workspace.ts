// The workspace worker: one tree served by worker9p AND the emulator that mounts it, side by side
// (src/workspace/guest/host.ts says why they share a worker). Its Comlink API is createFileServer's
// WorkerControl (so the page's FileServer is this worker) plus the guest's controls.
import * as Comlink from "comlink";
import { treeControl } from "../src/host/tree-host.js";
import { WorkspaceHost } from "../src/workspace/guest/host.js";
import type { WorkspaceWorkerControl } from "../src/workspace/protocol.js";

const host = new WorkspaceHost();
const tree = treeControl(() => host.tree, (t) => (host.tree = t));

const control: WorkspaceWorkerControl = {
  ...tree,
  async close() {
    await host.shutdown();
  },
  // The guest must not keep a session of the tree it is reset under: stop it, reset, boot again.
  reset: () => host.resetTree(),
  boot: (req, events) => host.start(req, events),
  input: (data) => host.input(data),
  resize: (rows, cols) => host.resize(rows, cols),
  run: (script, timeoutMs) => host.run(script, timeoutMs),
  restart: () => host.restart(),
  shutdown: () => host.shutdown(),
};

Comlink.expose(control);
