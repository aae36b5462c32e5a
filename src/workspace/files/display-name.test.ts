import { describe, expect, it } from "vitest";
import { displayName, escapedName, formatBytes, hasRawBytes } from "./display-name.js";

describe("names as the panel shows them", () => {
  it("leaves valid names alone, emoji (surrogate pairs) included", () => {
    expect(hasRawBytes("notes 😀.txt")).toBe(false);
    expect(displayName("notes 😀.txt")).toBe("notes 😀.txt");
    expect(escapedName("café")).toBe("café");
  });

  it("shows a non-UTF-8 byte (a lone surrogate U+DC80–U+DCFF) as U+FFFD and spells it as \\xNN", () => {
    const latin1 = "caf\uDCE9.txt"; // "café" written in Latin-1: byte 0xE9
    expect(hasRawBytes(latin1)).toBe(true);
    expect(displayName(latin1)).toBe("caf\uFFFD.txt");
    expect(escapedName(latin1)).toBe("caf\\xe9.txt");
    // The displayed form is well-formed UTF-16: encoding it loses nothing further.
    expect(new TextDecoder().decode(new TextEncoder().encode(displayName(latin1)))).toBe(displayName(latin1));
  });

  it("formats sizes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(200 * 1024 * 1024)).toBe("200 MiB");
  });
});
