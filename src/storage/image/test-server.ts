/**
 * Tests only: a static file server for an image folder, with Range support,
 * request counting and fault switches (down, corrupt, stall).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";

export interface ImageTestServer {
  url: string;
  /** Requests per file name. */
  requests: Map<string, number>;
  rangeRequests(): number;
  /** Answer every pack request by closing the connection. */
  down: boolean;
  /** Answer every request (the manifest too) by closing the connection. */
  offline: boolean;
  /** Flip a byte in every pack response. */
  corrupt: boolean;
  /** Hold pack requests unanswered; resolves `stalled` each time one arrives. */
  stall: boolean;
  stalled: Promise<void>;
  /** Ignore Range headers (send whole files). */
  noRange: boolean;
  close(): Promise<void>;
}

export async function serveImageDir(dir: string): Promise<ImageTestServer> {
  let noteStall: () => void = () => {};
  const held: http.ServerResponse[] = [];
  const state: ImageTestServer = {
    url: "",
    requests: new Map(),
    rangeRequests: () => ranges,
    down: false,
    offline: false,
    corrupt: false,
    stall: false,
    stalled: new Promise((r) => (noteStall = r)),
    noRange: false,
    close: async () => {
      for (const r of held) r.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  let ranges = 0;
  const server = http.createServer((req, res) => {
    // A page of another origin (the browser tests' dev server) may fetch with Range.
    res.setHeader("access-control-allow-origin", "*");
    res.setHeader("access-control-allow-headers", "range");
    if (req.method === "OPTIONS") return void res.writeHead(204).end();
    const name = path.basename(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    state.requests.set(name, (state.requests.get(name) ?? 0) + 1);
    const file = path.join(dir, name);
    const isPack = name.startsWith("pack-");
    if ((isPack && state.down) || state.offline) return req.socket.destroy();
    if (isPack && state.stall) {
      held.push(res);
      const n = noteStall;
      state.stalled = new Promise((r) => (noteStall = r));
      return n();
    }
    let data: Buffer;
    try {
      data = fs.readFileSync(file);
    } catch {
      res.writeHead(404).end();
      return;
    }
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    let status = 200;
    if (m && !state.noRange) {
      ranges++;
      data = data.subarray(Number(m[1]), Math.min(data.length, Number(m[2]) + 1));
      status = 206;
    }
    if (isPack && state.corrupt && data.length > 0) {
      data = Buffer.from(data);
      data[data.length >> 1] ^= 0xff;
    }
    res.writeHead(status, { "content-length": data.length }).end(data);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/img/`;
  return state;
}
