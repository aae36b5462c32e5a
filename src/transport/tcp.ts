import net from "node:net";
import { NOTAG } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { Server } from "../server/server.js";
import { FrameReader, FramingError } from "./framing.js";
import { mayResumeReading, readPauseLimits, shouldPauseReading } from "./read-pause.js";

export interface TcpServeOptions {
  host?: string;
  port?: number;
  /** Stop reading a connection with this many requests pending (in flight or held), resume at half. */
  pauseAt?: number;
  /** …or with this many bytes of request frames pending (default 16 MiB); see read-pause.ts. */
  pauseAtBytes?: number;
  /**
   * Reply bytes one connection may have queued in its socket before the
   * session starts no new request (default 8 MiB). The requests already in
   * flight may add up to the server's maxReplyBytes on top.
   */
  maxQueuedBytes?: number;
  /**
   * Read each connection into one reused buffer of its own (default true)
   * instead of Node's 'data' events; see `withReceiveBuffer`.
   */
  receiveBuffer?: boolean;
  /** Called for a connection closed because of a protocol violation. */
  onProtocolError?: (remote: string, reason: string) => void;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  /** Connections open now (refused ones included until they close). */
  readonly connections: number;
  /** The most reply bytes any connection had queued in its socket at once. */
  readonly peakQueuedBytes: number;
  /** The most request-frame bytes any session held (in flight or waiting) at once. */
  readonly peakPendingBytes: number;
  /** Connections whose reading is paused now because their session holds enough (read-pause.ts). */
  readonly readingPaused: number;
  close(): Promise<void>;
}

/** Serve `server` over TCP: one 9P session per connection. */
export async function serveTcp(server: Server, options: TcpServeOptions = {}): Promise<TcpListener> {
  const sockets = new Set<net.Socket>();
  const meter: Meter = { peakQueuedBytes: 0, peakPendingBytes: 0, readingPaused: 0 };
  // Paused until we know how the connection will be read: no byte may go to a reader not yet attached.
  const listener = net.createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
    sockets.add(accepted);
    accepted.on("close", () => sockets.delete(accepted));
    if (server.full) {
      refuse(accepted, server.maxConnections, options);
      return;
    }
    sockets.delete(accepted);
    const conn = (options.receiveBuffer !== false && withReceiveBuffer(accepted)) || withDataEvents(accepted, true);
    sockets.add(conn.socket);
    conn.socket.on("close", () => sockets.delete(conn.socket));
    serve(server, conn, options, meter);
  });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      listener.off("error", reject);
      resolve();
    });
  });
  const addr = listener.address() as net.AddressInfo;
  return {
    host: addr.address,
    port: addr.port,
    get connections() {
      return sockets.size;
    },
    get peakQueuedBytes() {
      return meter.peakQueuedBytes;
    },
    get peakPendingBytes() {
      return meter.peakPendingBytes;
    },
    get readingPaused() {
      return meter.readingPaused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  };
}

/** Run one 9P session over an already connected stream socket. */
export function attachSocket(server: Server, socket: net.Socket, options: TcpServeOptions = {}): void {
  if (server.full) {
    refuse(socket, server.maxConnections, options);
    return;
  }
  serve(server, withDataEvents(socket, false), options, { peakQueuedBytes: 0, peakPendingBytes: 0, readingPaused: 0 });
}

/** How long a refused connection may stay open to read its refusal. */
const REFUSED_LINGER_MS = 10_000;

/**
 * Past maxConnections: answer the Tversion every 9P client sends first (tag
 * NOTAG) with Rlerror(ENFILE), so the client reports why, and close. What the
 * client sends meanwhile is read and dropped, so the close does not reset the
 * connection before the refusal is read.
 */
function refuse(socket: net.Socket, limit: number, options: TcpServeOptions): void {
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
  options.onProtocolError?.(remote, `refused: ${limit} connections already open (--max-connections)`);
  const reply = Buffer.alloc(11);
  reply.writeUInt32LE(11, 0);
  reply[4] = 7; // Rlerror
  reply.writeUInt16LE(NOTAG, 5);
  reply.writeUInt32LE(Errno.ENFILE, 7);
  socket.on("error", () => socket.destroy());
  socket.on("data", () => {});
  socket.setTimeout(REFUSED_LINGER_MS, () => socket.destroy());
  socket.resume();
  socket.end(reply);
}

/** A connection's socket, and how its bytes reach us. */
export interface ByteStream {
  readonly socket: net.Socket;
  /** Chunks are overwritten by the next read, so nothing may keep views of them. */
  readonly borrowed: boolean;
  /** Install the one consumer of the connection's bytes. */
  onChunk(receive: (chunk: Uint8Array) => void): void;
}

/** Bytes one read may bring: a 64 KiB Twrite frame whole, or several pipelined requests. */
const RECEIVE_BUFFER_SIZE = 256 * 1024;

/** net.Socket's constructor also takes a native handle (undocumented) and `onread` (missing from its typings). */
interface AdoptOptions extends net.SocketConstructorOpts {
  handle: object;
  noDelay: boolean;
  onread: net.OnReadOpts;
}

