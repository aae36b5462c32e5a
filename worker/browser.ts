// The dedicated Web Worker behind createFileServer(): owns one tree (a Web
// Lock per name keeps it to one owner across tabs), serves 9P sessions on
// MessagePorts handed over by the page, and answers control calls via Comlink.
import * as Comlink from "comlink";
import { FileSystem } from "../src/fs/filesystem.js";
import type { BaseStats, OpenRequest, ServerStats, WorkerControl } from "../src/host/protocol.js";
import { IdbImageCache } from "../src/storage/image/cache-idb.js";
import { BaseImage } from "../src/storage/image/reader.js";
import { LayeredStore } from "../src/storage/layered/layered-store.js";
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
  base?: BaseImage;
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

/** The user's store, layered over the base image when there is one (opened once per worker, its cache shared). */
async function openTree(req: OpenRequest, base: BaseImage | undefined): Promise<Store> {
  const store = await openStore(req);
  return base ? LayeredStore.open(store, base) : store;
}

async function destroyStore(req: OpenRequest): Promise<void> {
  if (req.storage === "indexeddb") await IndexedDBStore.destroy(req.name);
  if (req.storage === "opfs") await OpfsStore.destroy(req.name);
}

function serve(req: OpenRequest, store: Store, fs: FileSystem): Server {
  return new Server(fs, {
    ...(req.maxMsize !== undefined ? { maxMsize: req.maxMsize } : {}),
    ...(req.debug ? { trace: (line: string) => console.debug(line) } : {}),
  });
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
      const base = req.base ? await BaseImage.open(req.base.url, { cache: await IdbImageCache.open() }) : undefined;
      const store = await openTree(req, base);
      const fs = await FileSystem.open(store, { latencyMs: req.latencyMs });
      const server = serve(req, store, fs);
      const openMs = performance.now() - t0;
      current = { req, store, fs, server, ports: new Set(), openMs, releaseLock, ...(base ? { base } : {}) };
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

  baseStats(): BaseStats | undefined {
    const base = opened().base;
    return base ? { ...base.stats, imageBytes: base.manifest.storedBytes } : undefined;
  },

  async reset() {
    const o = opened();
    if (!o.base) throw new Error("reset needs a tree over a base image: without one, delete the tree instead");
    for (const p of o.ports) p.close();
    o.ports.clear();
    o.server.close();
    await o.store.close();
    await destroyStore(o.req);
    o.store = await openTree(o.req, o.base);
    o.fs = await FileSystem.open(o.store, { latencyMs: o.req.latencyMs });
    o.server = serve(o.req, o.store, o.fs);
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
