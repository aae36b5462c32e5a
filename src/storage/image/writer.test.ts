import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checkManifest, decodeIndex, encodeIndex, ImageFormatError, MANIFEST_FILE, PIECE_PROFILE, S_IFMT, type ImageIndex, type ImageInode } from "./format.js";
import { nameFromBytes, nameToBytes } from "../../protocol/name-bytes.js";
import { decodePiece } from "./piece.js";
import { parseGetfattrDump, writeImage } from "./writer.js";

let src: string;
let out: string;

beforeEach(() => {
  src = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-img-src-"));
  out = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-img-out-"));
});
afterEach(() => {
  fs.rmSync(src, { recursive: true, force: true });
  fs.rmSync(out, { recursive: true, force: true });
});

function load(): { index: ImageIndex; manifest: ReturnType<typeof checkManifest> } {
  const manifest = checkManifest(JSON.parse(fs.readFileSync(path.join(out, MANIFEST_FILE), "utf8")), MANIFEST_FILE);
  return { manifest, index: decodeIndex(new Uint8Array(fs.readFileSync(path.join(out, manifest.index.file)))) };
}

function lookup(index: ImageIndex, p: string): ImageInode {
  let node = index.inodes[0]!;
  for (const part of p.split("/").filter(Boolean)) {
    const e = node.entries?.find((x) => nameFromBytes(x.name) === part);
    if (!e) throw new Error(`no ${p}`);
    node = index.inodes[e.ino - 1]!;
  }
  return node;
}

async function content(manifest: ReturnType<typeof checkManifest>, index: ImageIndex, node: ImageInode): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for (const id of node.pieces ?? []) {
    const p = index.pieces[id]!;
    const pack = fs.readFileSync(path.join(out, manifest.packs[p.pack]!.file));
    parts.push(await decodePiece(new Uint8Array(pack.subarray(p.offset, p.offset + p.stored)), p));
  }
  return Buffer.concat(parts);
}

