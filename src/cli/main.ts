import { parseArgs } from "node:util";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MSIZE } from "../server/server.js";
import { serveTcp } from "../transport/tcp.js";
import { serveWebSocket, type WebSocketListener } from "../transport/websocket.js";

const USAGE = `usage: worker9p serve --listen HOST:PORT [options]

Serve a 9P2000.L tree (in memory, shared by every connection, for the life of
the process) over TCP. One 9P session per connection.

options:
  --listen HOST:PORT   address to listen on (port 0 picks a free port)
  --ws HOST:PORT       also serve 9P over WebSocket (one binary message per frame; v86's proxy_url)
  --latency-ms N       reads and writes of files named slow* wait N ms first (abortably)
  --max-msize N        largest msize agreed with clients (default ${DEFAULT_MAX_MSIZE})
  --quota-mb N         size of the in-memory tree (default 2048); past it, ENOSPC
  --max-connections N  connections at once (default ${DEFAULT_MAX_CONNECTIONS}); past it a new one
                       gets Rlerror(ENFILE) (WebSocket: close code 1013) and is closed
  --debug              print every request and reply to stderr
  -h, --help           this text
`;

export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "serve") {
    process.stderr.write(`worker9p: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  return serve(rest);
}

function intOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) throw new Error(`--${name} wants a whole number ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new Error(`--listen wants HOST:PORT, got ${JSON.stringify(s)}`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || "127.0.0.1"), port };
}

async function serve(argv: string[]): Promise<number | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: {
      listen: { type: "string" },
      ws: { type: "string" },
      "latency-ms": { type: "string" },
      "max-msize": { type: "string" },
      "quota-mb": { type: "string" },
      "max-connections": { type: "string" },
      debug: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.listen) throw new Error("serve needs --listen HOST:PORT");
  const { host, port } = parseListen(values.listen);
  const latencyMs = intOption("latency-ms", values["latency-ms"], 0) ?? 0;
  const maxMsize = intOption("max-msize", values["max-msize"], 4096) ?? DEFAULT_MAX_MSIZE;
  const quotaMb = intOption("quota-mb", values["quota-mb"], 1) ?? 2048;
  const maxConnections = intOption("max-connections", values["max-connections"], 1) ?? DEFAULT_MAX_CONNECTIONS;

  const store = new MemoryStore({ quotaBytes: quotaMb * 1024 * 1024 });
  const fs = await FileSystem.open(store, { latencyMs });
  let internalErrors = 0;
  const server = new Server(fs, {
    maxMsize,
    maxConnections,
    trace: values.debug ? (line) => process.stderr.write(`${line}\n`) : undefined,
    onInternalError: (err) => {
      // A bug, not a client mistake: say it, but never once per request.
      if (internalErrors++ < 10) process.stderr.write(`worker9p: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    },
  });
  let protocolErrors = 0;
  const listener = await serveTcp(server, {
    host,
    port,
    onProtocolError: (remote, reason) => {
      if (protocolErrors++ < 20) process.stderr.write(`worker9p: closed ${remote}: ${reason}\n`);
    },
  });
  const show = (h: string) => (h.includes(":") ? `[${h}]` : h);
  process.stdout.write(`worker9p listening on tcp://${show(listener.host)}:${listener.port}\n`);
  let ws: WebSocketListener | undefined;
  if (values.ws) {
    const w = parseListen(values.ws);
    ws = await serveWebSocket(server, {
      host: w.host,
      port: w.port,
      onProtocolError: (remote, reason) => {
        if (protocolErrors++ < 20) process.stderr.write(`worker9p: closed ${remote}: ${reason}\n`);
      },
    });
    process.stdout.write(`worker9p listening on ws://${show(ws.host)}:${ws.port}\n`);
  }

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
  });
  server.close();
  await listener.close();
  await ws?.close();
  await store.close();
  return 0;
}
