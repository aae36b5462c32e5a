import { TooManyConnections, type Server } from "../server/server.js";
import type { Session } from "../server/session.js";
import { FramePool, frameAtStart, frameCapacity } from "./frame-pool.js";

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
  /** The port's frame buffers, once the client accepted slack (tests, benchmarks). */
  readonly pool: FramePool | undefined;
  /** End the session and close the port. */
  close(): void;
}

/**
 * A message on a 9P port that is not a frame: sent by either side just
 * before it closes the port, because MessagePort has no close event the other
 * end could wait on — without it, a client's requests in flight would hang
 * forever, and a server's session of a client gone would live on.
 */
export const PORT_CLOSED = "worker9p:closed";

/**
 * The other message on a 9P port that is not a frame: sent by a client
 * (before its Tversion) that accepts frames with slack. The server then sends
 * its replies in recycled buffers too (transport/frame-pool.ts, R1–R4).
 */
export const PORT_ACCEPTS_SLACK = "worker9p:accepts-slack";

export interface ServePortOptions {
  onProtocolError?: (reason: string) => void;
  /** Called once when the session has ended, whoever ended it (so a host can forget it). */
  onClose?: () => void;
}

/**
 * One 9P session over a MessagePort. The wire rule, either way: a message is
 * an ArrayBuffer, transferred (never copied on the way in), whose first bytes
 * are one whole 9P frame — its size[4] says how long — and whose remaining
 * bytes, if any, are slack to be ignored. The server accepts slack from
 * anyone; it sends slack only to a client that sent PORT_ACCEPTS_SLACK, and
 * exact frames to every other. A size field below 7 or past the buffer's end,
 * a buffer longer than any frame of this server with its slack
 * (frameCapacity), or any other message, is broken framing and ends the
 * session; a typed-array view (cloned, not transferred) is taken as one exact
 * frame. Either side's last message on a port it closes is PORT_CLOSED: from
 * the client, it ends the session (its fids, locks and frame pool).
 *
 * With a client that accepts slack, the buffers circulate: a request's buffer
 * goes to this port's pool when the request completes, and replies are built
 * in pooled buffers (R1, R2), so the steady state allocates no large buffer.
 */
export function serveMessagePort(server: Server, port: PortLike, options: ServePortOptions = {}): PortSession {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    port.removeEventListener("message", onMessage);
    session.close();
    port.postMessage(PORT_CLOSED, []);
    port.close();
    options.onClose?.();
  };
  /** Set once the client sent PORT_ACCEPTS_SLACK: replies are built in this port's pool (R3). */
  let pool: FramePool | undefined;
  const sink = {
    send(frame: Uint8Array) {
      if (closed) return;
      const buf = pool?.built(frame) ? (frame.buffer as ArrayBuffer) : ownedBuffer(frame);
      port.postMessage(buf, [buf]);
    },
    alloc(size: number): Uint8Array {
      return pool ? pool.take(size) : new Uint8Array(size);
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
  // Slack is bounded like a frame: a message no pool of ours would build is refused.
  const largestMessage = frameCapacity(server.connectionMaxFrame());
  const onMessage = (ev: { data: unknown }) => {
    const data = ev.data;
    if (data instanceof ArrayBuffer) {
      const frame = data.byteLength <= largestMessage ? frameAtStart(data) : undefined;
      if (!frame) {
        const size = data.byteLength >= 4 ? new DataView(data).getUint32(0, true) : undefined;
        options.onProtocolError?.(
          data.byteLength > largestMessage
            ? `broken framing: a message of ${data.byteLength} bytes, larger than any frame with its slack (${largestMessage})`
            : `broken framing: size field ${size ?? "unreadable"} in a message of ${data.byteLength} bytes`,
        );
        close();
        return;
      }
      const p = pool;
      // The whole buffer counts against the session's held-bytes limit, slack included.
      session.receive(frame, p ? () => p.give(data) : undefined, data.byteLength);
      return;
    }
    if (data === PORT_CLOSED) {
      // The client's last message: its session ends as if the connection dropped (fids clunked, locks released).
      close();
      return;
    }
    if (data === PORT_ACCEPTS_SLACK) {
      pool ??= new FramePool({ maxCapacity: largestMessage });
      return;
    }
    const view = asBytes(data);
    if (!view) {
      options.onProtocolError?.("a port message that is not an ArrayBuffer");
      close();
      return;
    }
    // A view is cloned with its whole buffer: that is what it pins.
    session.receive(view, undefined, view.buffer.byteLength);
  };
  port.addEventListener("message", onMessage);
  port.start?.();
  return {
    session,
    close,
    get pool() {
      return pool;
    },
  };
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
