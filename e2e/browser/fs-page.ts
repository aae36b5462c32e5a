/**
 * Page-side (main thread) scenarios for e2e/browser-9p.test.ts and the browser
 * benchmark: everything goes through the public page API — createFileServer()
 * (the dedicated worker of worker/browser.ts), connect() and the project's 9P
 * Client over portTransport. Node calls an export by name (see fs-call.ts):
 *
 *   await callInPage(page, "opsSuite", { storage: "opfs", name: "t1" });
 *
 * Each scenario returns a structured-cloneable report; checks made in the page
 * come back as `problems` (empty when everything held).
 */
import { Client, createFileServer, FsError, listTrees, portTransport, type FileServer, type StorageKind } from "../../src/index.js";
import { decodeDirEntries, decodeMessage, encodeMessage } from "../../src/protocol/codec.js";
import { AT_REMOVEDIR, GetattrMask, Mode, NOFID, NOTAG, OpenFlags, QidType, SetattrMask, XattrFlags } from "../../src/protocol/constants.js";
import { Errno } from "../../src/protocol/errno.js";
import type { RMessage, TMessage } from "../../src/protocol/messages.js";
import { bytes } from "./test-bytes.js";

export interface TreeArg {
  storage: StorageKind;
  name: string;
}

const KiB = 1024;
const MiB = 1024 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

// ---------------------------------------------------------------- helpers


/** Index of the first difference, or -1 when equal. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function sameBytes(problems: string[], what: string, got: Uint8Array, want: Uint8Array): void {
  const d = firstDiff(got, want);
  if (d >= 0) problems.push(`${what}: ${got.length} bytes read, ${want.length} expected, first difference at ${d}`);
}

function errnoOf(e: unknown): number | undefined {
  return e instanceof FsError ? e.errno : undefined;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

async function expectErrno(problems: string[], what: string, p: Promise<unknown>, errno: number): Promise<void> {
  try {
    await p;
    problems.push(`${what}: succeeded, expected errno ${errno}`);
  } catch (e) {
    if (errnoOf(e) !== errno) problems.push(`${what}: ${describe(e)}, expected errno ${errno}`);
  }
}

function check(problems: string[], cond: boolean, what: string): void {
  if (!cond) problems.push(what);
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function connectClient(server: FileServer, msize?: number): Promise<Client> {
  return Client.connect(portTransport(server.connect()), msize !== undefined ? { msize } : {});
}

async function openTree(arg: TreeArg & { latencyMs?: number; wait?: boolean; quotaBytes?: number }): Promise<{ server: FileServer; client: Client }> {
  const server = await createFileServer({
    storage: arg.storage,
    name: arg.name,
    ...(arg.latencyMs !== undefined ? { latencyMs: arg.latencyMs } : {}),
    ...(arg.wait !== undefined ? { wait: arg.wait } : {}),
    ...(arg.quotaBytes !== undefined ? { quotaBytes: arg.quotaBytes } : {}),
  });
  try {
    return { server, client: await connectClient(server) };
  } catch (e) {
    await server.close();
    throw e;
  }
}

/** Servers left open on purpose (a reload or crash is what ends them). */
const kept: FileServer[] = [];

async function fsckProblems(server: FileServer): Promise<string[]> {
  const r = await server.control.fsck();
  return r.ok ? [] : r.problems.map((p) => `fsck: ${p}`);
}

async function names(c: Client, dir: string): Promise<string[]> {
  return (await c.readdir(dir)).map((e) => e.name).filter((n) => n !== "." && n !== "..").sort();
}

async function symlink(c: Client, dir: string, name: string, target: string): Promise<void> {
  const { fid } = await c.walk(dir);
  try {
    await c.request({ type: "Tsymlink", fid, name, target, gid: 0 });
  } finally {
    await c.clunk(fid);
  }
}

async function readlink(c: Client, path: string): Promise<string> {
  const { fid } = await c.walk(path);
  try {
    return (await c.request({ type: "Treadlink", fid })).target;
  } finally {
    await c.clunk(fid);
  }
}

/** setxattr(2) the 9P2000.L way: Txattrcreate turns the fid into an xattr fid, Twrite fills it, Tclunk commits. */
async function setxattr(c: Client, path: string, name: string, value: Uint8Array, flags = 0): Promise<void> {
  const { fid } = await c.walk(path);
  let clunked = false;
  try {
    await c.request({ type: "Txattrcreate", fid, name, size: value.length, flags });
    if (value.length > 0) await c.write(fid, 0, value);
    clunked = true;
    await c.clunk(fid);
  } finally {
    if (!clunked) await c.clunk(fid).catch(() => {});
  }
}

/** getxattr(2) (or listxattr with name ""): Txattrwalk gives the size, Tread the value. */
async function getxattr(c: Client, path: string, name: string): Promise<Uint8Array> {
  const { fid } = await c.walk(path);
  try {
    const x = c.allocFid();
    const r = await c.request({ type: "Txattrwalk", fid, newfid: x, name });
    try {
      return (await c.read(x, 0, r.size)).slice();
    } finally {
      await c.clunk(x);
    }
  } finally {
    await c.clunk(fid);
  }
}

async function fsync(c: Client, fid: number): Promise<void> {
  await c.request({ type: "Tfsync", fid, datasync: 0 });
}

// ---------------------------------------------------------------- the 9P operations

