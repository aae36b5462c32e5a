/**
 * The files panel: browse the tree on its own 9P session, preview, download,
 * upload (picker and drag-and-drop onto the folder or any folder row), new
 * folder, rename, delete, and import/export of .tar/.tar.gz with progress bars.
 *
 * Seeing what the guest writes: while the page is visible the open folder is
 * polled every few seconds and shown again when it changed, on focus, or on the
 * Refresh button. A folder of up to FULL_POLL_ENTRIES entries is polled by its
 * whole listing (names, sizes, times, modes): a file the guest writes into or
 * grows changes only that file, not the folder. A larger one is polled by the
 * folder's own attributes, read before its listing, so a change made while the
 * listing is read is seen by the next poll.
 * What the panel writes reaches the guest directly (it mounts with cache=none);
 * `invalidateGuest` is called after each write for mounts that do cache.
 */
import type { Client } from "../../client/client.js";
import { Errno, FsError } from "../../protocol/errno.js";
import { ArchiveError } from "../archive/entry-path.js";
import { exportTree, listChildren, measureTree } from "../archive/export.js";
import { importEntries, type ImportResult } from "../archive/import.js";
import { tarEntries } from "../archive/tar-source.js";
import { baseName, joinPath, kindOf, parentOf, readlink, removeTree, tryLstat } from "../archive/tree9p.js";
import type { MountPanel, Panel, PanelContext } from "../panel.js";
import { displayName, escapedName, formatBytes } from "./display-name.js";
import { asText, formatMode, formatTime, imageType, mtimeOf, renderCrumbs, renderRow, sortListed, type Listed } from "./file-view.js";
import { injectPanelStyles } from "./styles.js";
import { chooseSaveTarget, droppedEntries, fileStream, readDrop, sweepDownloads, uploadFile } from "./transfer.js";
import { ask, h, startJob, type Job } from "./ui.js";

export interface FilesPanelOptions {
  /** How often the open folder is checked for changes made elsewhere (default 2000 ms; 0 = never). */
  pollMs?: number;
  /** Largest file shown in the preview (default 256 KiB of text, 32 MiB of image). */
  previewTextBytes?: number;
  /** The folder shown first, from the tree's root (e.g. "root" when the tree is a whole Debian root); default the root. */
  startPath?: string;
}

const PREVIEW_IMAGE_BYTES = 32 * 1024 * 1024;
/** Folders up to this size are polled by their whole listing (about 3 requests per entry per poll). */
const FULL_POLL_ENTRIES = 256;

/** What the listing shows of each entry: a change in any of it is worth showing. */
function listingSignature(children: readonly Listed[]): string {
  return children.map(({ name, attr: a }) => `${name}\0${a.mode}\0${a.size}\0${a.mtime.sec}.${a.mtime.nsec}`).join("\n");
}

/** Count the bytes that go through a stream (the import progress bar's numerator). */
function counted(stream: ReadableStream<Uint8Array>, onBytes: (total: number) => void): ReadableStream<Uint8Array> {
  let total = 0;
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        total += chunk.length;
        onBytes(total);
        c.enqueue(chunk);
      },
    }),
  );
}

function validName(name: string): string | undefined {
  if (name === "" || name === "." || name === "..") return "a name cannot be empty, . or ..";
  if (name.includes("/")) return "a name cannot contain /";
  if (name.includes("\0")) return "a name cannot contain a NUL byte";
  return undefined;
}

function message(e: unknown): string {
  if (e instanceof ArchiveError) return e.message;
  if (e instanceof FsError) {
    if (e.errno === Errno.ENOSPC) return "storage full";
    if (e.errno === Errno.EEXIST) return "a file or folder of that name already exists";
    if (e.errno === Errno.ENOTEMPTY) return "the folder is not empty";
    if (e.errno === Errno.ENOENT) return "it is gone (deleted elsewhere?)";
  }
  return e instanceof Error ? e.message : String(e);
}

export function createFilesPanel(options: FilesPanelOptions = {}): MountPanel {
  return (element, context) => mount(element, context, options);
}

export const mountFilesPanel: MountPanel = createFilesPanel();

