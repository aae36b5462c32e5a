/** The files panel's preview pane: text (the file's head) or an image, with its size, mode and time. */
import type { Client } from "../../client/client.js";
import { displayName, escapedName, formatBytes } from "./display-name.js";
import { asText, formatMode, formatTime, imageType, mtimeOf, type Listed } from "./file-view.js";
import { errorMessage } from "./messages.js";
import { fileStream } from "./transfer.js";
import { h } from "./ui.js";

const PREVIEW_IMAGE_BYTES = 32 * 1024 * 1024;

export interface PreviewOptions {
  client: Client;
  /** Largest text shown (default 256 KiB). */
  textBytes?: number;
  download(item: Listed): void;
  /** Still the item the panel has selected: a preview read that lands after another was chosen is dropped. */
  isSelected(item: Listed): boolean;
  /** The pane's ✕ was clicked. */
  closeClicked(): void;
}

export interface PreviewPane {
  readonly element: HTMLElement;
  show(item: Listed): Promise<void>;
  /** Hide it and let go of what it shows. */
  close(): void;
}

export function createPreview(o: PreviewOptions): PreviewPane {
  let url: string | undefined;
  const title = h("div", { class: "title" });
  const meta = h("div", { class: "meta" });
  const body = h("div", { class: "content", "data-role": "preview-content" });
  const downloadBtn = h("button", { title: "Download" }, "Download");
  const element = h(
    "aside",
    { class: "w9p-preview", hidden: true, "data-role": "preview", "aria-label": "Preview" },
    h("div", { class: "w9p-head" }, title, h("span", { class: "w9p-spacer" }), downloadBtn, h("button", { class: "icon", title: "Close preview", onclick: () => o.closeClicked() }, "✕")),
    meta,
    body,
  );
  const dropUrl = () => {
    if (url) URL.revokeObjectURL(url);
    url = undefined;
  };
  const note = (text: string) => h("p", { class: "w9p-note" }, text);

  async function show(item: Listed): Promise<void> {
    element.hidden = false;
    title.textContent = displayName(item.name);
    title.title = escapedName(item.name);
    meta.textContent = `${formatBytes(item.attr.size)} · ${formatMode(item.attr.mode)} · ${formatTime(mtimeOf(item.attr))}`;
    downloadBtn.onclick = () => o.download(item);
    downloadBtn.hidden = item.kind !== "file";
    body.replaceChildren(h("div", { class: "w9p-note" }, "Loading…"));
    dropUrl();
    if (item.kind === "symlink") return body.replaceChildren(note(`Symbolic link to ${displayName(item.target ?? "?")}`));
    if (item.kind !== "file") return body.replaceChildren(note("No preview for this kind of file."));
    try {
      const type = imageType(item.name);
      const limit = type ? PREVIEW_IMAGE_BYTES : (o.textBytes ?? 256 * 1024);
      if (type && item.attr.size > limit) return body.replaceChildren(note("Too large to preview; download it instead."));
      const bytes = await readHead(o.client, item.path, limit);
      if (!o.isSelected(item)) return;
      if (type) {
        url = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
        const img = h("img", { src: url, alt: displayName(item.name) });
        img.addEventListener("error", () => body.replaceChildren(note("This image could not be decoded.")));
        return body.replaceChildren(img);
      }
      const text = asText(bytes);
      if (text === undefined) return body.replaceChildren(note(`Binary file, ${formatBytes(item.attr.size)}. Download it to open it.`));
      body.replaceChildren(h("pre", { "data-role": "preview-text" }, text));
      if (item.attr.size > bytes.length) body.append(note(`First ${formatBytes(bytes.length)} of ${formatBytes(item.attr.size)} shown.`));
    } catch (e) {
      body.replaceChildren(note(`Could not read it: ${errorMessage(e)}`));
    }
  }

  return {
    element,
    show,
    close() {
      element.hidden = true;
      body.replaceChildren();
      dropUrl();
    },
  };
}

/** The first `limit` bytes of a file (all of a shorter one). */
async function readHead(client: Client, path: string, limit: number): Promise<Uint8Array> {
  const reader = fileStream(client, path).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  try {
    while (n < limit) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      n += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const out = new Uint8Array(Math.min(n, limit));
  let off = 0;
  for (const p of parts) {
    const take = Math.min(p.length, out.length - off);
    out.set(p.subarray(0, take), off);
    off += take;
  }
  return out;
}
