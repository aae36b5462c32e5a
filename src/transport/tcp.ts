import net from "node:net";
import type { Server } from "../server/server.js";
import { FrameReader, FramingError } from "./framing.js";

export interface TcpServeOptions {
  host?: string;
  port?: number;
  /** Pause reading a connection with this many requests in flight (back-pressure), resume at half. */
  pauseAt?: number;
  /** Called for a connection closed because of a protocol violation. */
  onProtocolError?: (remote: string, reason: string) => void;
}

export interface TcpListener {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Serve `server` over TCP: one 9P session per connection. */
export async function serveTcp(server: Server, options: TcpServeOptions = {}): Promise<TcpListener> {
  const sockets = new Set<net.Socket>();
  const listener = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    attachSocket(server, socket, options);
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
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        listener.close(() => resolve());
      }),
  };
}

/** Run one 9P session over an already connected stream socket. */
export function attachSocket(server: Server, socket: net.Socket, options: TcpServeOptions = {}): void {
  const remote = `${socket.remoteAddress ?? "?"}:${socket.remotePort ?? "?"}`;
  const pauseAt = options.pauseAt ?? 256;
  let paused = false;
  let corked = false;
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
    },
    sendParts(parts) {
      if (socket.destroyed) return;
      // One writev for the header and the stored data views: no assembled copy.
      const uncork = !corked;
      if (uncork) socket.cork();
      for (const p of parts) socket.write(p);
      if (uncork) socket.uncork();
    },
    close(reason) {
      options.onProtocolError?.(remote, reason);
      socket.destroy();
    },
  });
  const reader = new FrameReader(server.connectionMaxFrame());
  const resumeIfDrained = () => {
    if (paused && session.inFlight <= pauseAt / 2 && socket.writableLength < 4 * 1024 * 1024) {
      paused = false;
      socket.resume();
    }
  };
  session.onDrain = resumeIfDrained;
  socket.on("drain", resumeIfDrained);
  socket.on("data", (chunk: Buffer) => {
    let frames: Uint8Array[];
    try {
      reader.setMaxFrame(session.negotiatedMsize || server.connectionMaxFrame());
      frames = reader.push(chunk);
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
    if (!paused && (session.inFlight >= pauseAt || socket.writableLength >= 16 * 1024 * 1024)) {
      paused = true;
      socket.pause();
    }
  });
  socket.on("end", () => {
    if (reader.partial) options.onProtocolError?.(remote, "stream ended in the middle of a message");
    socket.destroy();
  });
  socket.on("error", () => socket.destroy());
  socket.on("close", () => session.close());
}
