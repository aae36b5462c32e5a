// The guest harness's hop through a mailbox of shared rings (scripts/guest/worker9p.ts with
// `mailbox`, src/transport/mailbox.ts) between this thread and worker/node.ts's worker thread,
// driven the way v86 drives it: createHandle9p blocking in its wait, no guest.

import { afterEach, describe, expect, test } from "vitest";
import { decodeMessage, encodeMessage } from "../src/protocol/codec.js";
import { OpenFlags } from "../src/protocol/constants.js";
import type { RMessage, TMessage } from "../src/protocol/messages.js";
import { createHandle9p } from "../src/transport/handle9p.js";
import { startWorker9p, type Worker9p } from "../scripts/guest/worker9p.js";

let worker: Worker9p | undefined;
afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

/** v86's way: one call per request, the reply expected inside it (handle9p's wait). */
function syncClient(w: Worker9p) {
  const handle = createHandle9p(w.port, { wait: { ms: 10_000, receive: w.receive } });
  return (msg: TMessage): RMessage => {
    let reply: Uint8Array | undefined;
    handle(encodeMessage(msg), (buf) => (reply = buf.slice()));
    if (!reply) throw new Error(`no reply to ${msg.type} within the wait`);
    return decodeMessage(reply) as RMessage;
  };
}

describe("worker9p's guest harness through a mailbox", () => {
  test("requests and replies larger than the rings cross by the side port, in order, inside the call", async () => {
    worker = await startWorker9p({ mailbox: true, mailboxBytes: 4096 });
    const call = syncClient(worker);
    expect(call({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" })).toMatchObject({ type: "Rversion" });
    expect(call({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 })).toMatchObject({ type: "Rattach" });
    expect(call({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: [] })).toMatchObject({ type: "Rwalk" });
    expect(call({ type: "Tlcreate", tag: 2, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 })).toMatchObject({ type: "Rlcreate" });
    const data = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) & 0xff); // > the 4 KiB rings
    expect(call({ type: "Twrite", tag: 3, fid: 1, offset: 0, data })).toMatchObject({ type: "Rwrite", count: 20_000 });
    const read = call({ type: "Tread", tag: 4, fid: 1, offset: 0, count: 20_000 });
    expect(read.type).toBe("Rread");
    expect(read.type === "Rread" && [...read.data]).toEqual([...data]);
    expect(call({ type: "Tclunk", tag: 5, fid: 1 })).toMatchObject({ type: "Rclunk" });
    const finished = await worker.finish();
    expect(finished.fsck?.ok).toBe(true);
  });

  test("a new session after finish() gets a new mailbox over the same tree", async () => {
    worker = await startWorker9p({ mailbox: true });
    const first = syncClient(worker);
    first({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    first({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 });
    first({ type: "Tmkdir", tag: 2, dfid: 0, name: "kept", mode: 0o755, gid: 0 });
    await worker.finish();
    await worker.session();
    const second = syncClient(worker);
    second({ type: "Tversion", tag: 0xffff, msize: 65536, version: "9P2000.L" });
    second({ type: "Tattach", tag: 1, fid: 0, afid: 0xffffffff, uname: "root", aname: "", nuname: 0 });
    expect(second({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: ["kept"] })).toMatchObject({ type: "Rwalk" });
  });
});
