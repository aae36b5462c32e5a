// Import and export through the project's own 9P client against the memory store.
import { packTar, unpackTar, type TarEntry } from "modern-tar";
import { describe, expect, it } from "vitest";
import { Client } from "../../client/client.js";
import { inProcessTransport } from "../../client/transports.js";
import { FileSystem } from "../../fs/filesystem.js";
import { Server } from "../../server/server.js";
import { MemoryStore } from "../../storage/memory.js";
import { ArchiveError } from "./entry-path.js";
import { exportTree, listChildren, measureTree, type ExportMeter } from "./export.js";
import { importEntries, STAGING_PREFIX } from "./import.js";
import { tarEntries } from "./tar-source.js";
import { kindOf, listNames, lstat, readlink } from "./tree9p.js";

const MiB = 1024 * 1024;
const text = (d: Uint8Array) => new TextDecoder().decode(d);

async function setup(quotaBytes?: number) {
  const fs = await FileSystem.open(new MemoryStore(quotaBytes !== undefined ? { quotaBytes } : {}));
  const server = new Server(fs, { onInternalError: (e) => { throw e; } });
  const client = await Client.connect(inProcessTransport(server));
  return { fs, client };
}

const streamOf = (bytes: Uint8Array): ReadableStream<Uint8Array> => new Blob([bytes as BlobPart]).stream();
const gzipStream = () => new CompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
const gunzipStream = () => new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
const gzip = async (bytes: Uint8Array) => new Uint8Array(await new Response(streamOf(bytes).pipeThrough(gzipStream())).arrayBuffer());
const collect = async (s: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(s).arrayBuffer());

const when = new Date("2024-02-03T04:05:06Z");
const SAMPLE: TarEntry[] = [
  { header: { name: "proj/", type: "directory", size: 0, mode: 0o750, mtime: when } },
  { header: { name: "proj/run.sh", type: "file", size: 8, mode: 0o755, mtime: when }, body: "echo hi\n" },
  { header: { name: "proj/src/main.c", type: "file", size: 13, mode: 0o644, mtime: when }, body: "int main(){}\n" },
  { header: { name: "proj/latest", type: "symlink", size: 0, linkname: "src/main.c" } },
  { header: { name: "proj/same.c", type: "link", size: 0, linkname: "proj/src/main.c" } },
];

async function importTar(client: Client, target: string, bytes: Uint8Array) {
  return importEntries(client, target, tarEntries(streamOf(bytes)));
}

async function expectNothingImported(client: Client, target: string, before: string[]) {
  const after = await listNames(client, target);
  expect(after.filter((n) => n.startsWith(STAGING_PREFIX))).toEqual([]);
  expect(after.sort()).toEqual([...before].sort());
}

async function rejection(p: Promise<unknown>): Promise<ArchiveError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ArchiveError);
    return e as ArchiveError;
  }
  throw new Error("expected the import to fail");
}

