/**
 * The files panel: browse the tree on its own 9P session, preview, download,
 * upload (picker and drag-and-drop onto the folder or any folder row), new
 * folder, rename, delete, and import/export of .tar/.tar.gz with progress bars.
 *
 * Seeing what the guest writes: while the page is visible the open folder is
 * polled every few seconds and shown again when it changed, on focus, or on the
 * Refresh button (what a poll reads: folder-listing.ts).
 * What the panel writes reaches the guest directly (it mounts with cache=none);
 * `invalidateGuest` is called after each write for mounts that do cache.
 */
import type { Client } from "../../client/client.js";
import { Errno, FsError } from "../../protocol/errno.js";
import { exportTree, measureTree } from "../archive/export.js";
import { importEntries, type ImportResult } from "../archive/import.js";
import { tarEntries } from "../archive/tar-source.js";
import { baseName, joinPath, parentOf, removeTree, tryLstat } from "../archive/tree9p.js";
import type { MountPanel, Panel, PanelContext } from "../panel.js";
import { displayName, escapedName, formatBytes } from "./display-name.js";
import { renderCrumbs, renderRow, type Listed } from "./file-view.js";
import { FolderListing } from "./folder-listing.js";
import { errorMessage, nameProblem } from "./messages.js";
import { createPreview } from "./preview.js";
import { injectPanelStyles } from "./styles.js";
import { chooseSaveTarget, counted, droppedEntries, fileStream, readDrop, sweepDownloads, uploadFile } from "./transfer.js";
import { ask, h, startJob, type Job } from "./ui.js";

export interface FilesPanelOptions {
  /** How often the open folder is checked for changes made elsewhere (default 2000 ms; 0 = never). */
  pollMs?: number;
  /** Largest file shown in the preview (default 256 KiB of text, 32 MiB of image). */
  previewTextBytes?: number;
  /** The folder shown first, from the tree's root (e.g. "root" when the tree is a whole Debian root); default the root. */
  startPath?: string;
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

  let selected: string | undefined;
  let disposed = false;
  const listing = new FolderListing(client, options.startPath ?? "", {
    shown: () => render(),
    gone: (path) => context.notify(`"${escapedName(path)}" is gone; showing its parent`, "info"),
    failed: (e) => fail("could not read the folder", e),
  });
  const refresh = (): Promise<void> => listing.refresh();
  const preview = createPreview({
    client,
    textBytes: options.previewTextBytes,
    download: (item) => void download(item),
    isSelected: (item) => selected === item.name,
    closeClicked: () => closePreview(),
  });

