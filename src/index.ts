/**
 * worker9p's page API: a 9P2000.L file server in a dedicated Web Worker, its
 * tree kept in OPFS, IndexedDB or memory.
 *
 *   const server = await createFileServer({ storage: "opfs", name: "home" });
 *   const port = server.connect();                       // a raw 9P session
 *   new V86({ filesystem: { handle9p: server.handle9p } }); // or hand it to v86
 */
import * as Comlink from "comlink";
import type { FsckReport } from "./fs/types.js";
import type { BaseStats, ServerStats, StorageKind, WorkerControl } from "./host/protocol.js";
import type { StoreUsage } from "./storage/store.js";
import { createHandle9p, endedHandle9p, type Handle9p } from "./transport/handle9p.js";
import { PORT_CLOSED } from "./transport/messageport.js";
import { lifeLockName, watchLifeLock, WorkerLife } from "./storage/worker-life.js";

export type { BaseStats, StorageKind, ServerStats } from "./host/protocol.js";
export type { FsckReport } from "./fs/types.js";
export type { StoreUsage } from "./storage/store.js";
export { Client, type ClientTransport } from "./client/client.js";
export { portTransport } from "./client/transports.js";
export { createHandle9p, type Handle9p } from "./transport/handle9p.js";
export { Server, type ServerOptions } from "./server/server.js";
export { FileSystem } from "./fs/filesystem.js";
export { MemoryStore } from "./storage/memory.js";
export { serveMessagePort } from "./transport/messageport.js";
export { Errno, FsError } from "./protocol/errno.js";
/** Names are bytes: show them with displayName; convert raw bytes (tar headers) with nameFromBytes / nameToBytes. */
export { displayName, nameFromBytes, nameToBytes } from "./protocol/name-bytes.js";

export interface FileServerOptions {
  /** Where the tree lives. */
  storage: StorageKind;
  /** Which tree (several may coexist, one owner each). Default "default". */
  name?: string;
  /** Test hook: reads and writes of files named `slow*` wait this long first, abortably. */
  latencyMs?: number;
  /** If another tab owns the tree, wait for it instead of failing at once. */
  wait?: boolean;
  /** Largest msize agreed with a client (default 1 MiB; v86's virtio caps at 512000 anyway). */
  maxMsize?: number;
  /** Memory storage only: size limit in bytes (default 2 GiB). */
  quotaBytes?: number;
  /** Log every 9P request and reply in the worker's console. */
  debug?: boolean;
  /** A worker you built yourself from worker9p's `worker/browser.ts` (default: the bundled one). */
  worker?: Worker;
  /**
   * Serve a read-only base image (a folder written by writeImage(), e.g. the
   * Debian root) with this tree as the user's copy-on-write layer over it.
   * `url` may be relative to the page. The base is fetched lazily and cached
   * in IndexedDB; the user's layer wins over any later base image.
   */
  base?: { url: string };
}

export interface FileServerControl {
  stats(): Promise<ServerStats>;
  fsck(): Promise<FsckReport>;
  usage(): Promise<StoreUsage>;
  /** Ask the browser to exempt this origin's storage from eviction (navigator.storage.persist()). */
  persist(): Promise<boolean>;
  /** With a base image: how much of it was fetched, and how big it is. */
  baseStats(): Promise<BaseStats | undefined>;
  /** With a base image: drop every change made over it (the user's layer); the cached base stays. Open sessions end; one connect()ed while it runs is a session of the reset tree. */
  reset(): Promise<void>;
}

/**
 * A tree served by a worker. Should the worker die (terminated, crashed, out of memory), its sessions
 * end as if the server had closed them (a Client rejects, v86's hook answers EIO), and `control`
 * calls and connect() fail with an error naming the tree; the tree can be opened again.
 */
