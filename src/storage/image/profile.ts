/**
 * The boot profile's text form (FORMAT.md, "Boot profile"): which bytes of which files a boot and
 * a first python3 / cc run used, in first-use order. Pure: parse, format, map to pieces.
 *
 * One line per use, in order; a path may come back on later lines (cc1's first pages, then a
 * library, then more of cc1):
 *
 *   # worker9p boot profile 2
 *   /usr/lib/gcc/i686-linux-gnu/12/cc1<TAB>0-131072,2490368-2621440
 *   /etc/hostname
 *
 * A line without ranges means the whole file (all of version 1 was such lines, without the header).
 * Ranges are byte offsets [start, end), so the profile does not depend on the piece size.
 */

export const PROFILE_HEADER = "# worker9p boot profile 2";

export interface ProfileEntry {
  /** Absolute path inside the image. */
  path: string;
  /** Bytes used, [start, end) pairs in first-use order; absent: the whole file. */
  ranges?: [number, number][];
}

export class ProfileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProfileFormatError";
  }
}

/** The text form; paths holding a tab or a line break cannot be written and are left out. */
export function formatProfile(entries: readonly ProfileEntry[]): string {
  const lines = [PROFILE_HEADER];
  for (const e of entries) {
    if (/[\t\n\r]/.test(e.path)) continue;
    lines.push(e.ranges ? `${e.path}\t${e.ranges.map(([s, t]) => `${s}-${t}`).join(",")}` : e.path);
  }
  return lines.join("\n") + "\n";
}

/** Whether `text` is a profile of the current version (an older one is whole files only). */
export function isCurrentProfile(text: string): boolean {
  return text.startsWith(PROFILE_HEADER + "\n");
}

/** Parses either version; a malformed range is a ProfileFormatError naming the line. */
export function parseProfile(text: string): ProfileEntry[] {
  const out: ProfileEntry[] = [];
  text.split("\n").forEach((line, i) => {
    if (line === "" || line.startsWith("#")) return;
    const tab = line.indexOf("\t");
    if (tab < 0) return void out.push({ path: line });
    const ranges = line
      .slice(tab + 1)
      .split(",")
      .map((r): [number, number] => {
        const m = /^(\d+)-(\d+)$/.exec(r);
        const start = m ? Number(m[1]) : NaN;
        const end = m ? Number(m[2]) : NaN;
        if (!(start < end) || !Number.isSafeInteger(end)) throw new ProfileFormatError(`boot profile line ${i + 1}: bad range "${r}"`);
        return [start, end];
      });
    out.push({ path: line.slice(0, tab), ranges });
  });
  return out;
}

/** Indexes of the pieces (of `pieceSize` bytes) that `entry` uses in a file of `size` bytes, in its order. */
export function entryPieces(entry: ProfileEntry, size: number, pieceSize: number): number[] {
  const count = Math.ceil(size / pieceSize);
  const out: number[] = [];
  for (const [start, end] of entry.ranges ?? [[0, size]]) {
    const last = Math.min(count, Math.ceil(end / pieceSize));
    for (let i = Math.floor(start / pieceSize); i < last; i++) out.push(i);
  }
  return out;
}

/**
 * Records uses as they happen, at page granularity: a use adds only pages not used before, and
 * extends the last line when it continues it. This is what the profile recorder keeps.
 */
export class ProfileRecorder {
  private readonly entries: ProfileEntry[] = [];
  private readonly pagesSeen = new Map<string, Set<number>>();
  private readonly wholeSeen = new Set<string>();

  constructor(private readonly pageSize = 4096) {}

  /** `path`'s bytes [start, end) were used. */
  use(path: string, start: number, end: number): void {
    if (end <= start) return;
    let seen = this.pagesSeen.get(path);
    if (!seen) this.pagesSeen.set(path, (seen = new Set()));
    const first = Math.floor(start / this.pageSize);
    const last = Math.ceil(end / this.pageSize);
    for (let p = first; p < last; p++) {
      if (seen.has(p)) continue;
      seen.add(p);
      this.add(path, p * this.pageSize, (p + 1) * this.pageSize);
    }
  }

  /** `path` was used as a whole (a directory listed, a symlink read), once. */
  useWhole(path: string): void {
    if (this.wholeSeen.has(path)) return;
    this.wholeSeen.add(path);
    this.entries.push({ path });
  }

  entriesInOrder(): ProfileEntry[] {
    return this.entries.map((e) => (e.ranges ? { path: e.path, ranges: e.ranges.map(([s, t]): [number, number] => [s, t]) } : { path: e.path }));
  }

  private add(path: string, start: number, end: number): void {
    const last = this.entries[this.entries.length - 1];
    const tail = last?.path === path ? last.ranges?.[last.ranges.length - 1] : undefined;
    if (tail && tail[1] === start) tail[1] = end;
    else if (last?.path === path && last.ranges) last.ranges.push([start, end]);
    else this.entries.push({ path, ranges: [[start, end]] });
  }
}
