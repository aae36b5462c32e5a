// Names are bytes (issue 8 item 9): a name that is not UTF-8 (Latin-1 from an old tarball) is
// created, listed, walked, renamed and removed byte for byte, as Linux sends it.
import { describe, expect, it } from "vitest";
import { AT_REMOVEDIR, MessageType, OpenFlags } from "../protocol/constants.js";
import { Errno } from "../protocol/errno.js";
import type { RMessage, TMessage } from "../protocol/messages.js";

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
import { nameToBytes } from "../protocol/name-bytes.js";
import { rawSession, type RawSession } from "./test-harness.js";

const latin1 = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const utf8 = (s: string) => new TextEncoder().encode(s);

type Field = { u32: number } | { u16: number } | { s: Uint8Array };

/** A request frame built by hand, so the name bytes are exactly the ones given (no string in between). */
function frame(type: number, tag: number, fields: Field[]): Uint8Array {
  const body: number[] = [];
  for (const f of fields) {
    if ("u32" in f) body.push(f.u32 & 0xff, (f.u32 >>> 8) & 0xff, (f.u32 >>> 16) & 0xff, f.u32 >>> 24);
    else if ("u16" in f) body.push(f.u16 & 0xff, f.u16 >>> 8);
    else body.push(f.s.length & 0xff, f.s.length >>> 8, ...f.s);
  }
  const size = 7 + body.length;
  return Uint8Array.from([size & 0xff, (size >>> 8) & 0xff, size >>> 16, 0, type, tag & 0xff, tag >>> 8, ...body]);
}

const walk = (tag: number, fid: number, newfid: number, names: Uint8Array[]) =>
  frame(MessageType.Twalk, tag, [{ u32: fid }, { u32: newfid }, { u16: names.length }, ...names.map((s) => ({ s }))]);
const lcreate = (tag: number, fid: number, name: Uint8Array) =>
  frame(MessageType.Tlcreate, tag, [{ u32: fid }, { s: name }, { u32: OpenFlags.RDWR }, { u32: 0o644 }, { u32: 0 }]);
const mkdir = (tag: number, dfid: number, name: Uint8Array) =>
  frame(MessageType.Tmkdir, tag, [{ u32: dfid }, { s: name }, { u32: 0o755 }, { u32: 0 }]);
const renameat = (tag: number, dfid: number, from: Uint8Array, to: Uint8Array) =>
  frame(MessageType.Trenameat, tag, [{ u32: dfid }, { s: from }, { u32: dfid }, { s: to }]);
const unlinkat = (tag: number, dfid: number, name: Uint8Array, flags = 0) =>
  frame(MessageType.Tunlinkat, tag, [{ u32: dfid }, { s: name }, { u32: flags }]);
const symlink = (tag: number, dfid: number, name: Uint8Array, target: Uint8Array) =>
  frame(MessageType.Tsymlink, tag, [{ u32: dfid }, { s: name }, { s: target }, { u32: 0 }]);

let nextTag = 100;
async function ask(rs: RawSession, f: Uint8Array): Promise<RMessage> {
  const tag = nextTag++;
  f[5] = tag & 0xff;
  f[6] = tag >>> 8;
  rs.sendRaw(f);
  return rs.reply(tag);
}

/** Tags are never reused in a test: the harness finds a reply by its tag. */
async function req(rs: RawSession, m: DistributiveOmit<TMessage, "tag">): Promise<RMessage> {
  const tag = nextTag++;
  rs.send({ ...m, tag } as TMessage);
  return rs.reply(tag);
}

async function ok(rs: RawSession, f: Uint8Array, type: RMessage["type"]): Promise<RMessage> {
  const r = await ask(rs, f);
  expect(r, JSON.stringify(r)).toMatchObject({ type });
  return r;
}