/** Every operation the brief lists, with data checks; leaves the tree closed. */
export async function opsSuite(arg: TreeArg): Promise<{ problems: string[]; notes: Record<string, unknown> }> {
  const problems: string[] = [];
  const notes: Record<string, unknown> = {};
  const { server, client: c } = await openTree(arg);
  try {
    // mkdir, nested
    const q = await c.mkdir("dir");
    check(problems, (q.type & QidType.DIR) !== 0, "mkdir qid is not a directory");
    await c.mkdir("dir/sub", 0o750);
    await expectErrno(problems, "mkdir of an existing name", c.mkdir("dir"), Errno.EEXIST);
    const subAttr = await c.stat("dir/sub");
    check(problems, (subAttr.mode & Mode.IFMT) === Mode.IFDIR && (subAttr.mode & Mode.PERM) === 0o750, `dir/sub mode ${subAttr.mode.toString(8)}`);
    check(problems, (await c.stat("dir")).nlink === 3, "dir nlink is not 3 with one subdirectory");

    // create / write / read, small
    await c.writeFile("dir/hello.txt", "hello, 9P");
    check(problems, dec.decode(await c.readFile("dir/hello.txt")) === "hello, 9P", "small file content");
    await expectErrno(problems, "create O_EXCL of an existing file", c.create("dir/hello.txt", OpenFlags.RDWR | OpenFlags.CREAT | OpenFlags.EXCL), Errno.EEXIST);
    await expectErrno(problems, "open of a missing file", c.open("dir/nope"), Errno.ENOENT);

    // a multi-MiB file: several Twrites of msize, several chunks
    const bigLen = 6 * MiB + 123;
    const big = bytes(bigLen, 42);
    let t = performance.now();
    await c.writeFile("big.bin", big);
    notes.bigWriteMs = round(performance.now() - t);
    t = performance.now();
    sameBytes(problems, "big.bin", await c.readFile("big.bin"), big);
    notes.bigReadMs = round(performance.now() - t);
    check(problems, (await c.stat("big.bin")).size === bigLen, "big.bin size");
    // overwrite an unaligned range in the middle, read a window around it back
    const patch = bytes(512 * KiB + 5, 43);
    const patchAt = 1.5 * MiB + 3;
    {
      const fid = await c.open("big.bin", OpenFlags.RDWR);
      await c.writeAll(fid, patchAt, patch);
      big.set(patch, patchAt);
      const from = patchAt - 4099;
      const got = await c.read(fid, from, 600 * KiB);
      sameBytes(problems, "big.bin window after overwrite", got, big.subarray(from, from + 600 * KiB));
      // a read past EOF is empty, one across it is short
      check(problems, (await c.read(fid, bigLen + 10, 100)).length === 0, "read past EOF not empty");
      check(problems, (await c.read(fid, bigLen - 10, 100)).length === 10, "read across EOF not short");
      await c.clunk(fid);
    }
    sameBytes(problems, "big.bin after overwrite", await c.readFile("big.bin"), big);

    // a sparse write: the hole reads as zeros
    const sparseAt = 3 * MiB + 7;
    const tail = bytes(1000, 44);
    {
      const { fid } = await c.create("sparse.bin");
      await c.write(fid, 10, enc.encode("head"));
      check(problems, (await c.write(fid, sparseAt, tail)) === tail.length, "sparse write count");
      await c.clunk(fid);
    }
    const sAttr = await c.stat("sparse.bin");
    check(problems, sAttr.size === sparseAt + tail.length, `sparse.bin size ${sAttr.size}`);
    notes.sparseBlocks = sAttr.blocks;
    // Only the chunks written take space: far less than the size.
    check(problems, sAttr.blocks * 512 < sAttr.size / 2, `sparse.bin takes ${sAttr.blocks} blocks for ${sAttr.size} bytes`);
    {
      const want = new Uint8Array(sparseAt + tail.length);
      want.set(enc.encode("head"), 10);
      want.set(tail, sparseAt);
      sameBytes(problems, "sparse.bin", await c.readFile("sparse.bin"), want);
    }

    // readdir
    const rootNames = await names(c, "");
    check(problems, JSON.stringify(rootNames) === JSON.stringify(["big.bin", "dir", "sparse.bin"]), `root lists ${JSON.stringify(rootNames)}`);
    const dirEntries = await c.readdir("dir");
    const dotted = dirEntries.map((e) => e.name).sort();
    check(problems, JSON.stringify(dotted) === JSON.stringify([".", "..", "hello.txt", "sub"]), `dir lists ${JSON.stringify(dotted)}`);
    // many entries, over more than one Treaddir
    for (let i = 0; i < 300; i++) await c.mkdir(`dir/sub/d${String(i).padStart(3, "0")}`);
    {
      const fid = await c.open("dir/sub", OpenFlags.RDONLY | OpenFlags.DIRECTORY);
      const seen: string[] = [];
      let offset = 0;
      let calls = 0;
      for (;;) {
        const r = await c.request({ type: "Treaddir", fid, offset, count: 2048 });
        const es = decodeDirEntries(r.data);
        if (es.length === 0) break;
        calls++;
        seen.push(...es.map((e) => e.name));
        offset = es[es.length - 1]!.offset;
      }
      await c.clunk(fid);
      const real = seen.filter((n) => n !== "." && n !== "..");
      check(problems, real.length === 300 && new Set(real).size === 300, `small-count readdir saw ${real.length} names (${new Set(real).size} distinct)`);
      check(problems, calls > 1, "small-count readdir took one call");
    }

    // rename: within a directory, across directories, over an existing file
    await c.rename("dir/hello.txt", "dir/greeting.txt");
    await expectErrno(problems, "stat of the old name after rename", c.stat("dir/hello.txt"), Errno.ENOENT);
    check(problems, dec.decode(await c.readFile("dir/greeting.txt")) === "hello, 9P", "renamed file content");
    await c.rename("dir/greeting.txt", "dir/sub/moved.txt");
    check(problems, (await names(c, "dir")).join() === "sub", "dir after moving its file out");
    await c.writeFile("victim.txt", "to be replaced");
    await c.rename("dir/sub/moved.txt", "victim.txt");
    check(problems, dec.decode(await c.readFile("victim.txt")) === "hello, 9P", "rename over an existing file");
    await expectErrno(problems, "rename of a directory into itself", c.rename("dir", "dir/sub/inner"), Errno.EINVAL);

    // unlink and rmdir
    await c.unlink("victim.txt");
    await expectErrno(problems, "stat after unlink", c.stat("victim.txt"), Errno.ENOENT);
    await expectErrno(problems, "rmdir of a non-empty directory", c.unlink("dir/sub", AT_REMOVEDIR), Errno.ENOTEMPTY);
    await c.mkdir("empty");
    await c.unlink("empty", AT_REMOVEDIR);
    await expectErrno(problems, "stat after rmdir", c.stat("empty"), Errno.ENOENT);
    // an open file that is unlinked stays readable through its fid
    {
      await c.writeFile("ghost.txt", "still here");
      const fid = await c.open("ghost.txt");
      await c.unlink("ghost.txt");
      check(problems, dec.decode(await c.read(fid, 0, 100)) === "still here", "unlinked open file not readable through its fid");
      await c.clunk(fid);
    }

    // symlink / readlink (Tsymlink and Treadlink through request)
    await symlink(c, "dir", "link", "../big.bin");
    check(problems, (await readlink(c, "dir/link")) === "../big.bin", "readlink target");
    const lAttr = await c.stat("dir/link");
    check(problems, (lAttr.mode & Mode.IFMT) === Mode.IFLNK, `symlink mode ${lAttr.mode.toString(8)}`);
    check(problems, lAttr.size === "../big.bin".length, `symlink size ${lAttr.size}`);
    await expectErrno(problems, "symlink over an existing name", symlink(c, "dir", "link", "x"), Errno.EEXIST);

    // setattr / stat: mode, truncate (down and up), times
    await c.writeFile("attr.txt", bytes(300 * KiB, 45));
    await c.setattr("attr.txt", { valid: SetattrMask.MODE, mode: 0o600 });
    check(problems, ((await c.stat("attr.txt")).mode & Mode.PERM) === 0o600, "chmod 600");
    await c.setattr("attr.txt", { valid: SetattrMask.SIZE, size: 1000 });
    {
      const a = await c.stat("attr.txt");
      check(problems, a.size === 1000, `truncate down: size ${a.size}`);
      sameBytes(problems, "attr.txt after truncate", await c.readFile("attr.txt"), bytes(300 * KiB, 45).subarray(0, 1000));
    }
    await c.setattr("attr.txt", { valid: SetattrMask.SIZE, size: 200 * KiB });
    {
      const want = new Uint8Array(200 * KiB);
      want.set(bytes(300 * KiB, 45).subarray(0, 1000));
      sameBytes(problems, "attr.txt after truncate up", await c.readFile("attr.txt"), want);
    }
    await c.setattr("attr.txt", {
      valid: SetattrMask.MTIME | SetattrMask.MTIME_SET | SetattrMask.ATIME | SetattrMask.ATIME_SET,
      mtime: { sec: 1_234_567_890, nsec: 5 },
      atime: { sec: 1_000_000_000, nsec: 0 },
    });
    {
      const a = await c.stat("attr.txt");
      check(problems, a.mtime.sec === 1_234_567_890 && a.mtime.nsec === 5, `mtime ${JSON.stringify(a.mtime)}`);
      check(problems, a.atime.sec === 1_000_000_000, `atime ${JSON.stringify(a.atime)}`);
      check(problems, (a.valid & GetattrMask.BASIC) === GetattrMask.BASIC, `getattr valid ${a.valid.toString(16)}`);
    }

    // xattrs: set, get, list, replace, remove
    await setxattr(c, "attr.txt", "user.color", enc.encode("blue"));
    await setxattr(c, "dir", "user.big", bytes(10_000, 46));
    check(problems, dec.decode(await getxattr(c, "attr.txt", "user.color")) === "blue", "getxattr user.color");
    sameBytes(problems, "getxattr user.big", await getxattr(c, "dir", "user.big"), bytes(10_000, 46));
    check(problems, dec.decode(await getxattr(c, "attr.txt", "")) === "user.color\0", "listxattr");
    await setxattr(c, "attr.txt", "user.color", enc.encode("green"), XattrFlags.REPLACE);
    check(problems, dec.decode(await getxattr(c, "attr.txt", "user.color")) === "green", "getxattr after replace");
    await expectErrno(problems, "XATTR_CREATE of an existing xattr", setxattr(c, "attr.txt", "user.color", enc.encode("x"), XattrFlags.CREATE), Errno.EEXIST);
    await expectErrno(problems, "getxattr of a missing name", getxattr(c, "attr.txt", "user.none"), Errno.ENODATA);
    await setxattr(c, "attr.txt", "user.color", new Uint8Array(0), XattrFlags.REPLACE);
    await expectErrno(problems, "getxattr after removal", getxattr(c, "attr.txt", "user.color"), Errno.ENODATA);

    // fsync on a file just written, and on a directory
    {
      const { fid } = await c.create("synced.txt");
      await c.write(fid, 0, enc.encode("durable"));
      await fsync(c, fid);
      await c.clunk(fid);
      const { fid: d } = await c.walk("dir");
      await fsync(c, d);
      await c.clunk(d);
      check(problems, dec.decode(await c.readFile("synced.txt")) === "durable", "fsynced file content");
    }

    // Two sessions writing interleaved, unaligned ranges of one file at once,
    // several requests in flight each: partial chunks are read-modified-written
    // by concurrent transactions, and no update may be lost.
    {
      const c2 = await connectClient(server);
      const piece = 100_003;
      const pieces = 40;
      const want = new Uint8Array(piece * pieces);
      for (let i = 0; i < pieces; i++) want.set(bytes(piece, 500 + i), i * piece);
      const { fid: fa } = await c.create("shared.bin");
      const fb = await c2.open("shared.bin", OpenFlags.RDWR);
      const writer = async (cl: Client, fid: number, parity: number) => {
        const mine = Array.from({ length: pieces / 2 }, (_, k) => 2 * k + parity);
        let next = 0;
        const lane = async () => {
          while (next < mine.length) {
            const i = mine[next++]!;
            await cl.write(fid, i * piece, want.subarray(i * piece, (i + 1) * piece));
          }
        };
        await Promise.all([lane(), lane(), lane(), lane()]);
      };
      await Promise.all([writer(c, fa, 0), writer(c2, fb, 1)]);
      await c.clunk(fa);
      await c2.clunk(fb);
      sameBytes(problems, "shared.bin written by two sessions at once", await c2.readFile("shared.bin"), want);
      c2.close();
    }

    // statfs answers
    {
      const { fid } = await c.walk("");
      const s = (await c.request({ type: "Tstatfs", fid })).stat;
      check(problems, s.bsize > 0 && s.namelen > 0, `statfs ${JSON.stringify(s)}`);
      await c.clunk(fid);
    }

    problems.push(...(await fsckProblems(server)));
    const stats = await server.control.stats();
    notes.requests = stats.requests.requests;
    notes.chunkSize = stats.chunkSize;
    check(problems, stats.requests.inFlight === 0, `${stats.requests.inFlight} requests still in flight`);
  } catch (e) {
    problems.push(`threw ${describe(e)}`);
  } finally {
    c.close();
    await server.close();
  }
  return { problems, notes };
}

