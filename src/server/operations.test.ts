// The operations as a 9P client sees them through the server: fids, xattrs, locks, renames.
import { describe, expect, it } from "vitest";
import { Client } from "../client/client.js";
import { inProcessTransport } from "../client/transports.js";
import { LockFlags, LockStatus, LockType, OpenFlags, XattrFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { FileSystemApi } from "../fs/types.js";
import { Server } from "./server.js";
import { memoryFs } from "./test-harness.js";

async function setup(fs?: FileSystemApi): Promise<{ server: Server; a: Client; b: Client }> {
  const server = new Server(fs ?? (await memoryFs()), { onInternalError: (e) => { throw e; } });
  const a = await Client.connect(inProcessTransport(server));
  const b = await Client.connect(inProcessTransport(server));
  return { server, a, b };
}

/** A memory tree that says when a blocked Tlock starts waiting for the locks to change: `waits(n)` resolves at the n-th wait. */
async function lockWaitTree(): Promise<{ fs: FileSystemApi; waits: (n: number) => Promise<void> }> {
  const inner = await memoryFs();
  const fs = Object.create(inner) as FileSystemApi;
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  fs.waitForLockChange = (ino, signal) => {
    count++;
    for (const w of waiters.filter((x) => count >= x.n)) w.resolve();
    return inner.waitForLockChange(ino, signal);
  };
  return { fs, waits: (n) => (count >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))) };
}

const text = (d: Uint8Array) => new TextDecoder().decode(d);
const bytes = (s: string) => new TextEncoder().encode(s);

