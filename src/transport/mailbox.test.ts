import { MessageChannel, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { afterEach, describe, expect, test } from "vitest";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server } from "../server/server.js";
import { createHandle9p } from "./handle9p.js";
import { createMailbox, MailboxEnd, type SidePort } from "./mailbox.js";
import { serveMessagePort } from "./messageport.js";

const ports: MessagePort[] = [];
afterEach(() => {
  for (const p of ports.splice(0)) p.close();
});

function sidePorts(): [SidePort, SidePort] {
  const { port1, port2 } = new MessageChannel();
  ports.push(port1, port2);
  const side = (port: MessagePort): SidePort => ({
    postMessage: (m, t) => port.postMessage(m, t as never),
    takeNext: () => receiveMessageOnPort(port)?.message,
    close: () => port.close(),
  });
  return [side(port1), side(port2)];
}

function pair(capacity?: number) {
  const buffers = createMailbox(capacity);
  const [a, b] = sidePorts();
  return { client: MailboxEnd.client(buffers, a), server: MailboxEnd.server(buffers, b) };
}

/** Messages delivered to `end`'s listener, and a promise for the n-th. */
function collect(end: MailboxEnd) {
  const got: unknown[] = [];
  let wake: (() => void) | undefined;
  end.addEventListener("message", (ev) => {
    got.push(ev.data);
    wake?.();
  });
  end.start();
  const until = async (n: number) => {
    while (got.length < n) await new Promise<void>((r) => (wake = r));
  };
  return { got, until };
}

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (seed + i) & 0xff);

describe("mailbox", () => {
  test("worker9p's server answers createHandle9p through a mailbox: replies by tag, in order", async () => {
    const { client, server } = pair();
    const fs = await FileSystem.open(new MemoryStore());
    const served = serveMessagePort(new Server(fs), server);
    const handle = createHandle9p(client);
    const call = (msg: TMessage) =>
      new Promise<RMessage>((resolve) => handle(encodeMessage(msg), (buf) => resolve(decodeMessage(buf) as RMessage)));
    // A Tversion aborts whatever is in flight, and fid 0 exists once attached; then two at once.
    const replies = [await call({ type: "Tversion", tag: 0xffff, msize: 131072, version: "9P2000.L" })];
    replies.push(await call({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 }));
    replies.push(...(await Promise.all([call({ type: "Tgetattr", tag: 2, fid: 0, mask: 0x7ff }), call({ type: "Tstatfs", tag: 3, fid: 0 })])));
    expect(replies.map((r) => [r.type, r.tag])).toEqual([
      ["Rversion", 0xffff],
      ["Rattach", 1],
      ["Rgetattr", 2],
      ["Rstatfs", 3],
    ]);
    served.close();
    client.close();
  });

  test("a message too large for the ring goes by the side port and keeps its place; other messages too", async () => {
    const { client, server } = pair(64);
    const received = collect(server);
    const big = payload(200, 7);
    client.postMessage(payload(10, 1).slice().buffer, []);
    client.postMessage(big.slice().buffer, []);
    client.postMessage("worker9p:closed", []);
    client.postMessage({ not: "a frame" }, []);
    client.postMessage(payload(3, 9), []);
    await received.until(5);
    expect(received.got.map((m) => (m instanceof ArrayBuffer ? [...new Uint8Array(m)] : m))).toEqual([
      [...payload(10, 1)],
      [...big],
      "worker9p:closed",
      { not: "a frame" },
      [...payload(3, 9)],
    ]);
    client.close();
    server.close();
  });

  test("a full ring drops nothing and blocks no one: the sender queues, and the messages come in order as space is read", async () => {
    const { client, server } = pair(64);
    const sent = Array.from({ length: 40 }, (_, i) => payload(1 + (i % 20), i));
    for (const p of sent) server.postMessage(p, []); // far more than 64 bytes, nobody reading yet
    const got: Uint8Array[] = [];
    // The reader takes synchronously (as handle9p's wait does); the writer refills as space frees.
    while (got.length < sent.length) {
      const m = client.take();
      if (m === undefined) await new Promise<void>((r) => setImmediate(r));
      else got.push(new Uint8Array(m as ArrayBuffer));
    }
    expect(got).toEqual(sent);
    client.close();
    server.close();
  });

  test("closing an end with messages still queued (full ring) still delivers them, those by the side port too", async () => {
    const { client, server } = pair(64);
    const big = payload(100, 5);
    const sent = [payload(40, 1), payload(40, 2), big, payload(8, 3)];
    for (const p of sent) server.postMessage(p, []);
    server.postMessage("worker9p:closed", []);
    server.close(); // as serveMessagePort does right after its PORT_CLOSED
    const got: unknown[] = [];
    while (got.length < sent.length + 1) {
      const m = client.take();
      if (m === undefined) await new Promise<void>((r) => setImmediate(r));
      else got.push(m instanceof ArrayBuffer ? new Uint8Array(m) : m);
    }
    expect(got).toEqual([...sent, "worker9p:closed"]);
    client.close();
  });

  test("the server ending the session (broken framing) answers the request in flight with EIO", async () => {
    const { client, server } = pair();
    const fs = await FileSystem.open(new MemoryStore());
    const errors: string[] = [];
    serveMessagePort(new Server(fs), server, { onProtocolError: (r) => errors.push(r) });
    const handle = createHandle9p(client);
    const broken = encodeMessage({ type: "Tversion", tag: 3, msize: 8192, version: "9P2000.L" });
    new DataView(broken.buffer, broken.byteOffset).setUint32(0, 5, true); // size below 7
    const reply = await new Promise<Uint8Array>((resolve) => handle(broken, resolve));
    expect(decodeMessage(reply)).toMatchObject({ type: "Rlerror", tag: 3, ecode: 5 });
    expect(errors[0]).toMatch(/broken framing/);
    client.close();
  });
});