// ---------------------------------------------------------------- persistence

/** The tree persistWrite leaves and persistVerify expects. */
function persistFiles(): { path: string; data: Uint8Array }[] {
  return [
    { path: "a.txt", data: enc.encode("alpha") },
    { path: "docs/one.bin", data: bytes(3 * MiB + 17, 1) },
    { path: "docs/deep/two.bin", data: bytes(70_000, 2) },
    { path: "docs/deep/empty", data: new Uint8Array(0) },
    { path: "renamed.bin", data: bytes(200_000, 3) },
  ];
}

/** Write a tree and leave the server open: the reload that follows kills its worker. */
export async function persistWrite(arg: TreeArg): Promise<{ ok: true }> {
  const { server, client: c } = await openTree(arg);
  await c.mkdir("docs");
  await c.mkdir("docs/deep");
  for (const f of persistFiles()) await c.writeFile(f.path === "renamed.bin" ? "tmp.bin" : f.path, f.data);
  await c.rename("tmp.bin", "renamed.bin");
  await c.writeFile("gone.txt", "deleted");
  await c.unlink("gone.txt");
  await symlink(c, "docs", "ln", "deep/two.bin");
  await setxattr(c, "a.txt", "user.k", enc.encode("v"));
  await c.setattr("a.txt", { valid: SetattrMask.MODE, mode: 0o640 });
  kept.push(server);
  return { ok: true };
}

