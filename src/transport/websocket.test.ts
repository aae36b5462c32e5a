import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOTAG } from "../protocol/constants.js";
import { Server } from "../server/server.js";
import { memoryFs } from "../server/test-harness.js";
import { serveWebSocket, type WebSocketListener } from "./websocket.js";

let listener: WebSocketListener | undefined;
afterEach(async () => {
  await listener?.close();
});

describe("9P over WebSocket", () => {
  it("answers one frame per binary message and closes on a text message", async () => {
    listener = await serveWebSocket(new Server(await memoryFs()));
    const ws = new WebSocket(`ws://127.0.0.1:${listener.port}`);
    await new Promise((r) => ws.once("open", r));
    const reply = new Promise<Buffer>((r) => ws.once("message", (d) => r(d as Buffer)));
    ws.send(encodeMessage({ type: "Tversion", tag: NOTAG, msize: 65536, version: "9P2000.L" }));
    expect(decodeMessage(new Uint8Array(await reply))).toEqual({ type: "Rversion", tag: NOTAG, msize: 65536, version: "9P2000.L" });
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    ws.send("hello");
    expect(await closed).toBe(1003);
  });
});
