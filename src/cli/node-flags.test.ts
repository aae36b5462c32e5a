import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SERVE_NODE_FLAGS } from "./node-flags.js";

describe("worker9p serve's node flags", () => {
  it("are the same on the bin's shebang line and in `npm run serve`", () => {
    const shebang = readFileSync("bin/worker9p.js", "utf8").split("\n")[0]!;
    expect(shebang).toBe(`#!/usr/bin/env -S node ${SERVE_NODE_FLAGS.join(" ")}`);
    const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.serve).toBe(`node ${SERVE_NODE_FLAGS.join(" ")} --import tsx src/cli/run.ts serve`);
  });
});