export async function persistVerify(arg: TreeArg): Promise<{ problems: string[]; openMs: number }> {
  const problems: string[] = [];
  const t0 = performance.now();
  const { server, client: c } = await openTree(arg);
  const openMs = round(performance.now() - t0);
  try {
    for (const f of persistFiles()) sameBytes(problems, f.path, await c.readFile(f.path), f.data);
    check(problems, (await names(c, "")).join() === "a.txt,docs,renamed.bin", `root lists ${(await names(c, "")).join()}`);
    check(problems, (await names(c, "docs")).join() === "deep,ln,one.bin", `docs lists ${(await names(c, "docs")).join()}`);
    check(problems, (await readlink(c, "docs/ln")) === "deep/two.bin", "symlink target");
    check(problems, dec.decode(await getxattr(c, "a.txt", "user.k")) === "v", "xattr");
    check(problems, ((await c.stat("a.txt")).mode & Mode.PERM) === 0o640, "mode");
    problems.push(...(await fsckProblems(server)));
    const trees = await listTrees();
    check(problems, trees.some((t) => t.storage === arg.storage && t.name === arg.name), `listTrees() does not list the tree: ${JSON.stringify(trees)}`);
  } catch (e) {
    problems.push(`threw ${describe(e)}`);
  } finally {
    c.close();
    await server.close();
  }
  return { problems, openMs };
}

// ---------------------------------------------------------------- Tflush of a slow write

export interface FlushReport {
  problems: string[];
  errorName: string;
  rejectedAfterMs: number;
  contentAfter: string;
  stats: Record<string, number>;
}

/** How a promise settled, as a test reports it: "resolved", or "rejected: " and the error. */
function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "resolved",
    (e: unknown) => `rejected: ${describe(e)}`,
  );
}

/**
 * Waits until the tree's server has `n` requests in flight (each stats() is a round trip: no clock).
 * Throws once `request` settled first (it did not wait in the server: the stuck* hold is broken),
 * or past a cap: without these, the loop would spin on stats() for the page's whole life.
 */
async function untilInFlight(server: FileServer, n: number, request: Promise<unknown>): Promise<void> {
  let settled = false;
  void request.then(
    () => (settled = true),
    () => (settled = true),
  );
  const deadline = performance.now() + 20_000;
  while ((await server.control.stats()).requests.inFlight < n) {
    if (settled) throw new Error("the request settled before the server had it in flight: it did not wait there");
    if (performance.now() > deadline) throw new Error(`the server did not have ${n} request(s) in flight within 20 s`);
  }
}

/**
 * A write through a stuck* name (it waits in the server until its request is aborted), aborted
 * once the server has it: the Client's Tflush must cancel it there. No clock decides whether the
 * abort comes while the write waits.
 */
export async function flushStuckWrite(arg: TreeArg): Promise<FlushReport> {
  const problems: string[] = [];
  const { server, client: c } = await openTree({ ...arg, latencyMs: 1 });
  let errorName = "";
  let rejectedAfterMs = -1;
  let contentAfter = "";
  try {
    await c.writeFile("data", "before");
    await c.rename("data", "stuckfile");
    const fid = await c.open("stuckfile", OpenFlags.WRONLY);
    const ac = new AbortController();
    const t0 = performance.now();
    const p = c.write(fid, 0, enc.encode("AFTER, much longer than before"), ac.signal);
    const settled = p.then(
      (n) => problems.push(`the aborted write resolved (${n} bytes)`),
      (e: unknown) => (errorName = e instanceof Error ? e.name : String(e)),
    );
    await untilInFlight(server, 1, p);
    ac.abort();
    await settled;
    rejectedAfterMs = round(performance.now() - t0);
    // Nothing of it: size and content as before, read through a name without latency.
    await c.rename("stuckfile", "data");
    const a = await c.stat("data");
    check(problems, a.size === 6, `size after the flushed write: ${a.size}`);
    contentAfter = dec.decode(await c.readFile("data"));
    await c.clunk(fid);
    // The session is still healthy: a new request on it works.
    check(problems, (await names(c, "")).join() === "data", "readdir after the flush");
    problems.push(...(await fsckProblems(server)));
    const stats = (await server.control.stats()).requests;
    return { problems, errorName, rejectedAfterMs, contentAfter, stats: { ...stats } };
  } finally {
    c.close();
    await server.close();
  }
}

// ---------------------------------------------------------------- fsynced stream, killed mid-way

const streamState = { acked: -1, error: "", running: false };
/** Called whenever streamState changes. */
let streamChanged = (): void => undefined;

function record(i: number, size: number): Uint8Array {
  const r = bytes(size, 1000 + i);
  new DataView(r.buffer).setUint32(0, i, true);
  return r;
}

/**
 * Append numbered fixed-size records to "log", each one Twrite followed by a
 * Tfsync; `streamState.acked` is the last record whose Rfsync came back (streamAcked() waits for one).
 * Runs until the page dies (or `max` records).
 */
export async function streamStart(arg: TreeArg & { recordSize: number; max: number }): Promise<{ ok: true }> {
  const { server, client: c } = await openTree(arg);
  kept.push(server);
  const { fid } = await c.create("log");
  streamState.acked = -1;
  streamState.error = "";
  streamState.running = true;
  void (async () => {
    for (let i = 0; i < arg.max; i++) {
      const n = await c.write(fid, i * arg.recordSize, record(i, arg.recordSize));
      if (n !== arg.recordSize) throw new Error(`short write ${n}`);
      await fsync(c, fid);
      streamState.acked = i;
      streamChanged();
    }
  })()
    .catch((e: unknown) => (streamState.error = describe(e)))
    .finally(() => {
      streamState.running = false;
      streamChanged();
    });
  return { ok: true };
}

