// The archive benchmark's plumbing, at a small size in memory (the real run is in the page: npm run bench:workspace).
import { describe, expect, it } from "vitest";
import { Client } from "../../client/client.js";
import { inProcessTransport } from "../../client/transports.js";
import { FileSystem } from "../../fs/filesystem.js";
import { Server } from "../../server/server.js";
import { MemoryStore } from "../../storage/memory.js";
import { benchArchive, formatArchiveBench } from "./bench.js";
import { listNames } from "./tree9p.js";

describe("benchArchive", () => {
  it("imports and exports both sets, reports a row per step, and leaves the tree as it was", async () => {
    const fs = await FileSystem.open(new MemoryStore());
    const client = await Client.connect(inProcessTransport(new Server(fs)));
    await client.writeFile("mine.txt", "kept");
    const rows = await benchArchive(client, { smallFiles: 250, bigBytes: 3 * 1024 * 1024 + 5 });
    expect(rows.map((r) => `${r.set} | ${r.step}`)).toEqual([
      "250 small files | import .tar",
      "250 small files | export .tar",
      "250 small files | export .tar.gz",
      "one 3 MiB file | import .tar",
      "one 3 MiB file | export .tar",
      "one 3 MiB file | export .tar.gz",
    ]);
    expect(rows.every((r) => r.ms > 0 && r.mbPerS > 0 && r.filesPerS > 0)).toBe(true);
    expect(rows[3]!.bytes).toBe(3 * 1024 * 1024 + 5);
    expect(await listNames(client, "")).toEqual(["mine.txt"]);
    expect(formatArchiveBench(rows).split("\n")).toHaveLength(7);
    expect((await fs.fsck()).ok).toBe(true);
  });
});
