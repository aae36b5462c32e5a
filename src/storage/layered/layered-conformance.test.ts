import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conformanceCheckNames, runStoreConformance } from "../conformance.js";
import { BaseImage } from "../image/reader.js";
import { serveImageDir, type ImageTestServer } from "../image/test-server.js";
import { writeImage } from "../image/writer.js";
import { MemoryStore } from "../memory.js";
import { LayeredStore } from "./layered-store.js";

// The Store contract over a layered store whose base is an empty tree: every
// record the checks write goes to the user's layer through LayeredTx.
let server: ImageTestServer;
let dirs: string[];
beforeAll(async () => {
  const src = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-empty-"));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "w9p-empty-img-"));
  dirs = [src, out];
  await writeImage(src, out);
  server = await serveImageDir(out);
});
afterAll(async () => {
  await server.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("Store conformance: layered over memory", () => {
  for (const name of conformanceCheckNames) {
    it(name, async () => {
      const image = await BaseImage.open(server.url);
      const report = await runStoreConformance(async () => LayeredStore.open(new MemoryStore({ chunkSize: 4096 }), image), { only: [name] });
      expect(report.results.map((r) => r.ok)).not.toContain(false);
    });
  }
});
