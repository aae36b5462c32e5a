import { describe, expect, test } from "vitest";
import { CheckpointNames } from "./opfs-names.js";

describe("CheckpointNames", () => {
  test("answers only for loaded directories, and follows checkpoints", () => {
    const n = new CheckpointNames();
    expect(n.has(1, "1/a")).toBeUndefined();
    expect(n.worthLoading(1)).toBe(true);
    n.loaded(1, ["1/a"]);
    expect(n.worthLoading(1)).toBe(false);
    expect(n.has(1, "1/a")).toBe(true);
    expect(n.has(1, "1/b")).toBe(false);
    n.checkpointed(1, "1/b", true);
    n.checkpointed(1, "1/a", false);
    expect(n.has(1, "1/a")).toBe(false);
    expect(n.has(1, "1/b")).toBe(true);
    // A directory it never loaded stays unknown, whatever checkpoints say.
    n.checkpointed(2, "2/x", true);
    expect(n.has(2, "2/x")).toBeUndefined();
  });

  test("a directory too large is not kept, and asked about again only after a checkpoint touched it", () => {
    const n = new CheckpointNames();
    expect(n.tooLarge(3, 1_000_000)).toBe(true);
    expect(n.worthLoading(3)).toBe(false);
    n.checkpointed(3, "3/a", true);
    expect(n.worthLoading(3)).toBe(true);
    expect(n.tooLarge(3, 10)).toBe(false);
  });
});
