// Test helper: a Session fed raw frames, with every reply, discard and close recorded in order.
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOFID, NOTAG } from "../protocol/constants.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import type { FileSystemApi } from "../fs/types.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server, type ServerOptions } from "./server.js";
import type { Session } from "./session.js";

export type Event = { kind: "reply"; msg: RMessage } | { kind: "discard"; tag: number } | { kind: "close"; reason: string };

export interface RawSession {
  server: Server;
  session: Session;
  fs: FileSystemApi;
  events: Event[];
  send(msg: TMessage): void;
  sendRaw(frame: Uint8Array): void;
  /** Wait until a reply with this tag arrives (or time out). */
  reply(tag: number, timeoutMs?: number): Promise<RMessage>;
  replies(): RMessage[];
  settle(ms?: number): Promise<void>;
}

export async function memoryFs(latencyMs = 0): Promise<FileSystemApi> {
  return FileSystem.open(new MemoryStore(), { latencyMs });
}

export async function rawSession(
  opts: { fs?: FileSystemApi; latencyMs?: number; server?: ServerOptions; version?: boolean } = {},
): Promise<RawSession> {
  const fs = opts.fs ?? (await memoryFs(opts.latencyMs ?? 0));
  const server = new Server(fs, { onInternalError: (e) => { throw e; }, ...opts.server });
  const events: Event[] = [];
  const waiters = new Set<() => void>();
  const notify = () => {
    for (const w of waiters) w();
  };
  const session = server.connect({
    send(frame) {
      events.push({ kind: "reply", msg: decodeMessage(frame) as RMessage });
      notify();
    },
    discard(tag) {
      events.push({ kind: "discard", tag });
      notify();
    },
    close(reason) {
      events.push({ kind: "close", reason });
      notify();
    },
  });
  const rs: RawSession = {
    server,
    session,
    fs,
    events,
    send: (msg) => session.receive(encodeMessage(msg)),
    sendRaw: (frame) => session.receive(frame),
    replies: () => events.flatMap((e) => (e.kind === "reply" ? [e.msg] : [])),
    reply(tag, timeoutMs = 5000) {
      const find = () => rs.replies().find((m) => m.tag === tag);
      const found = find();
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no reply for tag ${tag} within ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          const m = find();
          if (m) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve(m);
          }
        };
        waiters.add(check);
      });
    },
    settle: (ms = 20) => new Promise((r) => setTimeout(r, ms)),
  };
  if (opts.version !== false) {
    rs.send({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" });
    await rs.reply(NOTAG);
    rs.send({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
    const r = await rs.reply(1);
    if (r.type !== "Rattach") throw new Error(`attach failed: ${JSON.stringify(r)}`);
    events.length = 0;
  }
  return rs;
}