/** Names (as bytes, in hex) of directory `dirFid`, parsed from the Rreaddir payload by hand. */
async function listHex(rs: RawSession, dirFid: number): Promise<string[]> {
  await ok(rs, walk(0, dirFid, 90, []), "Rwalk");
  await req(rs, { type: "Tlopen", fid: 90, flags: OpenFlags.RDONLY });
  const r = await req(rs, { type: "Treaddir", fid: 90, offset: 0, count: 8192 });
  await req(rs, { type: "Tclunk", fid: 90 });
  if (r.type !== "Rreaddir") throw new Error(JSON.stringify(r));
  const d = r.data;
  const names: string[] = [];
  // qid[13] offset[8] type[1] name[s]
  for (let p = 0; p < d.length;) {
    const len = d[p + 22]! | (d[p + 23]! << 8);
    names.push(Buffer.from(d.subarray(p + 24, p + 24 + len)).toString("hex"));
    p += 24 + len;
  }
  return names.filter((n) => n !== "2e" && n !== "2e2e").sort();
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("names are bytes", () => {
  it("a Latin-1 name is created, listed and walked byte for byte, beside its UTF-8 spelling", async () => {
    const rs = await rawSession();
    await ok(rs, walk(0, 0, 1, []), "Rwalk");
    await ok(rs, lcreate(0, 1, latin1("caf\xe9")), "Rlcreate");
    await ok(rs, walk(0, 0, 2, []), "Rwalk");
    await ok(rs, lcreate(0, 2, utf8("café")), "Rlcreate");
    await ok(rs, mkdir(0, 0, latin1("r\xe9p")), "Rmkdir");
    expect(await listHex(rs, 0)).toEqual([hex(latin1("caf\xe9")), hex(utf8("café")), hex(latin1("r\xe9p"))].sort());

    // Walking each spelling reaches its own file.
    const q1 = await ok(rs, walk(0, 0, 3, [latin1("caf\xe9")]), "Rwalk");
    const q2 = await ok(rs, walk(0, 0, 4, [utf8("café")]), "Rwalk");
    expect((q1 as { qids: unknown[] }).qids).toHaveLength(1);
    expect((q1 as { qids: { path: number }[] }).qids[0]!.path).not.toBe((q2 as { qids: { path: number }[] }).qids[0]!.path);
    // An isolated continuation byte, a truncated sequence, an encoded surrogate: all just bytes.
    await ok(rs, walk(0, 0, 5, [latin1("r\xe9p")]), "Rwalk");
    for (const raw of [[0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xff, 0xfe]]) {
      await ok(rs, walk(0, 5, 6, []), "Rwalk");
      await ok(rs, lcreate(0, 6, Uint8Array.from(raw)), "Rlcreate");
      await ok(rs, walk(0, 5, 7, [Uint8Array.from(raw)]), "Rwalk");
      await req(rs, { type: "Tclunk", fid: 6 });
      await req(rs, { type: "Tclunk", fid: 7 });
    }
    expect(await listHex(rs, 5)).toEqual(["80", "e282", "eda080", "fffe"]);
    expect((await rs.fs.fsck()).problems).toEqual([]);
  });

  it("rename, symlink targets and unlink keep raw bytes; length is counted in bytes; '/' and NUL stay EINVAL", async () => {
    const rs = await rawSession();
    await ok(rs, mkdir(0, 0, latin1("d")), "Rmkdir");
    await ok(rs, walk(0, 0, 1, [latin1("d")]), "Rwalk");
    await ok(rs, walk(0, 1, 2, []), "Rwalk");
    await ok(rs, lcreate(0, 2, latin1("a\xe9")), "Rlcreate");
    await ok(rs, renameat(0, 1, latin1("a\xe9"), latin1("b\xe8")), "Rrenameat");
    expect(await listHex(rs, 1)).toEqual([hex(latin1("b\xe8"))]);

    const target = latin1("../caf\xe9");
    await ok(rs, symlink(0, 1, latin1("l\xff"), target), "Rsymlink");
    await ok(rs, walk(0, 1, 3, [latin1("l\xff")]), "Rwalk");
    const rl = await req(rs, { type: "Treadlink", fid: 3 });
    // The target is a decoded string here; on the wire it was these bytes, so its size is their count.
    const ga = await req(rs, { type: "Tgetattr", fid: 3, mask: 0x7ff });
    expect(ga).toMatchObject({ type: "Rgetattr", attr: { size: target.length } });
    expect(rl.type).toBe("Rreadlink");
    expect(hex(nameToBytes((rl as { target: string }).target))).toBe(hex(target));

    // 255 raw bytes is the longest name, 256 is too long: bytes, not UTF-16 units nor U+FFFD's 3 bytes.
    await ok(rs, walk(0, 1, 4, []), "Rwalk");
    await ok(rs, lcreate(0, 4, new Uint8Array(255).fill(0xe9)), "Rlcreate");
    await ok(rs, walk(0, 1, 5, []), "Rwalk");
    expect(await ask(rs, lcreate(0, 5, new Uint8Array(256).fill(0xe9)))).toMatchObject({ type: "Rlerror", ecode: Errno.ENAMETOOLONG });
    expect(await ask(rs, lcreate(0, 5, latin1("a/\xe9")))).toMatchObject({ type: "Rlerror", ecode: Errno.EINVAL });
    expect(await ask(rs, lcreate(0, 5, latin1("a\0\xe9")))).toMatchObject({ type: "Rlerror", ecode: Errno.EINVAL });

    await ok(rs, unlinkat(0, 1, latin1("b\xe8")), "Runlinkat");
    await ok(rs, unlinkat(0, 1, latin1("l\xff")), "Runlinkat");
    await ok(rs, unlinkat(0, 1, new Uint8Array(255).fill(0xe9)), "Runlinkat");
    expect(await listHex(rs, 1)).toEqual([]);
    await ok(rs, unlinkat(0, 0, latin1("d"), AT_REMOVEDIR), "Runlinkat");
  });

  it("the file system refuses a string that is another spelling of some name's bytes", async () => {
    const rs = await rawSession();
    const ctx = { signal: new AbortController().signal };
    // "\udcc3\udca9" would go on the wire as the bytes of "é": two entries, one wire name.
    await expect(rs.fs.mkdir(rs.fs.rootIno, "\udcc3\udca9", 0o755, 0, 0, ctx)).rejects.toMatchObject({ errno: Errno.EINVAL });
    await expect(rs.fs.mkdir(rs.fs.rootIno, "x\ud800", 0o755, 0, 0, ctx)).rejects.toMatchObject({ errno: Errno.EINVAL });
    await rs.fs.mkdir(rs.fs.rootIno, "caf\udce9", 0o755, 0, 0, ctx);
  });
});
