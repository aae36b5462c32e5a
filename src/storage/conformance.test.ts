import { describe, expect, it } from "vitest";
import { conformanceCheckNames, runStoreConformance } from "./conformance.js";
import { MemoryStore } from "./memory.js";

// The Store contract's checks against the memory store (the browser suite
// runs the same checks against IndexedDB and OPFS in Chromium). Small chunks
// make the multi-chunk checks cheap.
describe("Store conformance: memory", () => {
  for (const name of conformanceCheckNames) {
    it(name, async () => {
      const report = await runStoreConformance(async () => new MemoryStore({ chunkSize: 4096 }), { only: [name] });
      expect(report.results.map((r) => r.ok)).not.toContain(false);
    });
  }
});
