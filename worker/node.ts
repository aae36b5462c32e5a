// worker9p in a Node worker thread: an in-memory tree (MemoryStore + FileSystem) served by
// a 9P Server over the MessagePort handed in workerData.port (one whole 9P frame per message,
// ArrayBuffers transferred both ways). The host side is src/transport/handle9p.ts.
// With workerData.bell, every frame posted is followed by Atomics.add(bell[0], 1) + notify, so
// the host can block until a reply is on the port (handle9p's `wait`) instead of returning to
// its event loop.
//
// Start it with tsx so the .ts sources load:
//   new Worker(new URL("../worker/node.ts", import.meta.url),
//              { execArgv: ["--import", "tsx"], workerData: { port, ... }, transferList: [port] })
//
// workerData: { port: MessagePort; importDir?: string; latencyMs?: number; maxMsize?: number; trace?: boolean;
//               bell?: SharedArrayBuffer; baseImage?: { dir: string; cacheDir?: string; slow?: { aborts, paths } } }
// With baseImage, the tree is the user's layer (in memory) over that base image (a folder written by
// writeImage()), read lazily through the same fetch path a browser uses; fetched pieces are kept in
// cacheDir when given. baseImage.slow holds fetches of those base files' pieces until aborted, until
// `aborts` of them were (worker/slow-base.ts).
// The tree outlives a session, so one tree can serve several boots one after another (a "reload").
// Messages on parentPort:
//   worker → host  { type: "ready" }   tree built (importDir copied in), serving
//                  { type: "error", message }
//   host → worker  { type: "finish" }  end the 9P session, then reply
//                  { type: "finished", stats, fsck, base?, profile? }  (the session's server counters,
//                  the tree's fsck, with baseImage what was fetched since the worker started:
//                  BaseImage.stats and the image's stored bytes, with workerData.profile the boot
//                  profile's entries (bytes read, in first-use order))
//                  { type: "session", port }  serve a new session (a fresh Server) on this port → ready
//                  { type: "reset" }  base image only: drop the user's layer (the fetched base stays) → ready
//                  { type: "probe-start", intervalUs }  start worker/probe.ts's profile of this thread → ready
//                  { type: "probe-stop" }  → { type: "probed", result: WorkerProbeResult }

import { parentPort, workerData, type MessagePort } from "node:worker_threads";
import { FileSystem } from "../src/fs/filesystem.js";
import { STUCK_MS } from "../src/fs/latency.js";
import { Server } from "../src/server/server.js";
import { MemoryStore } from "../src/storage/memory.js";
import type { Store } from "../src/storage/store.js";
import { DirImageCache } from "../src/storage/image/cache-node.js";
import { fileFetch, imageDirUrl } from "../src/storage/image/file-fetch.js";
import { BaseImage } from "../src/storage/image/reader.js";
import { LayeredStore } from "../src/storage/layered/layered-store.js";
import { serveMessagePort, type PortLike } from "../src/transport/messageport.js";
import { recordAccesses, type AccessProfile } from "./access-profile.js";
import { importTree } from "./import-tree.js";
import { slowBaseFetch } from "./slow-base.js";
import { WorkerProbe } from "./probe.js";

interface WorkerOptions {
  port: MessagePort;
  importDir?: string;
  latencyMs?: number;
  maxMsize?: number;
  /** Record the order of first content access by path (worker/access-profile.ts). */
  profile?: boolean;
  /** Print the server's per-request trace on stderr. */
  trace?: boolean;
  /** An Int32Array's buffer: element 0 is bumped (and notified) after every frame posted on `port`. */
  bell?: SharedArrayBuffer;
  /** Serve this base image (a writeImage() folder) under an in-memory user's layer. */
  baseImage?: { dir: string; cacheDir?: string; slow?: { aborts: number; paths: string[] } };
}

async function openImage(opts: NonNullable<WorkerOptions["baseImage"]>): Promise<BaseImage> {
  const slow = opts.slow ? slowBaseFetch(fileFetch, opts.slow.aborts) : undefined;
  const image = await BaseImage.open(imageDirUrl(opts.dir), {
    fetch: slow?.fetch ?? fileFetch,
    // A held fetch ends by its abort, not by the reader's request timeout (a clock).
    ...(slow ? { requestTimeoutMs: STUCK_MS } : {}),
    ...(opts.cacheDir ? { cache: new DirImageCache(opts.cacheDir) } : {}),
  });
  slow?.hold(image.index, image.manifest, opts.slow!.paths);
  return image;
}