/** Resolves with the stream's state once `target` records are acknowledged, or once it stopped. */
export function streamAcked(arg: { target: number }): Promise<typeof streamState> {
  return new Promise((resolve) => {
    streamChanged = () => {
      if (streamState.acked >= arg.target || !streamState.running) resolve({ ...streamState });
    };
    streamChanged();
  });
}

export async function streamVerify(arg: TreeArg & { recordSize: number; acked: number }): Promise<{ problems: string[]; records: number }> {
  const problems: string[] = [];
  const { server, client: c } = await openTree(arg);
  let records = 0;
  try {
    const data = await c.readFile("log");
    check(problems, data.length % arg.recordSize === 0, `log is ${data.length} bytes, not a whole number of records (torn write)`);
    records = Math.floor(data.length / arg.recordSize);
    check(problems, records > arg.acked, `log holds ${records} records, but record ${arg.acked} was acknowledged after fsync`);
    for (let i = 0; i < records; i++) {
      const want = record(i, arg.recordSize);
      const got = data.subarray(i * arg.recordSize, (i + 1) * arg.recordSize);
      if (firstDiff(got, want) >= 0) problems.push(`record ${i} damaged`);
    }
    problems.push(...(await fsckProblems(server)));
  } catch (e) {
    problems.push(`threw ${describe(e)}`);
  } finally {
    c.close();
    await server.close();
  }
  return { problems, records };
}

// ---------------------------------------------------------------- ENOSPC

export interface QuotaReport {
  problems: string[];
  filesWritten: number;
  bytesWritten: number;
  errno: number | undefined;
  error: string;
  deletedBeforeWriteWorked: number;
  usage?: { usage: number; quota: number };
}

/**
 * Write `fileBytes`-sized files (one Twrite each) until the server answers
 * ENOSPC; check the earlier files, delete files one at a time until a new
 * file of the same size can be written, and check everything again.
 */
export async function quotaFill(arg: TreeArg & { fileBytes: number; maxBytes: number; quotaBytes?: number }): Promise<QuotaReport> {
  const problems: string[] = [];
  const { server, client: c } = await openTree(arg);
  const report: QuotaReport = { problems, filesWritten: 0, bytesWritten: 0, errno: undefined, error: "no ENOSPC", deletedBeforeWriteWorked: -1 };
  try {
    if (c.maxIo < arg.fileBytes) throw new Error(`msize ${c.msize} cannot carry ${arg.fileBytes} bytes in one Twrite`);
    let failed = -1;
    for (let i = 0; report.bytesWritten < arg.maxBytes; i++) {
      try {
        await c.writeFile(`fill-${i}`, bytes(arg.fileBytes, i));
        report.filesWritten++;
        report.bytesWritten += arg.fileBytes;
      } catch (e) {
        report.errno = errnoOf(e);
        report.error = describe(e);
        failed = i;
        break;
      }
    }
    if (failed < 0) {
      problems.push("never got ENOSPC");
      return report;
    }
    // The failed Twrite was one transaction: none of it is there (its create may be).
    try {
      const a = await c.stat(`fill-${failed}`);
      check(problems, a.size === 0, `the file whose write failed has size ${a.size}`);
      await c.unlink(`fill-${failed}`);
    } catch (e) {
      if (errnoOf(e) !== Errno.ENOENT) problems.push(`stat of the failed file: ${describe(e)}`);
    }
    for (let i = 0; i < failed; i++) sameBytes(problems, `fill-${i} after ENOSPC`, await c.readFile(`fill-${i}`), bytes(arg.fileBytes, i));
    problems.push(...(await fsckProblems(server)).map((p) => `after ENOSPC: ${p}`));
    // Delete files one by one until a same-sized write succeeds again.
    let deleted = 0;
    const retry = `again`;
    for (;;) {
      if (deleted >= failed) {
        problems.push(`writing still fails after deleting all ${deleted} files`);
        break;
      }
      await c.unlink(`fill-${deleted}`);
      deleted++;
      try {
        await c.writeFile(retry, bytes(arg.fileBytes, 777));
        report.deletedBeforeWriteWorked = deleted;
        break;
      } catch (e) {
        if (errnoOf(e) !== Errno.ENOSPC) {
          problems.push(`write after deleting: ${describe(e)}`);
          break;
        }
      }
    }
    if (report.deletedBeforeWriteWorked > 0) sameBytes(problems, "file written after deleting", await c.readFile(retry), bytes(arg.fileBytes, 777));
    for (let i = deleted; i < failed; i++) sameBytes(problems, `fill-${i} at the end`, await c.readFile(`fill-${i}`), bytes(arg.fileBytes, i));
    problems.push(...(await fsckProblems(server)).map((p) => `at the end: ${p}`));
    if (arg.storage !== "memory") {
      const e = await navigator.storage.estimate();
      report.usage = { usage: e.usage ?? 0, quota: e.quota ?? 0 };
    }
  } catch (e) {
    problems.push(`threw ${describe(e)}`);
  } finally {
    c.close();
    await server.close();
  }
  return report;
}

export async function storageEstimate(): Promise<{ usage: number; quota: number }> {
  const e = await navigator.storage.estimate();
  return { usage: e.usage ?? 0, quota: e.quota ?? 0 };
}

// ---------------------------------------------------------------- one owner per tree

const owners = new Map<string, { server: FileServer; client: Client }>();
let waiting: { settled: boolean; error: string; startedAt: number; settledAt: number; promise: Promise<void> } | undefined;

/** Open the tree here and keep it (and write a file the other page will read). */
export async function ownerOpen(arg: TreeArg): Promise<{ ok: true }> {
  const o = await openTree(arg);
  await o.client.writeFile("owner.txt", `written by ${location.href}`);
  owners.set(arg.name, o);
  return { ok: true };
}

export async function ownerClose(arg: TreeArg): Promise<{ closeMs: number }> {
  const o = owners.get(arg.name);
  if (!o) throw new Error(`no tree ${arg.name} open in this page`);
  owners.delete(arg.name);
  const t0 = performance.now();
  o.client.close();
  await o.server.close();
  return { closeMs: round(performance.now() - t0) };
}

/** createFileServer without waiting: the error it fails with ("" if it opened). */
export async function tryOpen(arg: TreeArg): Promise<{ error: string; ms: number }> {
  const t0 = performance.now();
  try {
    const s = await createFileServer({ storage: arg.storage, name: arg.name });
    await s.close();
    return { error: "", ms: round(performance.now() - t0) };
  } catch (e) {
    return { error: describe(e), ms: round(performance.now() - t0) };
  }
}

