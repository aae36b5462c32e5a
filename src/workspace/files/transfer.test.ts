// Dropped folders and uploads, against the memory store (the browser tests cover the DOM side).
import { describe, expect, it } from "vitest";
import { Client } from "../../client/client.js";
import { inProcessTransport } from "../../client/transports.js";
import { FileSystem } from "../../fs/filesystem.js";
import { Server } from "../../server/server.js";
import { MemoryStore } from "../../storage/memory.js";
import { ArchiveError } from "../archive/entry-path.js";
import { importEntries } from "../archive/import.js";
import { listNames, lstat } from "../archive/tree9p.js";
import { droppedEntries, uploadFile } from "./transfer.js";

const MiB = 1024 * 1024;
const text = (d: Uint8Array) => new TextDecoder().decode(d);

async function setup(quotaBytes?: number) {
  const fs = await FileSystem.open(new MemoryStore(quotaBytes ? { quotaBytes } : {}));
  const client = await Client.connect(inProcessTransport(new Server(fs)));
  return { fs, client };
}

// The shapes Chromium's webkitGetAsEntry() hands out, reduced to what the code uses.
const when = Date.UTC(2023, 4, 6, 7, 8, 9);
const fileEntry = (name: string, body: string) =>
  ({ name, isFile: true, isDirectory: false, file: (ok: (f: File) => void) => ok(new File([body], name, { lastModified: when })) }) as unknown as FileSystemEntry;
const dirEntry = (name: string, children: FileSystemEntry[]) =>
  ({
    name,
    isFile: false,
    isDirectory: true,
    createReader() {
      // Chromium hands entries out in batches until an empty one; two at a time here.
      let at = 0;
      return { readEntries: (ok: (b: FileSystemEntry[]) => void) => ok(children.slice(at, (at += 2))) };
    },
  }) as unknown as FileSystemEntry;

describe("a dropped folder", () => {
  it("is imported whole, nested folders and all, with the files' times", async () => {
    const { client } = await setup();
    await client.mkdir("home");
    const drop = [
      dirEntry("photos", [fileEntry("a.txt", "A"), dirEntry("2023", [fileEntry("b.txt", "B"), fileEntry("c.txt", "C"), fileEntry("d.txt", "D")]), dirEntry("empty", [])]),
      fileEntry("loose.txt", "L"),
    ];
    const r = await importEntries(client, "home", droppedEntries(drop));
    expect(r.topLevel.sort()).toEqual(["loose.txt", "photos"]);
    expect((await listNames(client, "home/photos")).sort()).toEqual(["2023", "a.txt", "empty"]);
    expect((await listNames(client, "home/photos/2023")).sort()).toEqual(["b.txt", "c.txt", "d.txt"]);
    expect(text(await client.readFile("home/photos/2023/d.txt"))).toBe("D");
    expect((await lstat(client, "home/loose.txt")).mtime.sec).toBe(when / 1000);
  });
});

describe("uploadFile", () => {
  it("replaces an existing file whole, keeping its mode", async () => {
    const { client } = await setup();
    await client.writeFile("doc.txt", "old");
    await client.setattr("doc.txt", { valid: 1, mode: 0o600 });
    await uploadFile(client, "", new File(["new content"], "doc.txt"));
    expect(text(await client.readFile("doc.txt"))).toBe("new content");
    expect((await lstat(client, "doc.txt")).mode & 0o777).toBe(0o600);
    expect(await listNames(client, "")).toEqual(["doc.txt"]);
  });

  it("says 'storage full' when the quota runs out, keeps the old file, and leaves no temporary file", async () => {
    const { client, fs } = await setup(2 * MiB);
    await client.writeFile("doc.txt", "old");
    const err = await uploadFile(client, "", new File([new Uint8Array(4 * MiB)], "doc.txt")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ArchiveError);
    expect((err as ArchiveError).message).toBe('storage full: "doc.txt" was not uploaded');
    expect(text(await client.readFile("doc.txt"))).toBe("old");
    expect(await listNames(client, "")).toEqual(["doc.txt"]);
    expect((await fs.fsck()).ok).toBe(true);
  });

  it("refuses to put a file where a folder is", async () => {
    const { client } = await setup();
    await client.mkdir("docs");
    await expect(uploadFile(client, "", new File(["x"], "docs"))).rejects.toThrow(/is a folder here/);
    expect(await listNames(client, "")).toEqual(["docs"]);
  });
});