export interface FileServer {
  readonly storage: StorageKind;
  readonly name: string;
  /**
   * A fresh 9P session: each message either way is a (transferred) ArrayBuffer that starts with one
   * whole 9P frame, maybe followed by slack the server sends only to a client that asked for it
   * (the wire rule: transport/messageport.ts; portTransport asks, and recycles the buffers).
   */
  connect(): MessagePort;
  /**
   * v86's `filesystem.handle9p` hook, bound to one session of this server. As v86 does, a caller
   * must copy the reply out inside its reply callback: the buffer is reused once the callback returns.
   */
  readonly handle9p: Handle9p;
  readonly control: FileServerControl;
  /** End every session, close the tree, release it to other tabs, and stop the worker. */
  close(): Promise<void>;
}

export async function createFileServer(options: FileServerOptions): Promise<FileServer> {
  const name = options.name ?? "default";
  const worker = options.worker ?? new Worker(new URL("../worker/browser.ts", import.meta.url), { type: "module", name: `worker9p:${name}` });
  const remote = Comlink.wrap<WorkerControl>(worker);
  const life = watchWorker(worker, remote, name);
  try {
    // First the lock that tells the worker's death (the page asks for it only once the worker holds it).
    // A worker that cannot hold it (no Web Locks; built from an older worker/browser.ts) goes unwatched.
    const lockName = lifeLockName(name);
    if (await life.call(() => remote.holdLifeLock(lockName).catch(() => false))) watchLifeLock(lockName, () => life.end("ended (terminated, crashed or out of memory)"), life.signal);
    await life.call(() =>
      remote.open({
        storage: options.storage,
        name,
        latencyMs: options.latencyMs ?? 0,
        wait: options.wait ?? false,
        debug: options.debug ?? false,
        ...(options.maxMsize !== undefined ? { maxMsize: options.maxMsize } : {}),
        ...(options.quotaBytes !== undefined ? { quotaBytes: options.quotaBytes } : {}),
        ...(options.base ? { base: { url: new URL(options.base.url, globalThis.location?.href).href } } : {}),
      }),
    );
    life.opened = true;
  } catch (e) {
    life.stop();
    throw e;
  }

  let closed = false;
  const connect = (): MessagePort => {
    if (life.lost) throw life.lost;
    if (closed) throw new Error(`worker9p: the file server of tree "${name}" is closed; createFileServer() again to reopen it`);
    const { port1, port2 } = new MessageChannel();
    life.track(port1);
    void remote.connect(Comlink.transfer(port2, [port2]));
    return port1;
  };

  let v86Hook: Handle9p | undefined;
  const handle9p: Handle9p = (req, reply) => {
    // Pending requests of the hook's session get EIO from its port (PORT_CLOSED); later ones here.
    if (closed || life.lost) return endedHandle9p(req, reply);
    v86Hook ??= createHandle9p(connect(), { recycle: true });
    v86Hook(req, reply);
  };

  return {
    storage: options.storage,
    name,
    connect,
    handle9p,
    control: {
      stats: () => life.call(() => remote.stats()),
      fsck: () => life.call(() => remote.fsck()),
      usage: () => life.call(() => remote.usage()),
      baseStats: () => life.call(() => remote.baseStats()),
      reset: async () => {
        v86Hook = undefined;
        await life.call(() => remote.reset());
      },
      persist: async () => (typeof navigator !== "undefined" && navigator.storage?.persist ? navigator.storage.persist() : false),
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        // A worker that died meanwhile let go of the tree with its context: closed all the same.
        await life.call(() => remote.close()).catch((e: unknown) => {
          if (e !== life.lost) throw e;
        });
      } finally {
        life.stop();
      }
    },
  };
}

/**
 * The page's view of a tree's worker, which may die without a word (terminated, crashed, out of
 * memory): a Comlink call or a 9P request to it would then wait forever. When it dies (its life
 * lock is granted to the page, storage/worker-life.ts) or fails to start (its `error` event before
 * open() answered), every call made through `call` rejects with `lost`, and every port handed out
 * gets PORT_CLOSED as if the server had sent it: clients reject their requests, and v86's hook
 * answers pending and later ones with EIO (transport/handle9p.ts). An `error` event once the tree
 * is open is an uncaught exception in the worker, which goes on serving: it is only logged.
 */
