import { TooManyConnections, type Server } from "../server/server.js";
import type { Session } from "../server/session.js";

/**
 * The part of MessagePort we use: the browser's and Node's worker_threads'
 * ports both fit it.
 */
export interface PortLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (ev: { data: unknown }) => void): void;
  removeEventListener(type: "message", listener: (ev: { data: unknown }) => void): void;
  start?(): void;
  close(): void;
}

export interface PortSession {
  readonly session: Session;
  /** End the session and close the port. */
  close(): void;
}

/**
 * The one message on a 9P port that is not a frame: sent by the server side
 * just before it closes the port, because MessagePort has no close event a
 * client could wait on — without it, requests in flight would hang forever.
 */
export const PORT_CLOSED = "worker9p:closed";

/**
 * One 9P session over a MessagePort. Each message, either way, is one whole
 * 9P frame as an ArrayBuffer, transferred (never copied on the way in).
 * Anything else from the client is broken framing and ends the session; the
 * server's last message on a port it closes is PORT_CLOSED.
 */
export function serveMessagePort(server: Server, port: PortLike, options: { onProtocolError?: (reason: string) => void } = {}): PortSession {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    port.removeEventListener("message", onMessage);
    session.close();
    port.postMessage(PORT_CLOSED, []);
    port.close();
  };
  const sink = {
    send(frame: Uint8Array) {
      if (closed) return;
      const buf = ownedBuffer(frame);
      port.postMessage(buf, [buf]);
    },
    close(reason: string) {
      options.onProtocolError?.(reason);
      close();
    },
  };
  let session: Session;
  try {
    session = server.connect(sink);
  } catch (e) {
    // No session for this port (maxConnections): the client sees it closed, not silence.
    if (e instanceof TooManyConnections) {
      options.onProtocolError?.(e.message);
      port.postMessage(PORT_CLOSED, []);
      port.close();
    }
    throw e;
  }
  const onMessage = (ev: { data: unknown }) => {
    const frame = asBytes(ev.data);
    if (!frame) {
      options.onProtocolError?.("a port message that is not an ArrayBuffer");
      close();
      return;
    }
    session.receive(frame);
  };
  port.addEventListener("message", onMessage);
  port.start?.();
  return { session, close };
}

export function asBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** An ArrayBuffer holding exactly `frame`, transferable without exposing other bytes. */
export function ownedBuffer(frame: Uint8Array): ArrayBuffer {
  if (frame.byteOffset === 0 && frame.byteLength === frame.buffer.byteLength && frame.buffer instanceof ArrayBuffer) {
    return frame.buffer;
  }
  return frame.slice().buffer as ArrayBuffer;
}
