/** Rendering of the files panel: icons, rows, breadcrumbs and the preview pane. Pure DOM building, no 9P. */
import type { Attr } from "../../protocol/messages.js";
import { kindOf, type NodeKind } from "../archive/tree9p.js";
import { displayName, escapedName, formatBytes } from "./display-name.js";
import { h } from "./ui.js";

export interface Listed {
  name: string;
  path: string;
  attr: Attr;
  kind: NodeKind;
  /** Symlinks: where they point. */
  target?: string;
}

const SVG_NS = "http://www.w3.org/2000/svg";
const ICONS: Record<NodeKind, string> = {
  directory: "M1.5 3.5h4l1.5 1.5h7.5v8.5h-13z",
  file: "M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3",
  symlink: "M3.5 1.5h6l3 3v10h-9z M6 11l4-4 M7 7h3v3",
  other: "M3 3h10v10h-10z",
};

export function icon(kind: NodeKind): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.classList.add("kind");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[kind]);
  path.setAttribute("fill", kind === "directory" ? "currentColor" : "none");
  path.setAttribute("fill-opacity", kind === "directory" ? "0.25" : "0");
  path.setAttribute("stroke", "currentColor");
  path.setAttribute("stroke-width", "1.2");
  path.setAttribute("stroke-linejoin", "round");
  svg.append(path);
  return svg;
}

export function mtimeOf(a: Attr): Date {
  return new Date(a.mtime.sec * 1000 + Math.floor(a.mtime.nsec / 1e6));
}

export function formatTime(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatMode(mode: number): string {
  const kind = kindOf(mode);
  const t = kind === "directory" ? "d" : kind === "symlink" ? "l" : "-";
  let s = t;
  for (let shift = 6; shift >= 0; shift -= 3) {
    const b = (mode >> shift) & 7;
    s += (b & 4 ? "r" : "-") + (b & 2 ? "w" : "-") + (b & 1 ? "x" : "-");
  }
  return s;
}

/** Folders first, then by name as the user reads it. */
export function sortListed(items: Listed[]): Listed[] {
  const coll = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });
  return items.sort((a, b) => Number(b.kind === "directory") - Number(a.kind === "directory") || coll.compare(displayName(a.name), displayName(b.name)));
}

export interface RowActions {
  open(item: Listed): void;
  download(item: Listed): void;
  exportFolder(item: Listed): void;
  rename(item: Listed): void;
  remove(item: Listed): void;
}

export function renderRow(item: Listed, selected: boolean, act: RowActions): HTMLTableRowElement {
  const isDir = item.kind === "directory";
  const label = displayName(item.name);
  const btn = (text: string, title: string, fn: () => void) =>
    h("button", { class: "icon", title, "aria-label": `${title} ${label}`, onclick: (ev: Event) => (ev.stopPropagation(), fn()) }, text);
  const row = h(
    "tr",
    {
      class: `w9p-row${isDir ? " dir" : ""}${selected ? " selected" : ""}`,
      "data-name": item.name,
      "data-kind": item.kind,
      tabindex: 0,
      "aria-selected": selected ? "true" : "false",
    },
    h(
      "td",
      {},
      h(
        "div",
        { class: "name", title: escapedName(item.name) },
        icon(item.kind),
        h("span", { class: "label" }, label),
        item.target !== undefined ? h("span", { class: "target" }, `→ ${displayName(item.target)}`) : null,
      ),
    ),
    h("td", { class: "size" }, isDir ? "—" : formatBytes(item.attr.size)),
    h("td", { class: "mtime" }, formatTime(mtimeOf(item.attr))),
    h(
      "td",
      { class: "actions" },
      isDir ? btn("⇩", "Export as .tar.gz", () => act.exportFolder(item)) : item.kind === "file" ? btn("⇩", "Download", () => act.download(item)) : null,
      btn("✎", "Rename", () => act.rename(item)),
      btn("✕", "Delete", () => act.remove(item)),
    ),
  );
  row.addEventListener("click", () => act.open(item));
  row.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") act.open(item);
    else if (ev.key === "Delete") act.remove(item);
    else if (ev.key === "F2") act.rename(item);
  });
  return row;
}

export function renderCrumbs(treeName: string, path: string, go: (path: string) => void): HTMLElement {
  const nav = h("nav", { class: "w9p-crumbs", "aria-label": "Folder" });
  nav.append(h("button", { onclick: () => go(""), title: "The top of the tree" }, treeName));
  const parts = path.split("/").filter(Boolean);
  parts.forEach((p, i) => {
    const to = parts.slice(0, i + 1).join("/");
    nav.append(h("span", { class: "sep" }, "/"), h("button", { onclick: () => go(to), title: escapedName(p) }, displayName(p)));
  });
  return nav;
}

const IMAGE_TYPES: Record<string, string> = {
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  svg: "image/svg+xml",
  bmp: "image/bmp",
  ico: "image/x-icon",
  avif: "image/avif",
};

export function imageType(name: string): string | undefined {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase();
  return ext ? IMAGE_TYPES[ext] : undefined;
}

/** Text if the bytes look like text (no NUL in the first 8 KiB and mostly decodable), else undefined. */
export function asText(bytes: Uint8Array): string | undefined {
  const head = bytes.subarray(0, 8192);
  if (head.includes(0)) return undefined;
  const text = new TextDecoder().decode(bytes);
  const bad = (text.match(/\uFFFD/g) ?? []).length;
  return bad > Math.max(4, text.length / 50) ? undefined : text;
}