/**
 * Move an accepted connection into a socket that reads into one buffer of ours.
 *
 * Node reads a server's connections through its stream machinery: a fresh
 * 64 KiB buffer per read, so a 64 KiB Twrite takes two reads, two buffers and
 * two 'data' events, and the first buffer is garbage as soon as the frame is
 * copied out of it. V8 counts such buffers toward its old-generation limit
 * until a collection frees them, so they bring full garbage collections
 * sooner. A socket built with `onread` reads into one buffer we give it, but
 * net.Server has no such option: the accepted native handle is handed to a
 * socket built with one, the way Node re-wraps handles itself. That leans on
 * the undocumented `handle` option and `_handle` field, so anything unexpected
 * leaves the connection as it was (undefined: use 'data' events).
 */
export function withReceiveBuffer(accepted: net.Socket): ByteStream | undefined {
  const handle = (accepted as unknown as { _handle?: unknown })._handle;
  if (typeof handle !== "object" || handle === null || typeof (handle as { useUserBuffer?: unknown }).useUserBuffer !== "function") {
    return undefined;
  }
  let receive: (chunk: Uint8Array) => void = () => {};
  const buffer = Buffer.allocUnsafeSlow(RECEIVE_BUFFER_SIZE);
  const options: AdoptOptions = {
    handle,
    noDelay: true,
    onread: {
      buffer,
      callback(n) {
        receive(buffer.subarray(0, n));
        return true;
      },
    },
  };
  let socket: net.Socket;
  try {
    socket = new net.Socket(options);
  } catch {
    return undefined;
  }
  // The accepted socket gives the handle up; destroying it then only settles net.Server's connection count.
  (accepted as unknown as { _handle: unknown })._handle = null;
  accepted.destroy();
  return {
    socket,
    borrowed: true,
    onChunk(r) {
      receive = r;
      // Flowing, so that the end of the stream is reported ('end') like on any socket.
      socket.resume();
    },
  };
}

/** Node's own reads: each 'data' chunk is a fresh buffer, given to us. */
function withDataEvents(socket: net.Socket, resume: boolean): ByteStream {
  return {
    socket,
    borrowed: false,
    onChunk(receive) {
      socket.on("data", receive);
      // A connection accepted paused stays paused until told.
      if (resume) socket.resume();
    },
  };
}

/** What the listener reports about all its connections. */
interface Meter {
  peakQueuedBytes: number;
  peakPendingBytes: number;
  readingPaused: number;
}

/** Default bound on one connection's queued reply bytes (see TcpServeOptions.maxQueuedBytes). */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

function serve(server: Server, conn: ByteStream, options: TcpServeOptions, meter: Meter): void {
  const { socket } = conn;
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
  const limits = readPauseLimits(options);
  const maxQueued = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  let paused = false;
  let corked = false;
  let congested = false;
  const queued = () => {
    const n = socket.writableLength;
    if (n > meter.peakQueuedBytes) meter.peakQueuedBytes = n;
    return n;
  };
  const session = server.connect({
    send(frame) {
      if (socket.destroyed) return;
      // With other requests still in flight, batch the replies finished in one
      // turn of the event loop into one write; a lone reply goes out at once.
      if (!corked && session.inFlight > 1) {
        corked = true;
        socket.cork();
        setImmediate(() => {
          corked = false;
          socket.uncork();
        });
      }
      socket.write(frame);
      queued();
    },
    sendParts(parts) {
      if (socket.destroyed) return;
      // One writev for the header and the stored data views: no assembled copy.
      const uncork = !corked;
      if (uncork) socket.cork();
      for (const p of parts) socket.write(p);
      if (uncork) socket.uncork();
      queued();
    },
    close(reason) {
      options.onProtocolError?.(remote, reason);
      socket.destroy();
    },
    congested() {
      // The socket says 'drain' once its queue empties (every write past 16 KiB returned false).
      congested = queued() >= maxQueued;
      return congested;
    },
  });
  const reader = new FrameReader(server.connectionMaxFrame());
  const setPaused = (p: boolean) => {
    paused = p;
    meter.readingPaused += p ? 1 : -1;
    if (p) socket.pause();
    else socket.resume();
  };
  const resumeIfDrained = () => {
    if (paused && mayResumeReading(session, limits)) setPaused(false);
  };
  session.onDrain = resumeIfDrained;
  socket.on("drain", () => {
    queued();
    if (!congested) return;
    congested = false;
    session.resume();
  });
  conn.onChunk((chunk) => {
    let frames: Uint8Array[];
    try {
      reader.setMaxFrame(session.negotiatedMsize || server.connectionMaxFrame());
      frames = reader.push(chunk, conn.borrowed);
    } catch (e) {
      if (e instanceof FramingError) {
        options.onProtocolError?.(remote, e.message);
        socket.destroy();
        session.close();
        return;
      }
      throw e;
    }
    for (const f of frames) session.receive(f);
    if (session.pendingBytes > meter.peakPendingBytes) meter.peakPendingBytes = session.pendingBytes;
    if (!paused && shouldPauseReading(session, limits)) setPaused(true);
  });
  socket.on("end", () => {
    if (reader.partial) options.onProtocolError?.(remote, "stream ended in the middle of a message");
    socket.destroy();
  });
  socket.on("error", () => socket.destroy());
  socket.on("close", () => {
    if (paused) {
      paused = false;
      meter.readingPaused--;
    }
    session.close();
  });
}