describe("operations through 9P", () => {
  it("walk: partial walks return the qids they managed and create no fid; '..' at the root stays there", async () => {
    const { a } = await setup();
    await a.mkdir("d");
    const r = await a.request({ type: "Twalk", fid: a.root, newfid: 50, names: ["d", "missing", "x"] });
    expect(r.qids).toHaveLength(1);
    await expect(a.request({ type: "Tgetattr", fid: 50, mask: 1 })).rejects.toMatchObject({ errno: Errno.EBADF });
    const up = await a.request({ type: "Twalk", fid: a.root, newfid: 51, names: ["..", ".."] });
    const root = await a.request({ type: "Tgetattr", fid: a.root, mask: 0x7ff });
    expect(up.qids[1]).toEqual(root.attr.qid);
    await expect(a.request({ type: "Twalk", fid: a.root, newfid: 51, names: [] })).rejects.toMatchObject({ errno: Errno.EBADF });
  });

  it("O_APPEND fids write at the end whatever the offset", async () => {
    const { a } = await setup();
    await a.writeFile("log", "one\n");
    const fid = await a.open("log", OpenFlags.WRONLY | OpenFlags.APPEND);
    await a.write(fid, 0, bytes("two\n"));
    await a.clunk(fid);
    expect(text(await a.readFile("log"))).toBe("one\ntwo\n");
  });

  it("an unlinked file stays readable and writable through its open fid until clunked", async () => {
    const { a, b } = await setup();
    await a.writeFile("tmp", "keep me");
    const fid = await a.open("tmp", OpenFlags.RDWR);
    await b.unlink("tmp");
    await expect(b.stat("tmp")).rejects.toMatchObject({ errno: Errno.ENOENT });
    await a.write(fid, 7, bytes("!"));
    expect(text(await a.read(fid, 0, 100))).toBe("keep me!");
    const attr = await a.request({ type: "Tgetattr", fid, mask: 0x7ff });
    expect(attr.attr.nlink).toBe(0);
    await a.clunk(fid);
  });

  it("fids follow renamed files, and Tremove uses the new name", async () => {
    const { a, b } = await setup();
    await a.writeFile("old", "data");
    const { fid } = await a.walk("old");
    await b.rename("old", "new");
    const got = await a.request({ type: "Tgetattr", fid, mask: 0x7ff });
    expect(got.attr.size).toBe(4);
    await a.request({ type: "Tremove", fid });
    await expect(b.stat("new")).rejects.toMatchObject({ errno: Errno.ENOENT });
  });

  it("xattrs: set via xattrcreate+write+clunk, read and listed via xattrwalk, ENODATA when absent, removed with size 0", async () => {
    const { a } = await setup();
    await a.writeFile("f", "x");
    const { fid } = await a.walk("f");
    await a.request({ type: "Txattrcreate", fid, name: "user.color", size: 4, flags: 0 });
    await a.write(fid, 0, bytes("blue"));
    await a.clunk(fid);

    const { fid: g } = await a.walk("f");
    const w = await a.request({ type: "Txattrwalk", fid: g, newfid: 90, name: "user.color" });
    expect(w.size).toBe(4);
    expect(text(await a.read(90, 0, 100))).toBe("blue");
    await a.clunk(90);
    const l = await a.request({ type: "Txattrwalk", fid: g, newfid: 91, name: "" });
    expect(text(await a.read(91, 0, l.size))).toBe("user.color\0");
    await a.clunk(91);
    await expect(a.request({ type: "Txattrwalk", fid: g, newfid: 92, name: "user.none" })).rejects.toMatchObject({ errno: Errno.ENODATA });

    const { fid: h } = await a.walk("f");
    await a.request({ type: "Txattrcreate", fid: h, name: "user.color", size: 0, flags: XattrFlags.REPLACE });
    await a.clunk(h);
    await expect(a.request({ type: "Txattrwalk", fid: g, newfid: 93, name: "user.color" })).rejects.toMatchObject({ errno: Errno.ENODATA });
  });

  it("an xattr value left incomplete at clunk is refused and not applied", async () => {
    const { a } = await setup();
    await a.writeFile("f", "x");
    const { fid } = await a.walk("f");
    await a.request({ type: "Txattrcreate", fid, name: "user.k", size: 10, flags: 0 });
    await a.write(fid, 0, bytes("abc"));
    await expect(a.clunk(fid)).rejects.toMatchObject({ errno: Errno.EINVAL });
    const { fid: g } = await a.walk("f");
    await expect(a.request({ type: "Txattrwalk", fid: g, newfid: 70, name: "user.k" })).rejects.toMatchObject({ errno: Errno.ENODATA });
  });

  it("POSIX locks conflict across sessions; Tgetlock reports the holder; clunk releases", async () => {
    const { a, b } = await setup();
    await a.writeFile("lockme", "0123456789");
    const fa = await a.open("lockme", OpenFlags.RDWR);
    const fb = await b.open("lockme", OpenFlags.RDWR);
    const lock = (type: number, start: number, length: number, procId: number) => ({ type, flags: 0, start, length, procId, clientId: "host" });
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.WRLCK, 0, 5, 100) })).status).toBe(LockStatus.SUCCESS);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 3, 5, 200) })).status).toBe(LockStatus.BLOCKED);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 5, 5, 200) })).status).toBe(LockStatus.SUCCESS);
    const g = await b.request({ type: "Tgetlock", fid: fb, lock: { type: LockType.RDLCK, start: 0, length: 0, procId: 200, clientId: "host" } });
    expect(g.lock).toMatchObject({ type: LockType.WRLCK, start: 0, length: 5, procId: 100, clientId: "host" });
    await a.clunk(fa);
    expect((await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 0, 0, 200) })).status).toBe(LockStatus.SUCCESS);
  });

  it("a blocking Tlock waits for the holder to unlock, and a flushed one leaves no lock behind", async () => {
    const { fs, waits } = await lockWaitTree();
    const { a, b } = await setup(fs);
    await a.writeFile("wait", "x");
    const fa = await a.open("wait", OpenFlags.RDWR);
    const fb = await b.open("wait", OpenFlags.RDWR);
    const lock = (type: number, procId: number, flags = 0) => ({ type, flags, start: 0, length: 0, procId, clientId: "h" });
    expect((await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.WRLCK, 1) })).status).toBe(LockStatus.SUCCESS);
    let granted = false;
    const waiting = b.request({ type: "Tlock", fid: fb, lock: lock(LockType.WRLCK, 2, LockFlags.BLOCK) }).then((r) => {
      granted = true;
      return r.status;
    });
    // Either b's Tlock waits for the lock to change (as it must), or it was answered: no clock decides.
    await Promise.race([waits(1), waiting]);
    expect(granted).toBe(false);
    await a.request({ type: "Tlock", fid: fa, lock: lock(LockType.UNLCK, 1) });
    expect(await waiting).toBe(LockStatus.SUCCESS);

    // Now b holds it; a blocks, then gives up (Tflush): no reply, and no lock for a.
    const ac = new AbortController();
    const blocked = a.request({ type: "Tlock", fid: fa, lock: lock(LockType.WRLCK, 1, LockFlags.BLOCK) }, ac.signal);
    await Promise.race([waits(2), blocked]); // waiting for the lock: the Tflush finds it there
    ac.abort();
    await expect(blocked).rejects.toMatchObject({ name: "AbortError" });
    await b.request({ type: "Tlock", fid: fb, lock: lock(LockType.UNLCK, 2) });
    const g = await b.request({ type: "Tgetlock", fid: fb, lock: { type: LockType.WRLCK, start: 0, length: 0, procId: 2, clientId: "h" } });
    expect(g.lock.type).toBe(LockType.UNLCK);
  });

  it("readdir pages with stable cookies while entries are added and removed", async () => {
    const { a, b } = await setup();
    await a.mkdir("big");
    for (let i = 0; i < 300; i++) await a.writeFile(`big/f${i}`, "");
    const fid = await a.open("big", OpenFlags.RDONLY | OpenFlags.DIRECTORY);
    const seen: string[] = [];
    let offset = 0;
    let round = 0;
    for (;;) {
      const r = await a.request({ type: "Treaddir", fid, offset, count: 600 });
      const { decodeDirEntries } = await import("../protocol/codec.js");
      const entries = decodeDirEntries(r.data);
      if (entries.length === 0) break;
      seen.push(...entries.map((e) => e.name));
      offset = entries[entries.length - 1]!.offset;
      if (round++ === 1) {
        await b.unlink("big/f299");
        await b.writeFile("big/late", "");
      }
    }
    const names = new Set(seen);
    expect(seen.length).toBe(names.size);
    for (let i = 0; i < 299; i++) expect(names.has(`f${i}`)).toBe(true);
    expect(names.has("f299")).toBe(false);
    expect(names.has("late")).toBe(true);
  });

  it("Tstatfs, Tfsync and Treadlink answer", async () => {
    const { a } = await setup();
    const { fid } = await a.walk("");
    const s = await a.request({ type: "Tstatfs", fid });
    expect(s.stat.namelen).toBe(255);
    expect(s.stat.bsize).toBeGreaterThan(0);
    await a.request({ type: "Tsymlink", fid, name: "ln", target: "/some/where", gid: 0 });
    const { fid: l } = await a.walk("ln");
    expect((await a.request({ type: "Treadlink", fid: l })).target).toBe("/some/where");
    await a.writeFile("f", "x");
    const f = await a.open("f", OpenFlags.RDWR);
    await a.request({ type: "Tfsync", fid: f, datasync: 0 });
  });
});