function watchWorker(worker: Worker, remote: Comlink.Remote<WorkerControl>, name: string) {
  const ports = new Set<MessagePort>();
  let stopped = false;
  const base = new WorkerLife();
  const life = {
    opened: false,
    get lost() {
      return base.lost;
    },
    signal: base.signal,
    call<T>(f: () => Promise<T>): Promise<T> {
      if (stopped && !base.lost) return Promise.reject(new Error(`worker9p: the file server of tree "${name}" is closed; createFileServer() again to reopen it`));
      return base.call(f);
    },
    /**
     * A port of this worker's server, ended with it; forgotten once either end closes its session.
     * The server's PORT_CLOSED never reaches a port its holder closed (Client.close does): so close() too.
     */
    track(port: MessagePort) {
      ports.add(port);
      const forget = () => ports.delete(port);
      port.addEventListener("message", (ev) => {
        if (ev.data === PORT_CLOSED) forget();
      });
      const close = port.close.bind(port);
      port.close = () => {
        forget();
        close();
      };
    },
    end(why: string) {
      const over = life.opened ? "its sessions are over (v86 gets EIO); createFileServer() again to reopen the tree" : "the tree was not opened";
      if (!base.end(new Error(`worker9p: the worker serving tree "${name}" ${why}; ${over}`))) return;
      life.stop();
      for (const port of ports) endPort(port);
      ports.clear();
    },
    /** The page ends the worker (close, or a failed open): stop watching, let it go. */
    stop() {
      if (stopped) return;
      stopped = true;
      base.stop();
      worker.removeEventListener("error", onError);
      remote[Comlink.releaseProxy]();
      worker.terminate();
    },
  };
  const onError = (ev: ErrorEvent | Event) => {
    const what = ev instanceof ErrorEvent && ev.message ? ev.message : "the worker's script did not load";
    if (life.opened) console.error(`worker9p: uncaught error in the worker serving tree "${name}": ${what}`);
    else life.end(`failed to start (${what})`);
  };
  worker.addEventListener("error", onError);
  return life;
}

/**
 * PORT_CLOSED on a port whose worker died, as if its server had sent it. A server's message waits
 * in the port's queue until someone listens; the page cannot post into the port (its other end
 * died with the worker), so it dispatches the message to the listeners there are, and hands it to
 * every message listener or onmessage handler added later (a port connect()ed, then listened to
 * once the worker had died, would otherwise wait forever). Then the port is closed.
 */
function endPort(port: MessagePort): void {
  const closedEvent = () => new MessageEvent("message", { data: PORT_CLOSED });
  port.dispatchEvent(closedEvent());
  port.close();
  const add = port.addEventListener.bind(port);
  port.addEventListener = ((type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions) => {
    if (!listener) return;
    add(type, listener, options);
    if (type !== "message") return;
    queueMicrotask(() => (typeof listener === "function" ? listener.call(port, closedEvent()) : listener.handleEvent(closedEvent())));
  }) as MessagePort["addEventListener"];
  let handler = port.onmessage;
  Object.defineProperty(port, "onmessage", {
    configurable: true,
    get: () => handler,
    set(h: MessagePort["onmessage"]) {
      handler = h;
      if (h) queueMicrotask(() => h.call(port, closedEvent()));
    },
  });
}

/** Trees kept in this origin's IndexedDB and OPFS (memory trees vanish with their worker). */
export async function listTrees(): Promise<{ storage: Exclude<StorageKind, "memory">; name: string }[]> {
  if (typeof indexedDB === "undefined" || !indexedDB.databases) return [];
  const out: { storage: Exclude<StorageKind, "memory">; name: string }[] = [];
  for (const db of await indexedDB.databases()) {
    const m = /^worker9p-(idb|opfs):(.*)$/.exec(db.name ?? "");
    if (m) out.push({ storage: m[1] === "idb" ? "indexeddb" : "opfs", name: m[2]! });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.storage.localeCompare(b.storage));
}
