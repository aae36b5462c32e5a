import { WebSocketServer, type WebSocket } from "ws";
import type { Server } from "../server/server.js";
import { mayResumeReading, readPauseLimits, shouldPauseReading } from "./read-pause.js";

export interface WebSocketServeOptions {
  host?: string;
  port?: number;
  onProtocolError?: (remote: string, reason: string) => void;
  /** Stop reading a connection with this many requests pending (in flight or held), resume at half. */
  pauseAt?: number;
  /** …or with this many bytes of request frames pending (default 16 MiB); see read-pause.ts. */
  pauseAtBytes?: number;
  /** Reply bytes one connection may have buffered (bufferedAmount) before its session starts no new request (default 8 MiB). */
  maxQueuedBytes?: number;
}

export interface WebSocketListener {
  readonly host: string;
  readonly port: number;
  /** The most reply bytes any connection had buffered (bufferedAmount) at once. */
  readonly peakQueuedBytes: number;
  close(): Promise<void>;
}

/**
 * Serve `server` over WebSocket: one 9P session per connection, each binary
 * message one whole 9P frame either way (v86's `filesystem.proxy_url`).
 * A text message or a frame whose size field disagrees with its length is
 * broken framing and closes the connection.
 */
export async function serveWebSocket(server: Server, options: WebSocketServeOptions = {}): Promise<WebSocketListener> {
  const wss = new WebSocketServer({ host: options.host ?? "127.0.0.1", port: options.port ?? 0, maxPayload: server.connectionMaxFrame() });
  await new Promise<void>((resolve, reject) => {
    wss.once("listening", resolve);
    wss.once("error", reject);
  });
  const meter = { peakQueuedBytes: 0 };
  wss.on("connection", (ws: WebSocket, req) => attachWebSocket(server, ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`, options, meter));
  const addr = wss.address();
  if (!addr || typeof addr === "string") throw new Error("WebSocket server has no TCP address");
  return {
    host: addr.address,
    port: addr.port,
    get peakQueuedBytes() {
      return meter.peakQueuedBytes;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** 1013 "Try Again Later": the server is at its maxConnections. */
const TRY_AGAIN_LATER = 1013;

function attachWebSocket(server: Server, ws: WebSocket, remote: string, options: WebSocketServeOptions, meter: { peakQueuedBytes: number }): void {
  const { onProtocolError } = options;
  if (server.full) {
    const reason = `refused: ${server.maxConnections} connections already open (--max-connections)`;
    onProtocolError?.(remote, reason);
    ws.close(TRY_AGAIN_LATER, reason);
    return;
  }
  const limits = readPauseLimits(options);
  const maxQueued = options.maxQueuedBytes ?? 8 * 1024 * 1024;
  let congested = false;
  // ws calls back once a message is written to the socket: the moment to look at bufferedAmount again.
  const sent = () => {
    if (congested && ws.bufferedAmount < maxQueued) {
      congested = false;
      session.resume();
    }
  };
  const session = server.connect({
    send(frame) {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(frame, { binary: true }, sent);
      meter.peakQueuedBytes = Math.max(meter.peakQueuedBytes, ws.bufferedAmount);
    },
    close(reason) {
      onProtocolError?.(remote, reason);
      ws.close(1002, reason.slice(0, 120));
    },
    congested() {
      congested = ws.bufferedAmount >= maxQueued;
      return congested;
    },
  });
  session.onDrain = () => {
    if (ws.isPaused && mayResumeReading(session, limits)) ws.resume();
  };
  ws.on("message", (data, isBinary) => {
    if (!isBinary) {
      onProtocolError?.(remote, "text message on a 9P WebSocket");
      ws.close(1003, "binary 9P frames only");
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    session.receive(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    if (!ws.isPaused && shouldPauseReading(session, limits)) ws.pause();
  });
  ws.on("close", () => session.close());
  ws.on("error", () => ws.terminate());
}
