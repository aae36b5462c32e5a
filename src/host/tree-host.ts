// One tree opened by a worker: its Web Lock, store, file system and 9P server. Shared by the
// plain file-server worker (worker/browser.ts) and the workspace worker (worker/workspace.ts),
// so both keep a tree to one owner and serve it the same way.
import { FileSystem } from "../fs/filesystem.js";
import { Server } from "../server/server.js";
import { IdbImageCache } from "../storage/image/cache-idb.js";
import { BaseImage } from "../storage/image/reader.js";
import { IndexedDBStore } from "../storage/indexeddb.js";
import { assertNotALayer, LayeredStore } from "../storage/layered/layered-store.js";
import { MemoryStore } from "../storage/memory.js";
import { OpfsStore } from "../storage/opfs.js";
import type { Store } from "../storage/store.js";
import { holdLifeLock } from "../storage/worker-life.js";
import { PORT_CLOSED, serveMessagePort, type PortLike, type PortSession } from "../transport/messageport.js";
import type { BaseStats, OpenRequest, ServerStats, WorkerControl } from "./protocol.js";

/** The message a second owner gets; the workspace page recognizes it by TreeBusyError's name. */
export class TreeBusyError extends Error {
  override name = "TreeBusyError";
}

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
    throw new TreeBusyError(`tree "${name}" is already open elsewhere (another tab or worker owns it); pass { wait: true } to wait for it`);
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
async function openLayers(req: OpenRequest, base: BaseImage | undefined): Promise<Store> {
  const store = await openStore(req);
  if (base) return LayeredStore.open(store, base);
  try {
    await assertNotALayer(store);
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}

async function destroyStore(req: OpenRequest): Promise<void> {
  if (req.storage === "indexeddb") await IndexedDBStore.destroy(req.name);
  if (req.storage === "opfs") await OpfsStore.destroy(req.name);
}

function serve(req: OpenRequest, fs: FileSystem): Server {
  return new Server(fs, {
    ...(req.maxMsize !== undefined ? { maxMsize: req.maxMsize } : {}),
    ...(req.debug ? { trace: (line: string) => console.debug(line) } : {}),
  });
}

export interface OpenTree {
  readonly req: OpenRequest;
  /** These three change on reset(): take them afresh each time. */
  readonly store: Store;
  readonly fs: FileSystem;
  readonly server: Server;
  readonly openMs: number;
  readonly base: BaseImage | undefined;
  /** Serve a 9P session on a (transferred) MessagePort. */
  connect(port: PortLike): void;
  stats(): ServerStats;
  baseStats(): BaseStats | undefined;
  /** With a base image: drop the user's layer and serve the base as it is. Every session ends. */
  reset(): Promise<void>;
  /** Settles once no reset() runs: `store`, `fs` and `server` are then the reset tree's, not closed ones. */
  settled(): Promise<void>;
  /** End every session, close the store, release the lock. */
  close(): Promise<void>;
}

export async function openTree(req: OpenRequest): Promise<OpenTree> {
  const t0 = performance.now();
  const releaseLock = await acquireTreeLock(`${req.storage}:${req.name}`, req.wait);
  try {
    const base = req.base ? await BaseImage.open(req.base.url, { cache: await IdbImageCache.open() }) : undefined;
    let store = await openLayers(req, base);
    let fs = await FileSystem.open(store, { latencyMs: req.latencyMs });
    let server = serve(req, fs);
    const openMs = performance.now() - t0;
    const ports = new Set<PortSession>();
    let closed = false;
    /**
     * reset() in progress. Comlink runs the next call while it awaits, so a connect() (v86's hook
     * reconnects as soon as its session ends) would land on the server it just closed, over the
     * dropped layer's store, and answer EIO for good: it waits for the reset tree instead.
     */
    let resetting: Promise<void> | undefined;
    const settled = async () => {
      while (resetting) await resetting;
    };
    const serveOn = (port: PortLike) => {
      if (closed) {
        // The tree closed meanwhile: the client sees its session end, not silence.
        port.postMessage(PORT_CLOSED, []);
        port.close();
        return;
      }
      const ps = serveMessagePort(server, port, {
        onProtocolError: (reason) => console.warn(`worker9p: session closed: ${reason}`),
        onClose: () => ports.delete(ps),
      });
      ports.add(ps);
    };
    return {
      req,
      get store() {
        return store;
      },
      get fs() {
        return fs;
      },
      get server() {
        return server;
      },
      openMs,
      base,
      connect(port) {
        if (resetting) void resetting.then(() => serveOn(port));
        else serveOn(port);
      },
      stats: () => ({
        storage: req.storage,
        name: req.name,
        chunkSize: store.chunkSize,
        sessions: server.sessionCount,
        requests: server.stats(),
        openMs,
      }),
      baseStats: () => (base ? { ...base.stats, imageBytes: base.manifest.storedBytes } : undefined),
      async reset() {
        if (!base) throw new Error("reset needs a tree over a base image: without one, delete the tree instead");
        if (closed) throw new Error(`tree "${req.name}" is closed`);
        if (resetting) return resetting;
        const run = async () => {
          for (const p of ports) p.close();
          ports.clear();
          server.close();
          await store.close();
          await destroyStore(req);
          store = await openLayers(req, base);
          fs = await FileSystem.open(store, { latencyMs: req.latencyMs });
          server = serve(req, fs);
        };
        // Settled (never rejected) for those waiting on it: after a failed reset they get what is left.
        const p = run();
        resetting = p.then(
          () => {},
          () => {},
        );
        try {
          await p;
        } finally {
          resetting = undefined;
        }
      },
      settled,
      async close() {
        if (closed) return;
        // Not under a reset still opening the new store: it would stay open, the lock released.
        await settled();
        closed = true;
        for (const p of ports) p.close();
        server.close();
        try {
          await store.close();
        } finally {
          releaseLock();
        }
      },
    };
  } catch (e) {
    releaseLock();
    throw e;
  }
}

/** The WorkerControl of createFileServer() over whichever tree `current()` returns. */
export function treeControl(get: () => OpenTree | undefined, set: (t: OpenTree | undefined) => void): WorkerControl {
  const opened = () => {
    const t = get();
    if (!t) throw new Error("no tree is open in this worker");
    return t;
  };
  return {
    holdLifeLock,
    async open(req) {
      const cur = get();
      if (cur) throw new Error(`this worker already serves tree "${cur.req.name}"`);
      const t = await openTree(req);
      set(t);
      return { chunkSize: t.store.chunkSize, openMs: t.openMs };
    },
    connect: (port) => opened().connect(port),
    stats: () => opened().stats(),
    // Called while reset() runs, these would reach the store it closed.
    fsck: async () => {
      const t = opened();
      await t.settled();
      return t.fs.fsck();
    },
    usage: async () => {
      const t = opened();
      await t.settled();
      return t.store.usage();
    },
    baseStats: () => opened().baseStats(),
    reset: () => opened().reset(),
    async close() {
      const t = get();
      if (!t) return;
      set(undefined);
      await t.close();
    },
  };
}