describe("import", () => {
  it.each([
    ["a .tar", false],
    ["a .tar.gz (recognised by its magic bytes)", true],
  ])("lands %s with modes, mtimes, folders, symlinks and hard links", async (_label, gz) => {
    const { client, fs } = await setup();
    await client.mkdir("home");
    const tar = await packTar(SAMPLE);
    const r = await importTar(client, "home", gz ? await gzip(tar) : tar);
    expect(r).toMatchObject({ files: 2, symlinks: 1, hardLinks: 1, topLevel: ["proj"] });
    expect(text(await client.readFile("home/proj/src/main.c"))).toBe("int main(){}\n");
    const run = await lstat(client, "home/proj/run.sh");
    expect(run.mode & 0o7777).toBe(0o755);
    expect(run.mtime.sec).toBe(when.getTime() / 1000);
    const dir = await lstat(client, "home/proj");
    expect(dir.mode & 0o7777).toBe(0o750);
    expect(dir.mtime.sec).toBe(when.getTime() / 1000);
    expect(kindOf((await lstat(client, "home/proj/latest")).mode)).toBe("symlink");
    expect(await readlink(client, "home/proj/latest")).toBe("src/main.c");
    const same = await lstat(client, "home/proj/same.c");
    expect(same.qid.path).toBe((await lstat(client, "home/proj/src/main.c")).qid.path);
    expect(same.nlink).toBe(2);
    expect(await listNames(client, "home")).toEqual(["proj"]);
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("creates parent folders that the archive does not list, and lets a later entry replace an earlier one", async () => {
    const { client } = await setup();
    const tar = await packTar([
      { header: { name: "a/b/c.txt", size: 3 }, body: "one" },
      { header: { name: "a/b/c.txt", size: 3 }, body: "two" },
    ]);
    await importTar(client, "", tar);
    expect(text(await client.readFile("a/b/c.txt"))).toBe("two");
  });

  it("refuses a corrupt archive with a message naming the entry, and imports nothing", async () => {
    const { client, fs } = await setup();
    await client.writeFile("keep.txt", "mine");
    const tar = await packTar([
      { header: { name: "first.txt", size: 5 }, body: "first" },
      { header: { name: "second.txt", size: 6 }, body: "second" },
    ]);
    tar[1024 + 3] ^= 0xff; // a byte of the second header's name: its checksum no longer matches
    const e = await rejection(importTar(client, "", tar));
    expect(e.kind).toBe("corrupt");
    expect(e.message).toMatch(/corrupt or truncated after entry "first.txt"/);
    await expectNothingImported(client, "", ["keep.txt"]);
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("refuses a truncated archive (cut inside a file's body), naming the last entry it read whole", async () => {
    const { client } = await setup();
    const tar = await packTar([
      { header: { name: "small.txt", size: 2 }, body: "ok" },
      { header: { name: "big.bin", size: 4096 }, body: new Uint8Array(4096).fill(7) },
    ]);
    const e = await rejection(importTar(client, "", tar.subarray(0, 512 * 3 + 1000)));
    expect(e.kind).toBe("corrupt");
    // The decoder fails before it hands out the broken entry, so the message names the one before it.
    expect(e.message).toMatch(/truncated after entry "small.txt"/);
    await expectNothingImported(client, "", []);
  });

  it("refuses a truncated .tar.gz", async () => {
    const { client } = await setup();
    const gz = await gzip(await packTar(SAMPLE));
    const e = await rejection(importTar(client, "", gz.subarray(0, gz.length - 20)));
    expect(e.kind).toBe("corrupt");
    await expectNothingImported(client, "", []);
  });

  it("refuses a file that is not an archive at all", async () => {
    const { client } = await setup();
    const e = await rejection(importTar(client, "", new TextEncoder().encode("just some text, not a tarball\n".repeat(40))));
    expect(e.kind).toBe("corrupt");
  });

  it.each([
    ["a name with ..", { header: { name: "ok/../../escape.txt", size: 1 }, body: "x" }, /refused "ok\/\.\.\/\.\.\/escape.txt"/],
    ["an absolute name", { header: { name: "/etc/passwd", size: 1 }, body: "x" }, /absolute/],
    ["a symlink pointing outside", { header: { name: "link", type: "symlink", size: 0, linkname: "../../etc" } }, /points outside/],
    ["an absolute symlink", { header: { name: "link", type: "symlink", size: 0, linkname: "/etc/passwd" } }, /points outside/],
    ["a hard link to something not in the archive", { header: { name: "hl", type: "link", size: 0, linkname: "../outside.txt" } }, /refused/],
  ] as [string, TarEntry, RegExp][])("refuses %s and writes nothing, inside or outside", async (_label, bad, message) => {
    const { client } = await setup();
    await client.mkdir("box");
    await client.writeFile("outside.txt", "untouched");
    const tar = await packTar([{ header: { name: "fine.txt", size: 4 }, body: "fine" }, bad]);
    const e = await rejection(importTar(client, "box", tar));
    expect(e.kind).toBe("refused");
    expect(e.message).toMatch(message);
    await expectNothingImported(client, "box", []);
    expect((await listNames(client, "")).sort()).toEqual(["box", "outside.txt"]);
    expect(text(await client.readFile("outside.txt"))).toBe("untouched");
  });

  it("reports a name that already exists in the target as a conflict and changes nothing", async () => {
    const { client } = await setup();
    await client.mkdir("proj");
    await client.writeFile("proj/mine.txt", "mine");
    const e = await rejection(importTar(client, "", await packTar(SAMPLE)));
    expect(e.kind).toBe("conflict");
    expect(e.message).toMatch(/"proj" already exists/);
    expect(await listNames(client, "proj")).toEqual(["mine.txt"]);
    await expectNothingImported(client, "", ["proj"]);
  });

  it("says 'storage full' when the quota runs out mid-import, removes the staging folder, and leaves the tree fsck-clean", async () => {
    const { client, fs } = await setup(6 * MiB);
    await client.writeFile("before.txt", "kept");
    const entries: TarEntry[] = [];
    for (let i = 0; i < 8; i++) entries.push({ header: { name: `data/part${i}.bin`, size: MiB }, body: new Uint8Array(MiB).fill(i) });
    const e = await rejection(importTar(client, "", await packTar(entries)));
    expect(e.kind).toBe("full");
    expect(e.message).toMatch(/^storage full while writing "data\/part\d\.bin": nothing was imported/);
    await expectNothingImported(client, "", ["before.txt"]);
    expect(text(await client.readFile("before.txt"))).toBe("kept");
    expect(await fs.fsck()).toMatchObject({ ok: true, problems: [] });
    // The space came back: a smaller import now fits.
    await importTar(client, "", await packTar(entries.slice(0, 2)));
    expect(await listNames(client, "data")).toEqual(["part0.bin", "part1.bin"]);
  });

  it("says 'storage full' when many small files (written several at a time) overrun the quota, and leaves nothing", async () => {
    const { client, fs } = await setup(4 * MiB);
    const entries: TarEntry[] = Array.from({ length: 400 }, (_, i) => ({ header: { name: `many/f${i}.bin`, size: 20_000 }, body: new Uint8Array(20_000).fill(i & 0xff) }));
    const e = await rejection(importTar(client, "", await packTar(entries)));
    expect(e.kind).toBe("full");
    expect(e.message).toMatch(/^storage full while writing "many\/f\d+\.bin": nothing was imported/);
    await expectNothingImported(client, "", []);
    expect(await fs.fsck()).toMatchObject({ ok: true, problems: [] });
  });

  it("stops when cancelled and leaves nothing behind", async () => {
    const { client } = await setup();
    const ac = new AbortController();
    const tar = await packTar([
      { header: { name: "one.txt", size: 3 }, body: "one" },
      { header: { name: "two.txt", size: 3 }, body: "two" },
    ]);
    const p = importEntries(client, "", tarEntries(streamOf(tar)), { signal: ac.signal, onProgress: (pr) => pr.entries === 1 && ac.abort() });
    const e = await rejection(p);
    expect(e.kind).toBe("cancelled");
    await expectNothingImported(client, "", []);
  });
});

describe("export", () => {
  it("round-trips a folder through .tar.gz: contents, modes, mtimes, symlinks, hard links", async () => {
    const { client } = await setup();
    await importTar(client, "", await packTar(SAMPLE));
    const gz = await collect(exportTree(client, "proj"));
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    const listed = await unpackTar(new Blob([gz as BlobPart]).stream().pipeThrough(gunzipStream()));
    // A walk in name order meets same.c before src/main.c, so same.c carries the bytes and main.c links to it.
    expect(listed.map((e) => `${e.header.type}:${e.header.name}`).sort()).toEqual(
      ["directory:proj/", "directory:proj/src/", "file:proj/run.sh", "file:proj/same.c", "link:proj/src/main.c", "symlink:proj/latest"],
    );
    await client.mkdir("copy");
    await importTar(client, "copy", gz);
    expect(text(await client.readFile("copy/proj/src/main.c"))).toBe("int main(){}\n");
    expect((await lstat(client, "copy/proj/run.sh")).mode & 0o7777).toBe(0o755);
    expect((await lstat(client, "copy/proj/run.sh")).mtime.sec).toBe(when.getTime() / 1000);
    expect(await readlink(client, "copy/proj/latest")).toBe("src/main.c");
    expect((await lstat(client, "copy/proj/same.c")).nlink).toBe(2);
  });

  it("lists a folder whose entry is removed between readdir and its lstat, without that entry (the guest deleting as the panel looks)", async () => {
    const { client } = await setup();
    for (const n of ["a", "b", "c"]) await client.writeFile(n, n);
    const readdir = client.readdir.bind(client);
    client.readdir = async (dir: string) => {
      const entries = await readdir(dir);
      await client.unlink("b");
      return entries;
    };
    expect((await listChildren(client, "")).map((c) => c.name)).toEqual(["a", "c"]);
  });

  it("exports the whole tree without a prefix and skips import staging folders", async () => {
    const { client } = await setup();
    await client.writeFile("a.txt", "A");
    await client.mkdir(`${STAGING_PREFIX}dead`);
    const tar = await collect(exportTree(client, "", { gzip: false }));
    const listed = await unpackTar(tar);
    expect(listed.map((e) => e.header.name)).toEqual(["a.txt"]);
    expect(await measureTree(client, "")).toEqual({ entries: 1, bytes: 1 });
  });

  it.each([
    ["tar", false],
    ["tar.gz (level 1 in fflate's worker)", "fast"],
  ] as const)("streams a large file as %s in bounded memory: a slow reader stalls the 9P reads", async (_label, gzip) => {
    const { client } = await setup();
    const size = 48 * MiB;
    const { fid } = await client.create("big.bin");
    const block = new Uint8Array(MiB).fill(0x5a);
    for (let off = 0; off < size; off += MiB) await client.writeAll(fid, off, block);
    await client.clunk(fid);

    const meter: ExportMeter = { held: 0, peak: 0 };
    const reader = exportTree(client, "", { gzip, meter }).getReader();
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      // Give the producer every chance to run ahead before the next read.
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    }
    if (gzip === false) expect(total).toBeGreaterThan(size);
    expect(meter.peak).toBeGreaterThan(0);
    console.log(`export of ${size / MiB} MiB held at most ${(meter.peak / MiB).toFixed(1)} MiB`);
    expect(meter.peak).toBeLessThanOrEqual(16 * MiB);
  });
});
