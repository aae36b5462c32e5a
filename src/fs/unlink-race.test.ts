// Issue 8.1: an open file outlives its unlink whatever the interleaving — here the one a browser
// store's writer batcher produces, where one session's Tlcreate and another's Tunlinkat (or a
// rename over the name) commit in the same transaction.
import { describe, expect, it } from "vitest";
import { OpenFlags } from "../protocol/constants.js";
import type { TMessage } from "../protocol/messages.js";
import { MemoryStore } from "../storage/memory.js";
import { rawSession, type RawSession } from "../server/test-harness.js";
import { ROOT_INO } from "./constants.js";
import { FileSystem } from "./filesystem.js";
import { HeldBatchStore } from "./test-helpers.js";

const ctx = { signal: new AbortController().signal };

async function twoSessions() {
  const inner = new MemoryStore({ chunkSize: 16 });
  const store = new HeldBatchStore(inner);
  const fs = await FileSystem.open(store);
  const a = await rawSession({ fs });
  const b = await rawSession({ fs });
  return { inner, store, fs, a, b };
}

async function ok(rs: RawSession, msg: TMessage): Promise<void> {
  rs.send(msg);
  const r = await rs.reply(msg.tag);
  if (r.type === "Rlerror") throw new Error(`${msg.type} failed: errno ${r.ecode}`);
}

/** Session A creates "f" on fid 1 while session B's `other` request lands in the same batch. */
async function createRacing(other: (b: RawSession) => TMessage) {
  const env = await twoSessions();
  const { store, a, b } = env;
  await ok(a, { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
  store.hold();
  a.send({ type: "Tlcreate", tag: 3, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
  const msg = other(b);
  b.send(msg);
  store.release();
  expect((await a.reply(3)).type).toBe("Rlcreate");
  expect((await b.reply(msg.tag)).type).not.toBe("Rlerror");
  return env;
}

/** A's open fid 1 still works, and once A clunks it nothing of the file is left. */
async function expectOpenFileSurvives({ inner, fs, a }: Awaited<ReturnType<typeof twoSessions>>, leftInodes: number) {
  a.send({ type: "Twrite", tag: 10, fid: 1, offset: 0, data: new TextEncoder().encode("still here, 30 bytes of data.") });
  expect(await a.reply(10)).toMatchObject({ type: "Rwrite", count: 29 });
  a.send({ type: "Tgetattr", tag: 11, fid: 1, mask: 0x3fff });
  expect(await a.reply(11)).toMatchObject({ type: "Rgetattr", attr: { size: 29, nlink: 0 } });
  a.send({ type: "Tread", tag: 12, fid: 1, offset: 0, count: 100 });
  expect(await a.reply(12)).toMatchObject({ type: "Rread", data: new TextEncoder().encode("still here, 30 bytes of data.") });
  await ok(a, { type: "Tclunk", tag: 13, fid: 1 });
  // The last clunk frees it: the inode, its data and its orphan mark are gone.
  await fs.fsck(); // runs after any reclaim queued behind the clunk
  expect(inner.debugInodeNumbers().length).toBe(leftInodes);
  expect(inner.debugStats().chunks).toBe(0);
  expect((await fs.fsck()).problems).toEqual([]);
}

describe("a file created and unlinked in one batch (issue 8.1)", () => {
  it("Tlcreate and another session's Tunlinkat: the creator's open fid keeps the file until its clunk", async () => {
    const env = await createRacing(() => ({ type: "Tunlinkat", tag: 4, dirfid: 0, name: "f", flags: 0 }));
    await expectOpenFileSurvives(env, 1);
  });

  it("Tlcreate and another session's rename over the new name: the creator's fid keeps the replaced file", async () => {
    const env = await twoSessions();
    const { store, a, b } = env;
    await ok(b, { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    await ok(b, { type: "Tlcreate", tag: 3, fid: 1, name: "h", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    await ok(b, { type: "Tclunk", tag: 4, fid: 1 });
    await ok(a, { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    store.hold();
    a.send({ type: "Tlcreate", tag: 3, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    b.send({ type: "Trenameat", tag: 5, olddirfid: 0, oldname: "h", newdirfid: 0, newname: "f" });
    store.release();
    expect((await a.reply(3)).type).toBe("Rlcreate");
    expect((await b.reply(5)).type).toBe("Rrenameat");
    await expectOpenFileSurvives(env, 2);
  });

  it("a create redone after its batch failed holds one reference; a flushed one holds none", async () => {
    const { store, fs } = await twoSessions();
    store.hold();
    const created = fs.create(ROOT_INO, "f", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, ctx);
    // A writer after it in the same batch fails after writing: the batch is undone and the create runs again.
    const failing = store.transaction("readwrite", async (tx) => {
      await tx.putMeta("scratch", 1);
      throw new Error("fails after writing");
    });
    store.release();
    const r = await created;
    await expect(failing).rejects.toThrow("fails after writing");
    expect(fs.references(r.ino)).toBe(1);
    await fs.release(r.ino);
    expect(fs.references(r.ino)).toBe(0);

    store.hold();
    const ac = new AbortController();
    const flushed = fs.create(ROOT_INO, "g", OpenFlags.CREAT | OpenFlags.RDWR, 0o644, 0, 0, { signal: ac.signal });
    // Flushed after its body ran, before the batch commits.
    const aborter = store.transaction("readwrite", async () => void ac.abort());
    store.release();
    await expect(flushed).rejects.toMatchObject({ name: "AbortError" });
    await aborter;
    expect(fs.references(r.ino + 1)).toBe(0);
    expect((await fs.walk(ROOT_INO, ["g"], ctx).catch((e: { errno: number }) => e.errno))).toBe(2);
  });
});

describe("a file walked to while another session unlinks it (issue 8.1)", () => {
  it("the walker's fid keeps the file when the unlink body ran before the walk's transaction completed", async () => {
    const env = await twoSessions();
    const { store, a, b } = env;
    await ok(b, { type: "Twalk", tag: 2, fid: 0, newfid: 1, names: [] });
    await ok(b, { type: "Tlcreate", tag: 3, fid: 1, name: "f", flags: OpenFlags.RDWR, mode: 0o644, gid: 0 });
    await ok(b, { type: "Tclunk", tag: 4, fid: 1 });
    const parked = store.holdReaders();
    a.send({ type: "Twalk", tag: 2, fid: 0, newfid: 1, names: ["f"] }); // reads "f" now, completes later
    b.send({ type: "Tunlinkat", tag: 5, dirfid: 0, name: "f", flags: 0 });
    await parked; // the unlink body has run and waits to commit
    store.releaseReaders();
    expect((await a.reply(2)).type).toBe("Rwalk");
    expect((await b.reply(5)).type).toBe("Runlinkat");
    await ok(a, { type: "Tlopen", tag: 3, fid: 1, flags: OpenFlags.RDWR });
    await expectOpenFileSurvives(env, 1);
  });
});
