// The workspace's in-thread port from v86's hook to the server, with recycled frame buffers
// (transport/frame-pool.ts): the guest gets every byte right, and large replies stop costing a fresh buffer each.
import { expect, test } from "vitest";
import { decodeMessage, encodeMessage } from "../protocol/codec.js";
import { NOFID, NOTAG, OpenFlags } from "../protocol/constants.js";
import type { RMessage, TMessage } from "../protocol/messages.js";
import { FileSystem } from "../fs/filesystem.js";
import { MemoryStore } from "../storage/memory.js";
import { Server } from "../server/server.js";
import { createHandle9p } from "../transport/handle9p.js";
import { directFramePort } from "./direct-port.js";

test("reads and writes through the direct port are whole and right while replies reuse the buffers of earlier frames", async () => {
  const server = new Server(await FileSystem.open(new MemoryStore()));
  const port = directFramePort(server);
  const handle = createHandle9p(port);
  // v86 copies the reply into the guest's memory inside reply(); the test keeps only that copy.
  const call = (msg: TMessage) => new Promise<RMessage>((resolve) => handle(encodeMessage(msg), (buf) => resolve(decodeMessage(buf.slice()) as RMessage)));
  await call({ type: "Tversion", tag: NOTAG, msize: 512_000, version: "9P2000.L" });
  await call({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
  await call({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [] });
  await call({ type: "Tlcreate", tag: 1, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
  const block = 256 * 1024;
  const pattern = (i: number) => Uint8Array.from({ length: block }, (_, j) => (i * 29 + j * 3 + (j >> 8)) & 0xff);
  for (let i = 0; i < 6; i++) expect(await call({ type: "Twrite", tag: 2, fid: 1, offset: i * block, data: pattern(i) })).toMatchObject({ type: "Rwrite", count: block });
  const reads = await Promise.all([5, 0, 3, 1, 4, 2].map((i, k) => call({ type: "Tread", tag: 10 + k, fid: 1, offset: i * block, count: block })));
  [5, 0, 3, 1, 4, 2].forEach((i, k) => {
    const r = reads[k]!;
    expect(r.type === "Rread" && Buffer.compare(r.data, pattern(i)) === 0).toBe(true);
  });
  // Then one at a time, as a guest reads a file: no fresh buffer at all, each Rread goes back once v86 copied it.
  const fresh = port.pool.stats.fresh;
  for (let k = 0; k < 12; k++) {
    const r = await call({ type: "Tread", tag: 20, fid: 1, offset: (k % 6) * block, count: block });
    expect(r.type === "Rread" && Buffer.compare(r.data, pattern(k % 6)) === 0).toBe(true);
  }
  expect(port.pool.stats.fresh).toBe(fresh);
  expect(port.pool.stats.reused).toBeGreaterThanOrEqual(12);
  expect(port.pool.size).toBeLessThanOrEqual(port.pool.maxBuffers);
  port.close();
});