/** Start createFileServer({ wait: true }) and return at once; waitStatus() tells how it went. */
export function waitOpenStart(arg: TreeArg): { ok: true } {
  const w = { settled: false, error: "", startedAt: performance.now(), settledAt: 0, promise: Promise.resolve() };
  w.promise = openTree({ ...arg, wait: true }).then(
    (o) => {
      owners.set(arg.name, o);
      w.settled = true;
      w.settledAt = performance.now();
    },
    (e: unknown) => {
      w.error = describe(e);
      w.settled = true;
      w.settledAt = performance.now();
    },
  );
  waiting = w;
  return { ok: true };
}

/**
 * Resolves once the waiting open's request for the tree's Web Lock is queued behind the owner's
 * (src/host/tree-host.ts names it worker9p:STORAGE:NAME), or once the open settled; then tells
 * whether it settled. Web Locks has no event for a request queuing: its state is polled, capped.
 */
export async function waitOpenQueued(arg: TreeArg): Promise<{ settled: boolean; queued: boolean }> {
  const lock = `worker9p:${arg.storage}:${arg.name}`;
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (waiting?.settled) return { settled: true, queued: false };
    const { pending = [] } = await navigator.locks.query();
    if (pending.some((l) => l.name === lock)) return { settled: waiting?.settled ?? false, queued: true };
    if (performance.now() > deadline) throw new Error(`no request for ${lock} queued within 20 s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Resolves once the waiting open settled: how it went. */
export async function waitOpenSettled(): Promise<{ settled: boolean; error: string; waitedMs: number }> {
  await waiting?.promise;
  return waitStatus();
}

export function waitStatus(): { settled: boolean; error: string; waitedMs: number } {
  if (!waiting) return { settled: false, error: "no wait started", waitedMs: 0 };
  return { settled: waiting.settled, error: waiting.error, waitedMs: round((waiting.settled ? waiting.settledAt : performance.now()) - waiting.startedAt) };
}

/** In the page that waited: read what the first owner wrote. */
export async function ownerRead(arg: TreeArg): Promise<{ text: string }> {
  const o = owners.get(arg.name);
  if (!o) throw new Error(`no tree ${arg.name} open in this page`);
  return { text: dec.decode(await o.client.readFile("owner.txt")) };
}

// ---------------------------------------------------------------- lazy mount

/**
 * Create `n` empty regular files in "many/" with Tmknod — one request per
 * file, no fid — keeping `window` requests in flight. Leaves the server open.
 */
export async function lazyPopulate(arg: TreeArg & { n: number; window: number }): Promise<{ ms: number; perSecond: number }> {
  const { server, client: c } = await openTree(arg);
  await c.mkdir("many");
  const { fid: dir } = await c.walk("many");
  const t0 = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < arg.n) {
      const i = next++;
      await c.request({ type: "Tmknod", dfid: dir, name: `f${i}`, mode: Mode.IFREG | 0o644, major: 0, minor: 0, gid: 0 });
    }
  };
  await Promise.all(Array.from({ length: arg.window }, lane));
  const ms = performance.now() - t0;
  await c.writeFile(`many/f${Math.floor(arg.n * 0.737)}`, "the one we stat");
  await c.clunk(dir);
  kept.push(server);
  return { ms: Math.round(ms), perSecond: Math.round(arg.n / (ms / 1000)) };
}

export interface LazyOpenReport {
  problems: string[];
  /** createFileServer() from call to resolve (worker start, lock, store open, mount). */
  createMs: number;
  /** The worker's own figure for open → servable. */
  workerOpenMs: number;
  /** From the server being up to the first getattr answered: connect + Tversion + Tattach + Twalk + Tgetattr. */
  firstRequestMs: number;
  /** Of which Tversion + Tattach. */
  attachMs: number;
  /** Listing all n names afterwards (not part of the limit). */
  listMs: number;
}

export async function lazyOpen(arg: TreeArg & { n: number }): Promise<LazyOpenReport> {
  const problems: string[] = [];
  const t0 = performance.now();
  const server = await createFileServer({ storage: arg.storage, name: arg.name });
  const t1 = performance.now();
  const c = await connectClient(server);
  const t2 = performance.now();
  const target = `many/f${Math.floor(arg.n * 0.737)}`;
  const { fid } = await c.walk(target);
  const attr = (await c.request({ type: "Tgetattr", fid, mask: GetattrMask.ALL })).attr;
  const t3 = performance.now();
  await c.clunk(fid);
  check(problems, attr.size === "the one we stat".length, `${target} size ${attr.size}`);
  const t4 = performance.now();
  const listed = await names(c, "many");
  const listMs = performance.now() - t4;
  check(problems, listed.length === arg.n, `many/ lists ${listed.length} names, expected ${arg.n}`);
  const stats = await server.control.stats();
  c.close();
  await server.close();
  return {
    problems,
    createMs: round(t1 - t0),
    workerOpenMs: round(stats.openMs),
    firstRequestMs: round(t3 - t1),
    attachMs: round(t2 - t1),
    listMs: Math.round(listMs),
  };
}

// ---------------------------------------------------------------- v86's handle9p hook

export async function handle9pSequence(arg: TreeArg): Promise<{ problems: string[]; replies: string[]; flush: string[] }> {
  const problems: string[] = [];
  const replies: string[] = [];
  const flush: string[] = [];
  // Latency on: stuck* names (the flush part below) wait until their request is aborted.
  const server = await createFileServer({ storage: arg.storage, name: arg.name, latencyMs: 1 });
  try {
    // Something to find, written over an ordinary session.
    const c = await connectClient(server);
    await c.writeFile("hello.txt", "hello v86\n");
    c.close();

    /**
     * One request through the hook; resolves with the raw reply v86 would copy to the guest, copied
     * inside reply() as v86 does (the buffer is reused after it). A discarded request's zero-length
     * header (zeroLengthReply: its `length` reads 0, its tag is in bytes 5–6) is its own, kept as is.
     */
    const send = (msg: TMessage): Promise<Uint8Array> =>
      new Promise((resolve) => {
        server.handle9p(encodeMessage(msg), (buf) => resolve(buf.length === 0 ? buf : buf.slice()));
      });
    const call = async (msg: TMessage): Promise<RMessage> => {
      const buf = await send(msg);
      // The reply must be one whole frame, its size field matching.
      const size = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0, true);
      if (size !== buf.length) throw new Error(`reply to ${msg.type}/${msg.tag}: size field ${size}, buffer ${buf.length}`);
      const m = decodeMessage(buf.slice()) as RMessage;
      replies.push(`${m.type}/${m.tag}`);
      return m;
    };

    const rv = await call({ type: "Tversion", tag: NOTAG, msize: 512_000, version: "9P2000.L" });
    check(problems, rv.type === "Rversion" && rv.tag === NOTAG && rv.msize === 512_000 && rv.version === "9P2000.L", `Rversion ${JSON.stringify(rv)}`);
    const ra = await call({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
    check(problems, ra.type === "Rattach" && ra.tag === 1 && (ra.qid.type & QidType.DIR) !== 0, `Rattach ${JSON.stringify(ra)}`);
    const rg = await call({ type: "Tgetattr", tag: 2, fid: 0, mask: GetattrMask.ALL });
    if (rg.type !== "Rgetattr" || rg.tag !== 2) problems.push(`root Tgetattr got ${JSON.stringify(rg)}`);
    else {
      check(problems, (rg.attr.mode & Mode.IFMT) === Mode.IFDIR, `root mode ${rg.attr.mode.toString(8)}`);
      check(problems, ra.type === "Rattach" && rg.attr.qid.path === ra.qid.path, "root getattr qid differs from the attach qid");
    }
    const rw = await call({ type: "Twalk", tag: 3, fid: 0, newfid: 1, names: ["hello.txt"] });
    check(problems, rw.type === "Rwalk" && rw.qids.length === 1, `Rwalk ${JSON.stringify(rw)}`);
    // Several in flight at once, answered by tag.
    const many = await Promise.all([4, 5, 6, 7].map((tag) => call({ type: "Tgetattr", tag, fid: 1, mask: GetattrMask.BASIC })));
    many.forEach((r, i) => {
      check(problems, r.type === "Rgetattr" && r.tag === 4 + i && r.attr.size === 10, `pipelined Tgetattr ${4 + i}: ${r.type}/${r.tag}`);
    });
    const re = await call({ type: "Tgetattr", tag: 8, fid: 99, mask: GetattrMask.BASIC });
    check(problems, re.type === "Rlerror" && re.tag === 8 && re.ecode === Errno.EBADF, `Tgetattr of an unknown fid: ${JSON.stringify(re)}`);
    const ro = await call({ type: "Tlopen", tag: 9, fid: 1, flags: OpenFlags.RDONLY });
    check(problems, ro.type === "Rlopen", `Rlopen ${ro.type}`);
    const rr = await call({ type: "Tread", tag: 10, fid: 1, offset: 0, count: 4096 });
    check(problems, rr.type === "Rread" && dec.decode(rr.data) === "hello v86\n", `Rread ${rr.type}`);
    const rc = await call({ type: "Tclunk", tag: 11, fid: 1 });
    check(problems, rc.type === "Rclunk", `Rclunk ${rc.type}`);

    // Tflush of a Twrite that waits in the server until aborted (stuck*), sent once the server has
    // it: the write's slot comes back with used length 0 (no result for the guest), before the
    // Rflush, and nothing was written. Had the flush not cancelled it, neither would come.
    await call({ type: "Twalk", tag: 12, fid: 0, newfid: 2, names: [] });
    const rl = await call({ type: "Tlcreate", tag: 13, fid: 2, name: "stuckfile", flags: OpenFlags.RDWR | OpenFlags.CREAT, mode: 0o644, gid: 0 });
    check(problems, rl.type === "Rlcreate", `Rlcreate ${rl.type}`);
    const write = send({ type: "Twrite", tag: 14, fid: 2, offset: 0, data: enc.encode("never") }).then((buf) => {
      flush.push(`Twrite/14 reply: length ${buf.length}, tag ${buf[5]! | (buf[6]! << 8)}`);
      return buf;
    });
    await untilInFlight(server, 1, write);
    const rf = send({ type: "Tflush", tag: 15, oldtag: 14 }).then((buf) => {
      flush.push(`Tflush/15 reply: ${(decodeMessage(buf.slice()) as RMessage).type}`);
    });
    const wbuf = await write;
    await rf;
    check(problems, wbuf.length === 0 && (wbuf[5]! | (wbuf[6]! << 8)) === 14, `flushed Twrite answered with ${wbuf.length} bytes`);
    check(problems, flush[0]?.startsWith("Twrite/14") === true && flush[1] === "Tflush/15 reply: Rflush", `order: ${JSON.stringify(flush)}`);
    const ga = await call({ type: "Tgetattr", tag: 14, fid: 2, mask: GetattrMask.BASIC });
    check(problems, ga.type === "Rgetattr" && ga.attr.size === 0, `stuckfile after the flushed write: ${ga.type === "Rgetattr" ? ga.attr.size : ga.type}`);
    const st = (await server.control.stats()).requests;
    check(problems, st.flushedBeforeCommit === 1, `flushedBeforeCommit ${st.flushedBeforeCommit}`);
  } catch (e) {
    problems.push(`threw ${describe(e)}`);
  } finally {
    await server.close();
  }
  return { problems, replies, flush };
}

// ---------------------------------------------------------------- close() with a request in flight

function settleWithin<T>(p: Promise<T>, ms: number): Promise<string> {
  return Promise.race([
    p.then(
      () => "resolved",
      (e: unknown) => `rejected ${describe(e)}`,
    ),
    new Promise<string>((r) => setTimeout(() => r(`still pending after ${ms} ms`), ms)),
  ]);
}

/**
 * Close the server while a Twrite waits in it (stuck*: until aborted) on a connect() session:
 * how the in-flight request and a new one on the same Client settle, and what connect() says
 * afterwards. The waits are capped only so that a hang reads as "still pending".
 */
export async function closeWithInFlight(arg: TreeArg): Promise<{ inFlight: string; afterClose: string; connectAfterClose: string; closeMs: number }> {
  const { server, client: c } = await openTree({ ...arg, latencyMs: 1 });
  const { fid } = await c.create("stuckfile");
  const w = c.write(fid, 0, enc.encode("in flight"));
  await untilInFlight(server, 1, w);
  const t0 = performance.now();
  await server.close();
  const closeMs = round(performance.now() - t0);
  const inFlight = await settleWithin(w, 10_000);
  const afterClose = await settleWithin(c.stat(""), 10_000);
  let connectAfterClose = "no error";
  try {
    server.connect();
  } catch (e) {
    connectAfterClose = describe(e);
  }
  c.close();
  return { inFlight, afterClose, connectAfterClose, closeMs };
}

/** createFileServer + one write on a tree name as given; "ok" or the error. */
export async function openNamed(arg: TreeArg): Promise<string> {
  try {
    const { server, client: c } = await openTree(arg);
    await c.writeFile("x", "y");
    c.close();
    await server.close();
    return "ok";
  } catch (e) {
    return describe(e);
  }
}

// ---------------------------------------------------------------- the tree's worker dies

export interface WorkerDeathReport {
  problems: string[];
  /** How v86's hook answered the request pending when the worker died, and one made after. */
  pendingHandle9p: string;
  laterHandle9p: string;
  /** The Client's request pending when the worker died, and one made after. */
  pendingClient: string;
  laterClient: string;
  control: string;
  connect: string;
  /** The file written before the death, read from the tree opened again. */
  reopened: string;
}

/** Rlerror's errno, or the reply's type: what the guest would see. */
function v86Answer(buf: Uint8Array): string {
  const m = decodeMessage(buf.slice()) as RMessage;
  return m.type === "Rlerror" ? `Rlerror ${m.ecode}` : m.type;
}

/**
 * The worker serving the tree dies while a request is stuck in it (stuck*: it waits until
 * aborted, so no clock decides anything), on a Client session and on v86's hook: the page ends
 * the worker with terminate(), as a crash or running out of memory would. Everything pending and
 * later must settle with an error, and the tree must open again (the dead worker's Web Locks are
 * released: the tree's, and the one the page watches).
 */
export async function workerDies(arg: TreeArg): Promise<WorkerDeathReport> {
  const problems: string[] = [];
  const worker = new Worker(new URL("../../worker/browser.ts", import.meta.url), { type: "module", name: `worker9p:${arg.name}` });
  const server = await createFileServer({ storage: arg.storage, name: arg.name, latencyMs: 1, worker });
  const c = await connectClient(server);
  await c.writeFile("kept.txt", "written before the worker died");
  const keptFid = await c.open("kept.txt", OpenFlags.RDONLY);
  await fsync(c, keptFid);
  await c.clunk(keptFid);
  const { fid } = await c.create("stuckfile");
  const pendingClient = outcome(c.write(fid, 0, enc.encode("never")));

  const v86 = (msg: TMessage) => new Promise<string>((resolve) => server.handle9p(encodeMessage(msg), (buf) => resolve(v86Answer(buf))));
  await v86({ type: "Tversion", tag: NOTAG, msize: 512_000, version: "9P2000.L" });
  await v86({ type: "Tattach", tag: 1, fid: 0, afid: NOFID, uname: "root", aname: "", nuname: 0 });
  await v86({ type: "Twalk", tag: 1, fid: 0, newfid: 1, names: ["stuckfile"] });
  await v86({ type: "Tlopen", tag: 1, fid: 1, flags: OpenFlags.RDWR });
  const pendingHandle9p = v86({ type: "Twrite", tag: 2, fid: 1, offset: 0, data: enc.encode("never") });
  // Both writes are in the server, stuck.
  await untilInFlight(server, 2, Promise.race([pendingClient, pendingHandle9p]));

  worker.terminate();
  const report: WorkerDeathReport = {
    problems,
    pendingHandle9p: await pendingHandle9p,
    pendingClient: await pendingClient,
    laterHandle9p: await v86({ type: "Tgetattr", tag: 3, fid: 0, mask: GetattrMask.BASIC }),
    laterClient: await outcome(c.stat("")),
    control: await outcome(server.control.stats()),
    connect: "no error",
    reopened: "",
  };
  try {
    server.connect();
  } catch (e) {
    report.connect = describe(e);
  }
  await server.close(); // resolves: the tree is let go of already
  c.close();
  const again = await openTree(arg);
  try {
    report.reopened = dec.decode(await again.client.readFile("kept.txt"));
    problems.push(...(await fsckProblems(again.server)));
  } finally {
    again.client.close();
    await again.server.close();
  }
  return report;
}

/** A worker whose script does not load: createFileServer rejects (instead of waiting forever). */
export async function workerFailsToLoad(arg: TreeArg): Promise<string> {
  const worker = new Worker(new URL("./no-such-worker.js", import.meta.url), { type: "module" });
  try {
    const server = await createFileServer({ storage: arg.storage, name: arg.name, worker });
    await server.close();
    return "opened";
  } catch (e) {
    return describe(e);
  }
}

export interface LateListenerReport {
  /** A control call made after the death: settles once the page has seen it. */
  control: string;
  /** A Client built on a port connect()ed before the death, only after it. */
  client: string;
  /** What a listener added (then start()) after the death receives first. */
  addEventListener: string;
  /** What an onmessage handler set after the death receives first. */
  onmessage: string;
}

/**
 * Ports handed out by connect() before the worker died, listened to only after the page saw it
 * die: each hears PORT_CLOSED all the same, as it would have had the server sent it (a real
 * message waits in the port's queue until it is started). Before, the page dispatched it once,
 * to the listeners there were, and closed the port: a later listener waited forever.
 */
export async function workerDiesBeforeListening(arg: TreeArg): Promise<LateListenerReport> {
  const worker = new Worker(new URL("../../worker/browser.ts", import.meta.url), { type: "module", name: `worker9p:${arg.name}` });
  const server = await createFileServer({ storage: arg.storage, name: arg.name, worker });
  const [a, b, c] = [server.connect(), server.connect(), server.connect()];
  worker.terminate();
  const report: LateListenerReport = { control: await outcome(server.control.stats()), client: "", addEventListener: "", onmessage: "" };
  report.client = await outcome(Client.connect(portTransport(a)));
  report.addEventListener = String(
    await new Promise<unknown>((resolve) => {
      b.addEventListener("message", (ev) => resolve(ev.data));
      b.start();
    }),
  );
  report.onmessage = String(await new Promise<unknown>((resolve) => (c.onmessage = (ev) => resolve(ev.data))));
  await server.close();
  return report;
}

/** The server connectManyClosed keeps open between its calls (the heap is counted in between). */
let manyServer: FileServer | undefined;

/**
 * `n` sessions connected and closed again (Client.close, which closes its port) on one server that
 * stays open, or with `close` set, that server closed. What the page keeps of a closed session is
 * counted by the test from the heap (e2e/browser-9p.test.ts).
 */
export async function connectManyClosed(arg: TreeArg & { n: number; close?: boolean }): Promise<void> {
  if (arg.close) {
    await manyServer?.close();
    manyServer = undefined;
    return;
  }
  manyServer ??= await createFileServer({ storage: arg.storage, name: arg.name });
  for (let i = 0; i < arg.n; i++) {
    const c = await Client.connect(portTransport(manyServer.connect()));
    await c.stat("");
    c.close();
  }
}
