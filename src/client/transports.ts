import net from "node:net";
import { FrameReader, FramingError } from "../transport/framing.js";
import { FramePool, frameAtStart } from "../transport/frame-pool.js";
import { asBytes, ownedBuffer, PORT_ACCEPTS_SLACK, PORT_CLOSED, type PortLike } from "../transport/messageport.js";
import type { ClientTransport } from "./client.js";

export { inProcessTransport } from "./in-process.js";

const noop = () => {};

/** A client over TCP (Node). */
export function tcpTransport(host: string, port: number): Promise<ClientTransport & { socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const reader = new FrameReader(64 * 1024 * 1024);
    let corked = false;
    // Requests made in one turn go out in one write(v).
    const batch = () => {
      if (corked) return;
      corked = true;
      socket.cork();
      queueMicrotask(() => {
        corked = false;
        socket.uncork();
      });
    };
    const t = {
      socket,
      onFrame: noop as (f: Uint8Array) => void,
      onClose: noop as (r?: string) => void,
      send(frame: Uint8Array) {
        batch();
        socket.write(frame);
      },
      sendParts(parts: Uint8Array[]) {
        // The head and the caller's data go out by writev, never joined into a copy.
        batch();
        for (const p of parts) socket.write(p);
      },
      close() {
        socket.destroy();
      },
    };
    socket.once("error", reject);
    socket.once("connect", () => {
      socket.off("error", reject);
      socket.on("error", () => socket.destroy());
      resolve(t);
    });
    socket.on("data", (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        if (!(e instanceof FramingError)) throw e;
        socket.destroy();
        t.onClose(e.message);
        return;
      }
      for (const f of frames) t.onFrame(f);
    });
    socket.on("close", () => t.onClose("connection closed"));
  });
}

/**
 * A client over a MessagePort (the wire rule: transport/messageport.ts). It
 * accepts slack (PORT_ACCEPTS_SLACK, sent first) and keeps a pool of frame
 * buffers (bounded as R4 says): requests are built in the buffers replies
 * came in, and go back with the replies (transport/frame-pool.ts, R1–R4).
 * `recycle: false`: exact frames in fresh buffers both ways, as before
 * recycling (benchmarks compare the two).
 */
export function portTransport(port: PortLike, options: { recycle?: boolean } = {}): ClientTransport & { readonly pool: FramePool } {
  const pool = new FramePool();
  const recycle = options.recycle ?? true;
  /** Our end goes: a MessagePort's other end is not told it closed, so without PORT_CLOSED the server's session (its fids, locks and frame pool) would live on until the tree closes. */
  const end = (why: string) => {
    port.removeEventListener("message", onMessage);
    port.postMessage(PORT_CLOSED, []);
    port.close();
    t.onClose(why);
  };
  const onMessage = (ev: { data: unknown }) => {
    const data = ev.data;
    if (data instanceof ArrayBuffer) {
      const f = frameAtStart(data);
      if (!f) return end(`broken framing from the server (a message of ${data.byteLength} bytes)`);
      t.onFrame(f);
      // The client copied out what it keeps (R1).
      if (recycle) pool.give(data);
      return;
    }
    const f = asBytes(data);
    if (f) t.onFrame(f);
    else if (data === PORT_CLOSED) {
      port.removeEventListener("message", onMessage);
      t.onClose("the server closed the session");
    }
  };
  const t: ClientTransport & { readonly pool: FramePool } = {
    pool,
    ...(recycle ? { alloc: pool.take, lendsFrames: true } : {}),
    onFrame: noop,
    onClose: noop,
    send(frame) {
      const buf = pool.built(frame) ? (frame.buffer as ArrayBuffer) : ownedBuffer(frame);
      port.postMessage(buf, [buf]);
    },
    close() {
      end("closed");
    },
  };
  port.addEventListener("message", onMessage);
  port.start?.();
  if (recycle) port.postMessage(PORT_ACCEPTS_SLACK, []);
  return t;
}
