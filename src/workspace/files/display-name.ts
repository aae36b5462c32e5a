/**
 * Names are bytes on the wire; a byte that is not part of valid UTF-8 arrives as
 * a lone surrogate U+DC80–U+DCFF (surrogateescape). The panel keeps the name as it
 * came for every 9P call and shows it lossily: each such byte as U+FFFD, with the
 * exact bytes spelled out (\xNN) in the tooltip.
 */
import { displayName } from "../../protocol/name-bytes.js";

/** True when `name` carries a byte that is not UTF-8 (or any other lone surrogate). */
export function hasRawBytes(name: string): boolean {
  return /(?:[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF])/.test(name);
}

/** The name as the page shows it: each raw byte as U+FFFD (the one mapping, in protocol/name-bytes.ts). */
export { displayName };

/** The name with every escaped byte written as \xNN: exact, for tooltips and messages. */
export function escapedName(name: string): string {
  if (!hasRawBytes(name)) return name;
  return name.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF]/g, (m) => {
    if (m.length === 2) return m;
    const c = m.charCodeAt(0);
    return c >= 0xdc80 && c <= 0xdcff ? `\\x${(c - 0xdc00).toString(16).padStart(2, "0")}` : "\uFFFD";
  });
}

/** Human sizes: 0 B, 12.3 KiB, 4.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