async function mount(element: HTMLElement, context: PanelContext, options: FilesPanelOptions): Promise<Panel> {
  injectPanelStyles(element.ownerDocument);
  const client: Client = await context.openClient();
  const treeName = context.fileServer.name;
  void sweepDownloads();

  let cwd = (options.startPath ?? "").replace(/^\/+|\/+$/g, "");
  let items: Listed[] = [];
  let selected: string | undefined;
  let seen = "";
  let disposed = false;
  let loading: Promise<void> | undefined;
  let again = false;
  let previewUrl: string | undefined;

  const uploadInput = h("input", { type: "file", multiple: true, hidden: true, "data-role": "upload-input" });
  const importInput = h("input", { type: "file", accept: ".tar,.tar.gz,.tgz,application/x-tar,application/gzip", hidden: true, "data-role": "import-input" });
  const crumbsSlot = h("div", { class: "w9p-crumbs-slot" });
  const upBtn = h("button", { title: "Parent folder", "aria-label": "Parent folder", onclick: () => go(parentOf(cwd)) }, "↑");
  const toolbar = h(
    "div",
    { class: "w9p-toolbar" },
    h("button", { title: "Read the folder again", "data-role": "refresh", onclick: () => void refresh() }, "⟳ Refresh"),
    h("button", { "data-role": "new-folder", onclick: () => void newFolder() }, "New folder"),
    h("button", { "data-role": "upload", onclick: () => uploadInput.click() }, "Upload…"),
    h("button", { "data-role": "import", title: "Extract a .tar or .tar.gz into this folder", onclick: () => importInput.click() }, "Import archive…"),
    h("button", { "data-role": "export", title: "Download this folder as .tar.gz", onclick: () => void exportFolder(cwd) }, "Export .tar.gz"),
  );
  const tbody = h("tbody");
  const table = h(
    "table",
    { class: "w9p-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "size" }, "Size"), h("th", { class: "mtime" }, "Modified"), h("th", { class: "actions" }, ""))),
    tbody,
  );
  const empty = h("div", { class: "w9p-empty", hidden: true }, h("strong", {}, "This folder is empty"), "Drop files or folders here, or use Upload.");
  const list = h("div", { class: "w9p-list", "data-role": "list", tabindex: -1 }, table, empty);
  const previewTitle = h("div", { class: "title" });
  const previewMeta = h("div", { class: "meta" });
  const previewBody = h("div", { class: "content", "data-role": "preview-content" });
  const previewDownload = h("button", { title: "Download" }, "Download");
  const preview = h(
    "aside",
    { class: "w9p-preview", hidden: true, "data-role": "preview", "aria-label": "Preview" },
    h("div", { class: "w9p-head" }, previewTitle, h("span", { class: "w9p-spacer" }), previewDownload, h("button", { class: "icon", title: "Close preview", onclick: () => closePreview() }, "✕")),
    previewMeta,
    previewBody,
  );
  const jobs = h("div", { class: "w9p-jobs", "data-role": "jobs", "aria-live": "polite" });
  const root = h(
    "section",
    { class: "w9p-panel w9p-files", "aria-label": "Files" },
    h("div", { class: "w9p-head" }, upBtn, crumbsSlot, h("span", { class: "w9p-spacer" })),
    toolbar,
    h("div", { class: "w9p-files-body" }, list, preview),
    jobs,
    uploadInput,
    importInput,
  );
  element.replaceChildren(root);

  const fail = (what: string, e: unknown) => context.notify(`${what}: ${message(e)}`, "error");

  // ---- listing -------------------------------------------------------------

  /** The folder's own attributes: what a large folder is polled by. */
  const folderSignature = async (path: string): Promise<string> => {
    const a = await tryLstat(client, path);
    return a ? `${a.mtime.sec}.${a.mtime.nsec}.${a.qid.version}.${a.ctime.sec}.${a.ctime.nsec}` : "gone";
  };
  const readListing = async (path: string): Promise<Listed[]> =>
    (await listChildren(client, path)).map(({ name, path: p, attr }) => ({ name, path: p, attr, kind: kindOf(attr.mode) }));
  /** Read before the listing it describes, never after: a change in between then shows at the next poll instead of never. */
  const signatureOf = (folder: string, children: readonly Listed[]) =>
    children.length <= FULL_POLL_ENTRIES ? `${folder}\n${listingSignature(children)}` : folder;

  async function load(): Promise<void> {
    const path = cwd;
    let children: Listed[];
    let signature: string;
    try {
      const folder = await folderSignature(path);
      children = await readListing(path);
      signature = signatureOf(folder, children);
    } catch (e) {
      if (path !== "" && e instanceof FsError && (e.errno === Errno.ENOENT || e.errno === Errno.ENOTDIR)) {
        context.notify(`"${escapedName(path)}" is gone; showing its parent`, "info");
        cwd = parentOf(path);
        return load();
      }
      throw e;
    }
    await Promise.all(children.filter((c) => c.kind === "symlink").map(async (c) => (c.target = await readlink(client, c.path).catch(() => "?"))));
    if (path !== cwd || disposed) return;
    items = sortListed(children);
    seen = signature;
    render();
  }

  /** Read the folder again. A call during a read makes that read run once more when it ends, so a change made meanwhile is never missed. */
  function refresh(): Promise<void> {
    if (loading) {
      again = true;
      return loading;
    }
    loading = (async () => {
      do {
        again = false;
        await load().catch((e) => fail("could not read the folder", e));
      } while (again && !disposed);
    })().finally(() => (loading = undefined));
    return loading;
  }

  function render(): void {
    crumbsSlot.replaceChildren(renderCrumbs(treeName, cwd, go));
    upBtn.disabled = cwd === "";
    tbody.replaceChildren(...items.map((it) => renderRow(it, it.name === selected, actions)));
    empty.hidden = items.length > 0;
    table.hidden = items.length === 0;
  }

  function go(path: string): void {
    cwd = path;
    selected = undefined;
    closePreview();
    void refresh();
  }

  // Changes made elsewhere (the guest): poll the open folder (see the header), and look again on focus.
  const pollMs = options.pollMs ?? 2000;
  /** A poll outlasting the interval (a busy tree, a listing of hundreds) is not started again beside itself. */
  let polling = false;
  const poll = async () => {
    if (disposed || loading || polling || document.visibilityState === "hidden") return;
    polling = true;
    try {
      const path = cwd;
      const folder = await folderSignature(path);
      const now = folder !== "gone" && items.length <= FULL_POLL_ENTRIES ? signatureOf(folder, await readListing(path)) : folder;
      if (path === cwd && now !== seen) await refresh();
    } catch {
      // The next tick tries again.
    } finally {
      polling = false;
    }
  };
  const timer = pollMs > 0 ? setInterval(() => void poll(), pollMs) : undefined;
  const onVisible = () => {
    if (document.visibilityState === "visible") void refresh();
  };
  const onFocus = () => void refresh();
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("focus", onFocus);

  const changed = (path: string) => {
    context.invalidateGuest?.(path);
    return refresh();
  };

  // ---- actions -------------------------------------------------------------

  const actions = {
    open(item: Listed) {
      if (item.kind === "directory") return go(item.path);
      selected = item.name;
      render();
      void showPreview(item);
    },
    download: (item: Listed) => void download(item),
    exportFolder: (item: Listed) => void exportFolder(item.path),
    rename: (item: Listed) => void rename(item),
    remove: (item: Listed) => void remove(item),
  };

  async function newFolder(): Promise<void> {
    const name = await ask(root, { title: "New folder", message: `In ${treeName}/${displayName(cwd)}`, input: "", confirm: "Create" });
    if (name === null) return;
    const bad = validName(name);
    if (bad) return context.notify(bad, "error");
    try {
      await client.mkdir(joinPath(cwd, name));
      await changed(cwd);
    } catch (e) {
      fail(`could not create "${name}"`, e);
    }
  }

  async function rename(item: Listed): Promise<void> {
    const name = await ask(root, { title: `Rename ${item.kind === "directory" ? "folder" : "file"}`, input: item.name, confirm: "Rename" });
    if (name === null || name === item.name) return;
    const bad = validName(name);
    if (bad) return context.notify(bad, "error");
    try {
      const to = joinPath(parentOf(item.path), name);
      if (await tryLstat(client, to)) throw new FsError(Errno.EEXIST);
      await client.rename(item.path, to);
      if (selected === item.name) selected = name;
      await changed(parentOf(item.path));
    } catch (e) {
      fail(`could not rename "${escapedName(item.name)}"`, e);
    }
  }

  async function remove(item: Listed): Promise<void> {
    const isDir = item.kind === "directory";
    const ok = await ask(root, {
      title: isDir ? "Delete folder?" : "Delete file?",
      message: isDir ? `"${displayName(item.name)}" and everything in it will be deleted. This cannot be undone.` : `"${displayName(item.name)}" will be deleted. This cannot be undone.`,
      confirm: "Delete",
      danger: true,
    });
    if (ok === null) return;
    try {
      await removeTree(client, item.path);
      if (selected === item.name) closePreview();
      await changed(parentOf(item.path));
    } catch (e) {
      fail(`could not delete "${escapedName(item.name)}"`, e);
    }
  }

  async function download(item: Listed): Promise<void> {
    const target = await chooseSaveTarget(displayName(item.name));
    if (!target) return;
    const job = startJob(jobs, `Download ${displayName(item.name)}`);
    try {
      let done = 0;
      const total = item.attr.size;
      await target.write(counted(fileStream(client, item.path, job.signal), (n) => ((done = n), job.update(done, total))), job.signal);
      job.finish(`Downloaded ${formatBytes(total)}`);
    } catch (e) {
      job.fail(message(e));
      fail(`download of "${escapedName(item.name)}" failed`, e);
    }
  }

  async function exportFolder(path: string): Promise<void> {
    const label = path === "" ? treeName : baseName(path);
    const fileName = `${displayName(label)}.tar.gz`;
    const target = await chooseSaveTarget(fileName, "application/gzip");
    if (!target) return;
    const job = startJob(jobs, `Export ${displayName(path === "" ? treeName : path)} → ${fileName}`);
    try {
      const total = await measureTree(client, path, job.signal);
      const stream = exportTree(client, path, { signal: job.signal, onProgress: (p) => job.update(p.bytes, total.bytes, `${p.entries} of ${total.entries} items`) });
      await target.write(stream, job.signal);
      job.finish(`Exported ${total.entries} items, ${formatBytes(total.bytes)}${target.via === "download" ? " — see your downloads" : ""}`);
    } catch (e) {
      job.fail(message(e));
      fail("export failed", e);
    }
  }

  async function runImport(job: Job, into: string, run: () => Promise<ImportResult>): Promise<void> {
    try {
      const r = await run();
      const parts = [`${r.files} files`, `${r.directories} folders`];
      if (r.symlinks) parts.push(`${r.symlinks} symlinks`);
      if (r.hardLinks) parts.push(`${r.hardLinks} hard links`);
      job.finish(`Imported ${parts.join(", ")} (${formatBytes(r.bytes)})${r.skipped.length ? `; skipped ${r.skipped.length} special files` : ""}`);
      context.notify(`Imported into ${treeName}/${displayName(into)}: ${r.topLevel.map(displayName).join(", ")}`, "info");
      await changed(into);
    } catch (e) {
      job.fail(message(e));
      fail("import failed", e);
      await refresh();
    }
  }

  async function importArchive(file: File, into: string): Promise<void> {
    const job = startJob(jobs, `Import ${file.name} into ${treeName}/${displayName(into)}`);
    let consumed = 0;
    const source = counted(file.stream(), (n) => (consumed = n));
    await runImport(job, into, () =>
      importEntries(client, into, tarEntries(source), {
        signal: job.signal,
        onProgress: (p) => job.update(consumed, file.size, `${p.entries} items · ${displayName(p.current)}`),
      }),
    );
  }

  async function uploadFiles(files: File[], into: string): Promise<void> {
    if (files.length === 0) return;
    const total = files.reduce((s, f) => s + f.size, 0);
    const job = startJob(jobs, files.length === 1 ? `Upload ${files[0]!.name}` : `Upload ${files.length} files to ${treeName}/${displayName(into)}`);
    let done = 0;
    let landed = 0;
    try {
      for (const f of files) {
        await uploadFile(client, into, f, { signal: job.signal, onBytes: (n) => job.update((done += n), total, f.name) });
        landed++;
        context.invalidateGuest?.(joinPath(into, f.name));
      }
      job.finish(`Uploaded ${files.length === 1 ? formatBytes(total) : `${files.length} files, ${formatBytes(total)}`}`);
    } catch (e) {
      job.fail(landed > 0 ? `${message(e)} (${landed} of ${files.length} uploaded before)` : message(e));
      fail("upload failed", e);
    }
    await changed(into);
  }

  async function uploadFolders(entries: FileSystemEntry[], into: string): Promise<void> {
    const job = startJob(jobs, `Upload ${entries.map((e) => e.name).join(", ")} to ${treeName}/${displayName(into)}`);
    await runImport(job, into, () => importEntries(client, into, droppedEntries(entries), { signal: job.signal, onProgress: (p) => job.update(p.bytes, undefined, `${p.entries} items`) }));
  }

  uploadInput.addEventListener("change", () => {
    const files = Array.from(uploadInput.files ?? []);
    uploadInput.value = "";
    void uploadFiles(files, cwd);
  });
  importInput.addEventListener("change", () => {
    const file = importInput.files?.[0];
    importInput.value = "";
    if (file) void importArchive(file, cwd);
  });

  // ---- drag and drop: onto the open folder, or onto a folder row ------------

  const dropTargetOf = (ev: DragEvent): { el: HTMLElement; path: string } => {
    const row = (ev.target as Element | null)?.closest?.("tr.w9p-row.dir") as HTMLElement | null;
    const item = row ? items.find((i) => i.name === row.dataset.name) : undefined;
    return row && item ? { el: row, path: item.path } : { el: list, path: cwd };
  };
  let highlighted: HTMLElement | undefined;
  const highlight = (el: HTMLElement | undefined) => {
    if (highlighted === el) return;
    highlighted?.classList.remove("drop-target");
    highlighted = el;
    el?.classList.add("drop-target");
  };
  list.addEventListener("dragover", (ev) => {
    if (!ev.dataTransfer || !Array.from(ev.dataTransfer.types).includes("Files")) return;
    ev.preventDefault();
    ev.dataTransfer.dropEffect = "copy";
    highlight(dropTargetOf(ev).el);
  });
  list.addEventListener("dragleave", (ev) => {
    if (!list.contains(ev.relatedTarget as Node | null)) highlight(undefined);
  });
  list.addEventListener("drop", (ev) => {
    highlight(undefined);
    if (!ev.dataTransfer) return;
    ev.preventDefault();
    const { path } = dropTargetOf(ev);
    const dropped = readDrop(ev.dataTransfer);
    if (dropped.hasFolders) void uploadFolders(dropped.entries, path);
    else void uploadFiles(dropped.files, path);
  });

  // ---- preview -----------------------------------------------------------------

  function closePreview(): void {
    preview.hidden = true;
    previewBody.replaceChildren();
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = undefined;
    if (selected !== undefined) {
      selected = undefined;
      render();
    }
  }

  async function showPreview(item: Listed): Promise<void> {
    preview.hidden = false;
    previewTitle.textContent = displayName(item.name);
    previewTitle.title = escapedName(item.name);
    previewMeta.textContent = `${formatBytes(item.attr.size)} · ${formatMode(item.attr.mode)} · ${formatTime(mtimeOf(item.attr))}`;
    previewDownload.onclick = () => void download(item);
    previewDownload.hidden = item.kind !== "file";
    previewBody.replaceChildren(h("div", { class: "w9p-note" }, "Loading…"));
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = undefined;
    if (item.kind === "symlink") return previewBody.replaceChildren(h("p", { class: "w9p-note" }, `Symbolic link to ${displayName(item.target ?? "?")}`));
    if (item.kind !== "file") return previewBody.replaceChildren(h("p", { class: "w9p-note" }, "No preview for this kind of file."));
    try {
      const type = imageType(item.name);
      const limit = type ? PREVIEW_IMAGE_BYTES : (options.previewTextBytes ?? 256 * 1024);
      if (type && item.attr.size > limit) return previewBody.replaceChildren(h("p", { class: "w9p-note" }, "Too large to preview; download it instead."));
      const bytes = await readHead(item.path, limit);
      if (selected !== item.name) return;
      if (type) {
        previewUrl = URL.createObjectURL(new Blob([bytes as BlobPart], { type }));
        const img = h("img", { src: previewUrl, alt: displayName(item.name) });
        img.addEventListener("error", () => previewBody.replaceChildren(h("p", { class: "w9p-note" }, "This image could not be decoded.")));
        return previewBody.replaceChildren(img);
      }
      const text = asText(bytes);
      if (text === undefined) return previewBody.replaceChildren(h("p", { class: "w9p-note" }, `Binary file, ${formatBytes(item.attr.size)}. Download it to open it.`));
      previewBody.replaceChildren(h("pre", { "data-role": "preview-text" }, text));
      if (item.attr.size > bytes.length) previewBody.append(h("p", { class: "w9p-note" }, `First ${formatBytes(bytes.length)} of ${formatBytes(item.attr.size)} shown.`));
    } catch (e) {
      previewBody.replaceChildren(h("p", { class: "w9p-note" }, `Could not read it: ${message(e)}`));
    }
  }

  async function readHead(path: string, limit: number): Promise<Uint8Array> {
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

  // ---- lifecycle -----------------------------------------------------------------

  const panel: Panel & { refresh(): Promise<void>; go(path: string): void; readonly cwd: string } = {
    refresh,
    go,
    get cwd() {
      return cwd;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      if (timer) clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
      window.removeEventListener("focus", onFocus);
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      client.close();
      element.replaceChildren();
    },
  };
  void context.closing.then(() => panel.dispose());
  await refresh();
  return panel;
}
