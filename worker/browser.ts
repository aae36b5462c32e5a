// The dedicated Web Worker behind createFileServer(): owns one tree (a Web
// Lock per name keeps it to one owner across tabs), serves 9P sessions on
// MessagePorts handed over by the page, and answers control calls via Comlink.
import * as Comlink from "comlink";
import { FileSystem } from "../src/fs/filesystem.js";
import type { OpenRequest, ServerStats, WorkerControl } from "../src/host/protocol.js";
import { Server } from "../src/server/server.js";
import { IndexedDBStore } from "../src/storage/indexeddb.js";
import { MemoryStore } from "../src/storage/memory.js";
import { OpfsStore } from "../src/storage/opfs.js";
import type { Store } from "../src/storage/store.js";
import { serveMessagePort, type PortSession } from "../src/transport/messageport.js";

interface Open {
  req: OpenRequest;
  store: Store;
  fs: FileSystem;
  server: Server;
  ports: Set<PortSession>;
  openMs: number;
  releaseLock: () => void;
}

let current: Open | undefined;

/** Hold the tree's Web Lock until released; fails at once if another owner has it (unless asked to wait). */
async function acquireTreeLock(name: string, wait: boolean): Promise<() => void> {
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  if (!locks) return () => {};
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const acquired = new Promise<boolean>((resolve, reject) => {
    locks
      .request(`worker9p:${name}`, wait ? {} : { ifAvailable: true }, (lock) => {
        resolve(lock !== null);
        return lock ? held : undefined;
      })
      .catch(reject);
  });
  if (!(await acquired)) {
    throw new Error(`tree "${name}" is already open elsewhere (another tab or worker owns it); pass { wait: true } to wait for it`);
  }
  return release;
}

async function openStore(req: OpenRequest): Promise<Store> {
  switch (req.storage) {
    case "memory":
      return new MemoryStore(req.quotaBytes !== undefined ? { quotaBytes: req.quotaBytes } : {});
    case "indexeddb":
      return IndexedDBStore.open(req.name);
    case "opfs":
      return OpfsStore.open(req.name);
    default:
      throw new Error(`unknown storage ${JSON.stringify(req.storage)}: use "opfs", "indexeddb" or "memory"`);
  }
}

function opened(): Open {
  if (!current) throw new Error("no tree is open in this worker");
  return current;
}

const control: WorkerControl = {
  async open(req) {
    if (current) throw new Error(`this worker already serves tree "${current.req.name}"`);
    const t0 = performance.now();
    const releaseLock = await acquireTreeLock(`${req.storage}:${req.name}`, req.wait);
    try {
      const store = await openStore(req);
      const fs = await FileSystem.open(store, { latencyMs: req.latencyMs });
      const server = new Server(fs, {
        ...(req.maxMsize !== undefined ? { maxMsize: req.maxMsize } : {}),
        ...(req.debug ? { trace: (line: string) => console.debug(line) } : {}),
      });
      const openMs = performance.now() - t0;
      current = { req, store, fs, server, ports: new Set(), openMs, releaseLock };
      return { chunkSize: store.chunkSize, openMs };
    } catch (e) {
      releaseLock();
      throw e;
    }
  },

  connect(port) {
    const o = opened();
    const ps = serveMessagePort(o.server, port, {
      onProtocolError: (reason) => console.warn(`worker9p: session closed: ${reason}`),
    });
    o.ports.add(ps);
  },

  stats(): ServerStats {
    const o = opened();
    return {
      storage: o.req.storage,
      name: o.req.name,
      chunkSize: o.store.chunkSize,
      sessions: o.server.sessionCount,
      requests: o.server.stats(),
      openMs: o.openMs,
    };
  },

  fsck() {
    return opened().fs.fsck();
  },

  usage() {
    return opened().store.usage();
  },

  async close() {
    const o = current;
    if (!o) return;
    current = undefined;
    for (const p of o.ports) p.close();
    o.server.close();
    await o.store.close();
    o.releaseLock();
  },
};

Comlink.expose(control);