/** A fresh tree: the user's layer (in memory) over the base image, or a plain memory store. */
async function openStore(image: BaseImage | undefined): Promise<Store> {
  const upper = new MemoryStore();
  return image ? LayeredStore.open(upper, image) : upper;
}

async function main(): Promise<void> {
  if (!parentPort) throw new Error("worker/node.ts must run in a worker thread");
  const control = parentPort;
  const opts = workerData as WorkerOptions;
  const image = opts.baseImage ? await openImage(opts.baseImage) : undefined;
  let store = await openStore(image);
  let fs = await FileSystem.open(store, { latencyMs: opts.latencyMs ?? 0 });
  if (opts.importDir) {
    await importTree(fs, opts.importDir, fs.rootIno, { signal: new AbortController().signal, name: "" });
  }
  let profile: AccessProfile | undefined;
  const probe = new WorkerProbe();
  const serve = (port: PortLike) => {
    profile = opts.profile ? recordAccesses(fs) : undefined;
    const server = new Server(profile?.fs ?? fs, {
      ...(opts.maxMsize ? { maxMsize: opts.maxMsize } : {}),
      ...(opts.trace ? { trace: (line: string) => process.stderr.write(`9p: ${line}\n`) } : {}),
    });
    const served = serveMessagePort(server, withBell(probe.wrap(port), opts.bell), {
      onProtocolError: (reason) => console.error(`worker9p worker: protocol error: ${reason}`),
    });
    return { server, served };
  };
  let session: ReturnType<typeof serve> | undefined = serve(opts.port as unknown as PortLike);

  const handle = async (msg: { type: string; port?: MessagePort; intervalUs?: number }): Promise<void> => {
    if (msg.type === "finish") {
      if (!session) throw new Error("no session to finish");
      const stats = session.server.stats();
      session.served.close();
      session = undefined;
      // Closing the session clunks its fids; let the releases of unlinked-but-open files finish.
      let fsck = await fs.fsck();
      for (let i = 0; i < 20 && !fsck.ok; i++) {
        await new Promise((r) => setTimeout(r, 25));
        fsck = await fs.fsck();
      }
      control.postMessage({
        type: "finished",
        stats,
        fsck,
        ...(image ? { base: { ...image.stats, imageBytes: image.manifest.storedBytes } } : {}),
        ...(profile ? { profile: profile.entries() } : {}),
      });
    } else if (msg.type === "session" && msg.port) {
      if (session) throw new Error("a session is still being served: finish it first");
      session = serve(msg.port as unknown as PortLike);
      control.postMessage({ type: "ready" });
    } else if (msg.type === "reset") {
      if (!image) throw new Error("reset needs a tree over a base image");
      if (session) throw new Error("a session is still being served: finish it first");
      await store.close();
      store = await openStore(image);
      fs = await FileSystem.open(store, { latencyMs: opts.latencyMs ?? 0 });
      control.postMessage({ type: "ready" });
    } else if (msg.type === "probe-start") {
      await probe.start(msg.intervalUs ?? 250);
      control.postMessage({ type: "ready" });
    } else if (msg.type === "probe-stop") {
      control.postMessage({ type: "probed", result: await probe.stop() });
    }
  };
  // One message at a time, so the replies come in the order the host asked (it pairs them by order).
  let handled = Promise.resolve();
  control.on("message", (msg: { type: string; port?: MessagePort; intervalUs?: number }) => {
    handled = handled.then(() => handle(msg)).catch((err: unknown) => control.postMessage({ type: "error", message: errorText(err) }));
  });
  control.postMessage({ type: "ready" });
}

/** `port`, ringing `bell` after each message posted on it. */
function withBell(port: PortLike, bell: SharedArrayBuffer | undefined): PortLike {
  if (!bell) return port;
  const counter = new Int32Array(bell);
  return {
    postMessage(message, transfer) {
      port.postMessage(message, transfer);
      Atomics.add(counter, 0, 1);
      Atomics.notify(counter, 0);
    },
    addEventListener: (type, listener) => port.addEventListener(type, listener),
    removeEventListener: (type, listener) => port.removeEventListener(type, listener),
    start: () => port.start?.(),
    close: () => port.close(),
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

main().catch((err: unknown) => {
  parentPort?.postMessage({ type: "error", message: errorText(err) });
});