  const uploadInput = h("input", { type: "file", multiple: true, hidden: true, "data-role": "upload-input" });
  const importInput = h("input", { type: "file", accept: ".tar,.tar.gz,.tgz,application/x-tar,application/gzip", hidden: true, "data-role": "import-input" });
  const crumbsSlot = h("div", { class: "w9p-crumbs-slot" });
  const upBtn = h("button", { title: "Parent folder", "aria-label": "Parent folder", onclick: () => go(parentOf(listing.cwd)) }, "↑");
  const toolbar = h(
    "div",
    { class: "w9p-toolbar" },
    h("button", { title: "Read the folder again", "data-role": "refresh", onclick: () => void refresh() }, "⟳ Refresh"),
    h("button", { "data-role": "new-folder", onclick: () => void newFolder() }, "New folder"),
    h("button", { "data-role": "upload", onclick: () => uploadInput.click() }, "Upload…"),
    h("button", { "data-role": "import", title: "Extract a .tar or .tar.gz into this folder", onclick: () => importInput.click() }, "Import archive…"),
    h("button", { "data-role": "export", title: "Download this folder as .tar.gz", onclick: () => void exportFolder(listing.cwd) }, "Export .tar.gz"),
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
  const jobs = h("div", { class: "w9p-jobs", "data-role": "jobs", "aria-live": "polite" });
  const root = h(
    "section",
    { class: "w9p-panel w9p-files", "aria-label": "Files" },
    h("div", { class: "w9p-head" }, upBtn, crumbsSlot, h("span", { class: "w9p-spacer" })),
    toolbar,
    h("div", { class: "w9p-files-body" }, list, preview.element),
    jobs,
    uploadInput,
    importInput,
  );
  element.replaceChildren(root);

  const fail = (what: string, e: unknown) => context.notify(`${what}: ${errorMessage(e)}`, "error");

  // ---- the open folder ----------------------------------------------------

  function render(): void {
    crumbsSlot.replaceChildren(renderCrumbs(treeName, listing.cwd, go));
    upBtn.disabled = listing.cwd === "";
    tbody.replaceChildren(...listing.items.map((it) => renderRow(it, it.name === selected, actions)));
    empty.hidden = listing.items.length > 0;
    table.hidden = listing.items.length === 0;
  }

  function go(path: string): void {
    listing.cwd = path;
    selected = undefined;
    closePreview();
    void refresh();
  }

  // Changes made elsewhere (the guest): poll the open folder while the page is visible, and look again on focus.
  const pollMs = options.pollMs ?? 2000;
  const onTick = () => {
    if (document.visibilityState !== "hidden") void listing.poll();
  };
  const timer = pollMs > 0 ? setInterval(onTick, pollMs) : undefined;
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
      void preview.show(item);
    },
    download: (item: Listed) => void download(item),
    exportFolder: (item: Listed) => void exportFolder(item.path),
    rename: (item: Listed) => void rename(item),
    remove: (item: Listed) => void remove(item),
  };

  async function newFolder(): Promise<void> {
    const name = await ask(root, { title: "New folder", message: `In ${treeName}/${displayName(listing.cwd)}`, input: "", confirm: "Create" });
    if (name === null) return;
    const bad = nameProblem(name);
    if (bad) return context.notify(bad, "error");
    try {
      await client.mkdir(joinPath(listing.cwd, name));
      await changed(listing.cwd);
    } catch (e) {
      fail(`could not create "${name}"`, e);
    }
  }

  async function rename(item: Listed): Promise<void> {
    const name = await ask(root, { title: `Rename ${item.kind === "directory" ? "folder" : "file"}`, input: item.name, confirm: "Rename" });
    if (name === null || name === item.name) return;
    const bad = nameProblem(name);
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
      job.fail(errorMessage(e));
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
      job.fail(errorMessage(e));
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
      job.fail(errorMessage(e));
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
      job.fail(landed > 0 ? `${errorMessage(e)} (${landed} of ${files.length} uploaded before)` : errorMessage(e));
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
    void uploadFiles(files, listing.cwd);
  });
  importInput.addEventListener("change", () => {
    const file = importInput.files?.[0];
    importInput.value = "";
    if (file) void importArchive(file, listing.cwd);
  });

  // ---- drag and drop: onto the open folder, or onto a folder row ------------

  const dropTargetOf = (ev: DragEvent): { el: HTMLElement; path: string } => {
    const row = (ev.target as Element | null)?.closest?.("tr.w9p-row.dir") as HTMLElement | null;
    const item = row ? listing.items.find((i) => i.name === row.dataset.name) : undefined;
    return row && item ? { el: row, path: item.path } : { el: list, path: listing.cwd };
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
    preview.close();
    if (selected !== undefined) {
      selected = undefined;
      render();
    }
  }

  // ---- lifecycle -----------------------------------------------------------------

  const panel: Panel & { refresh(): Promise<void>; go(path: string): void; readonly cwd: string } = {
    refresh,
    go,
    get cwd() {
      return listing.cwd;
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      listing.dispose();
      if (timer) clearInterval(timer);
      document.removeEventListener("visibilitychange", onVisible);
      window.removeEventListener("focus", onFocus);
      preview.close();
      client.close();
      element.replaceChildren();
    },
  };
  void context.closing.then(() => panel.dispose());
  await refresh();
  return panel;
}