describe("writeImage", () => {
  it("keeps the tree: contents, modes, owners, times, symlinks, hard links, devices, byte names", async () => {
    fs.mkdirSync(path.join(src, "etc"));
    fs.mkdirSync(path.join(src, "usr/bin"), { recursive: true });
    fs.writeFileSync(path.join(src, "etc/motd"), "hello\n");
    fs.chmodSync(path.join(src, "etc/motd"), 0o640);
    fs.chownSync(path.join(src, "etc/motd"), 12, 34);
    fs.utimesSync(path.join(src, "etc/motd"), 1000, 1234567.5);
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    fs.writeFileSync(path.join(src, "usr/bin/big"), big);
    fs.writeFileSync(path.join(src, "usr/bin/empty"), "");
    fs.linkSync(path.join(src, "usr/bin/big"), path.join(src, "usr/bin/big-link"));
    fs.symlinkSync("../etc/motd", path.join(src, "usr/motd-link"));
    execFileSync("mkfifo", [path.join(src, "fifo")]);
    execFileSync("mknod", [path.join(src, "null"), "c", "1", "3"]);
    const odd = Buffer.concat([Buffer.from("caf"), Buffer.from([0xe9, 0xff])]);
    fs.writeFileSync(Buffer.concat([Buffer.from(src + "/"), odd]), "latin1 name");

    const { manifest } = await writeImage(src, out, { pieceSize: 65536 });
    const { index } = load();
    expect(manifest.inodes).toBe(index.inodes.length);

    const motd = lookup(index, "etc/motd");
    expect(motd.mode).toBe(0o100640);
    expect([motd.uid, motd.gid]).toEqual([12, 34]);
    expect(motd.mtime).toEqual({ sec: 1234567, nsec: 500_000_000 });
    expect(motd.atime.sec).toBe(1000);
    expect((await content(manifest, index, motd)).toString()).toBe("hello\n");

    const bigNode = lookup(index, "usr/bin/big");
    expect(bigNode.pieces).toHaveLength(5);
    expect((await content(manifest, index, bigNode)).equals(big)).toBe(true);
    expect(lookup(index, "usr/bin/big-link").ino).toBe(bigNode.ino);
    expect(bigNode.nlink).toBe(2);
    expect(lookup(index, "usr/bin/empty").pieces).toEqual([]);

    const link = lookup(index, "usr/motd-link");
    expect(link.mode & S_IFMT).toBe(0o120000);
    expect(Buffer.from(link.target!).toString()).toBe("../etc/motd");
    expect(lookup(index, "fifo").mode & S_IFMT).toBe(0o010000);
    const dev = lookup(index, "null");
    expect(dev.mode & S_IFMT).toBe(0o020000);
    expect(dev.rdev).toBe(fs.lstatSync(path.join(src, "null")).rdev);

    const root = index.inodes[0]!;
    const oddEntry = root.entries!.find((e) => Buffer.from(e.name).equals(odd))!;
    expect(oddEntry).toBeDefined();
    expect(nameToBytes(nameFromBytes(oddEntry.name))).toEqual(new Uint8Array(odd));
    expect(nameFromBytes(oddEntry.name)).toBe("caf\udce9\udcff");
    // Directories: parent links and link counts as a POSIX tree has them.
    expect(root.parent).toBe(1);
    expect(root.nlink).toBe(2 + 2); // etc, usr
    expect(lookup(index, "usr/bin").parent).toBe(lookup(index, "usr").ino);
  });

  it("stores identical content once and compresses what compresses", async () => {
    fs.writeFileSync(path.join(src, "a"), "x".repeat(100_000));
    fs.writeFileSync(path.join(src, "b"), "x".repeat(100_000));
    const { manifest } = await writeImage(src, out);
    const { index } = load();
    expect(index.pieces).toHaveLength(1);
    expect(manifest.storedBytes).toBeLessThan(1000);
    expect(manifest.fileBytes).toBe(200_000);
  });

  it("puts the boot profile's pieces first, in its order, flagged", async () => {
    for (const n of ["a", "b", "c", "d"]) fs.writeFileSync(path.join(src, n), n.repeat(5000) + Math.random());
    const { manifest, missingProfilePaths } = await writeImage(src, out, { profile: ["/d", "b", "/nope"] });
    expect(missingProfilePaths).toEqual(["/nope"]);
    const { index } = load();
    const at = (n: string): number => index.pieces[lookup(index, n).pieces![0]!]!.offset;
    expect(at("d")).toBe(0);
    expect(at("b")).toBeGreaterThan(at("d"));
    expect(at("a")).toBeGreaterThan(at("b"));
    expect(index.pieces[lookup(index, "b").pieces![0]!]!.flags & PIECE_PROFILE).toBeTruthy();
    expect(index.pieces[lookup(index, "a").pieces![0]!]!.flags & PIECE_PROFILE).toBeFalsy();
    expect(manifest.profileBytes).toBe(at("a"));
  });

  it("with byte ranges, lays out and flags only the pieces used, in the order they were used", async () => {
    const piece = 4096;
    fs.writeFileSync(path.join(src, "big"), randomBytes(4 * piece)); // random: no two pieces alike
    fs.writeFileSync(path.join(src, "lib"), randomBytes(4 * piece));
    const profile = [
      { path: "/big", ranges: [[100, 200]] as [number, number][] }, // piece 0 of big
      { path: "/lib", ranges: [[piece, 2 * piece + 1]] as [number, number][] }, // pieces 1 and 2 of lib
      { path: "/big", ranges: [[3 * piece, 4 * piece]] as [number, number][] }, // piece 3 of big
    ];
    const { manifest } = await writeImage(src, out, { pieceSize: piece, level: 0, profile });
    const { index } = load();
    const id = (n: string, i: number): number => lookup(index, n).pieces![i]!;
    const used = [id("big", 0), id("lib", 1), id("lib", 2), id("big", 3)];
    expect(used.map((i) => index.pieces[i]!.offset)).toEqual([0, piece, 2 * piece, 3 * piece]);
    for (const i of used) expect(index.pieces[i]!.flags & PIECE_PROFILE).toBeTruthy();
    for (const i of [id("big", 1), id("big", 2), id("lib", 0), id("lib", 3)]) expect(index.pieces[i]!.flags & PIECE_PROFILE).toBeFalsy();
    expect(manifest.profileBytes).toBe(4 * piece);
  });

  it("splits packs and names every file with an extension; a rewrite drops the old files", async () => {
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.from(Array.from({ length: 40_000 }, (_, k) => (k * 31 + i) % 256)));
    await writeImage(src, out, { packBytes: 100_000, level: 0 });
    const first = fs.readdirSync(out);
    expect(load().manifest.packs.length).toBeGreaterThan(1);
    for (const f of first) expect(f).toMatch(/\.(json|bin)$/);
    fs.writeFileSync(path.join(src, "f0"), "changed");
    await writeImage(src, out);
    const { manifest } = load();
    expect(fs.readdirSync(out).sort()).toEqual([MANIFEST_FILE, manifest.index.file, ...manifest.packs.map((p) => p.file)].sort());
  });

  it("keeps each path's inode number across rebuilds in the same folder", async () => {
    for (const n of ["a", "b", "c"]) fs.writeFileSync(path.join(src, n), n);
    fs.mkdirSync(path.join(src, "d"));
    await writeImage(src, out);
    const before = load().index;
    const [a, b, c, d] = ["a", "b", "c", "d"].map((n) => lookup(before, n).ino);
    fs.rmSync(path.join(src, "b"));
    fs.writeFileSync(path.join(src, "a"), "changed");
    fs.writeFileSync(path.join(src, "0-new"), "new");
    fs.rmSync(path.join(src, "c"));
    fs.mkdirSync(path.join(src, "c")); // same path, another type: a new number
    await writeImage(src, out);
    const after = load().index;
    expect(lookup(after, "a").ino).toBe(a);
    expect(lookup(after, "d").ino).toBe(d);
    expect(after.inodes[b! - 1]!.mode).toBe(0); // a placeholder
    expect(lookup(after, "0-new").ino).toBeGreaterThan(before.inodes.length);
    expect(lookup(after, "c").ino).not.toBe(c);
    expect(after.inodes[0]!.nlink).toBe(2 + 2);
    await writeImage(src, out, { previous: null });
    expect(load().index.inodes.every((n) => n.mode !== 0)).toBe(true);
  });

  it("takes xattrs (file capabilities) from a getfattr dump", async () => {
    fs.mkdirSync(path.join(src, "bin"));
    fs.writeFileSync(path.join(src, "bin/ping"), "");
    const dump = "# file: rootfs/bin/ping\nsecurity.capability=0x0100000200200000000000000000000000000000\nuser.note=\"hi\"\n\n";
    await writeImage(src, out, { xattrs: parseGetfattrDump(dump, "rootfs") });
    const ping = lookup(load().index, "bin/ping");
    expect(ping.xattrs?.map(([n]) => n)).toEqual(["security.capability", "user.note"]);
    expect(Buffer.from(ping.xattrs![0]![1]).toString("hex")).toBe("0100000200200000000000000000000000000000");
    expect(Buffer.from(ping.xattrs![1]![1]).toString()).toBe("hi");
  });

  it("refuses another format version with a clear error", () => {
    const good = encodeIndex({ pieceSize: 4096, pieces: [], inodes: [{ ino: 1, mode: 0o40755, uid: 0, gid: 0, nlink: 2, rdev: 0, size: 0, atime: { sec: 0, nsec: 0 }, mtime: { sec: 0, nsec: 0 }, ctime: { sec: 0, nsec: 0 }, parent: 1, entries: [] }] });
    expect(decodeIndex(good).inodes).toHaveLength(1);
    const v2 = good.slice();
    v2[4] = 2;
    expect(() => decodeIndex(v2)).toThrow(/version 2; this worker9p reads version 1/);
    expect(() => checkManifest({ format: "worker9p-image", version: 7 }, "image.json")).toThrow(ImageFormatError);
    expect(() => checkManifest({ format: "worker9p-image", version: 7 }, "image.json")).toThrow(/version 7/);
    expect(() => decodeIndex(good.subarray(0, good.length - 3))).toThrow(ImageFormatError);
  });
});
