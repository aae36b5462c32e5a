import { describe, expect, it } from "vitest";
import { entryPieces, formatProfile, isCurrentProfile, parseProfile, ProfileFormatError, ProfileRecorder } from "./profile.js";

describe("boot profile text", () => {
  it("round-trips ranges and whole files, in order, the same path on several lines", () => {
    const entries = [
      { path: "/usr/lib/cc1", ranges: [[0, 8192], [65536, 69632]] as [number, number][] },
      { path: "/etc/hostname" },
      { path: "/usr/lib/cc1", ranges: [[1 << 20, (1 << 20) + 4096]] as [number, number][] },
    ];
    const text = formatProfile(entries);
    expect(isCurrentProfile(text)).toBe(true);
    expect(text.split("\n")[1]).toBe("/usr/lib/cc1\t0-8192,65536-69632");
    expect(parseProfile(text)).toEqual(entries);
  });

  it("reads a version 1 profile (paths only) as whole files, and says it is not current", () => {
    const old = "/usr/sbin/init\n/usr/bin/dash\n";
    expect(isCurrentProfile(old)).toBe(false);
    expect(parseProfile(old)).toEqual([{ path: "/usr/sbin/init" }, { path: "/usr/bin/dash" }]);
  });

  it("leaves out paths it cannot write, and names the line of a bad range", () => {
    expect(parseProfile(formatProfile([{ path: "/a\tb" }, { path: "/c" }]))).toEqual([{ path: "/c" }]);
    expect(() => parseProfile("# worker9p boot profile 2\n/a\t0-1\n/b\t9-3\n")).toThrow(ProfileFormatError);
    expect(() => parseProfile("/a\t0-1\n/b\tx\n")).toThrow(/line 2/);
  });

  it("maps ranges to the pieces they touch, within the file", () => {
    expect(entryPieces({ path: "/f", ranges: [[0, 1], [300, 301]] }, 1000, 100)).toEqual([0, 3]);
    expect(entryPieces({ path: "/f", ranges: [[150, 250]] }, 1000, 100)).toEqual([1, 2]);
    expect(entryPieces({ path: "/f", ranges: [[900, 4096]] }, 1000, 100)).toEqual([9]); // a read past the end
    expect(entryPieces({ path: "/f" }, 250, 100)).toEqual([0, 1, 2]);
    expect(entryPieces({ path: "/f" }, 0, 100)).toEqual([]);
  });
});

describe("ProfileRecorder", () => {
  it("keeps first uses at page granularity, extending a line that continues", () => {
    const r = new ProfileRecorder(4096);
    r.use("/cc1", 0, 100); // page 0
    r.use("/cc1", 4096, 8192); // page 1: continues the line
    r.use("/lib", 0, 4096);
    r.use("/cc1", 10, 20); // page 0 again: nothing
    r.use("/cc1", 4000, 12000); // pages 0 and 1 seen, page 2 new: a new line (another path came between)
    r.use("/cc1", 40960, 40961); // page 10: the same line, a second range
    r.useWhole("/etc");
    r.useWhole("/etc");
    expect(r.entriesInOrder()).toEqual([
      { path: "/cc1", ranges: [[0, 8192]] },
      { path: "/lib", ranges: [[0, 4096]] },
      { path: "/cc1", ranges: [[8192, 12288], [40960, 45056]] },
      { path: "/etc" },
    ]);
  });
});
