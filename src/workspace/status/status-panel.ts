/**
 * The status and care panel: which tree this is and where it lives, how much room
 * it takes and has, whether the browser may evict it (and a button to ask it not
 * to), a consistency check, a switcher between trees, page preferences, and a
 * reset that wipes the tree after a typed confirmation.
 *
 * Reset, on a plain tree, goes through 9P (everything under the root removed on
 * the panel's own session, as `rm -rf` would in the guest): the guest sees the
 * change as from any other client, and no store needs a second way to delete.
 * On a tree over a base image (the Debian root) removing files would only stack
 * whiteouts over the base; there reset is `control.reset()`, which drops the
 * user's layer, ends every session, and so reloads the page.
 */
import { listTrees } from "../../index.js";
import type { StorageKind } from "../../host/protocol.js";
import { joinPath, listNames, removeTree } from "../archive/tree9p.js";
import { formatBytes } from "../files/display-name.js";
import { injectPanelStyles } from "../files/styles.js";
import { ask, h } from "../files/ui.js";
import type { MountPanel, Panel, PanelContext } from "../panel.js";
import { prefs, type PanelLayout, type WorkspacePrefs } from "../prefs.js";

/** How often the figures refresh on their own (the ⟳ button refreshes at once). */
const REFRESH_MS = 5000;

const STORAGE_LABEL: Record<StorageKind, string> = {
  opfs: "Origin Private File System (OPFS)",
  indexeddb: "IndexedDB",
  memory: "Memory — gone when the page closes",
};

/** The URL that opens `tree` on `storage`: this page with ?tree= and ?storage= replaced, other parameters kept. */
export function treeUrl(current: string, tree: string, storage: StorageKind): string {
  const url = new URL(current);
  url.searchParams.set("tree", tree);
  url.searchParams.set("storage", storage);
  return url.toString();
}

/** A tree name the URL, IndexedDB and OPFS all accept. */
export function validTreeName(name: string): string | undefined {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return "use letters, digits, '.', '_' or '-' (up to 64), starting with a letter or digit";
  return undefined;
}

export interface StatusPanelOptions {
  /** How to open another tree (default: navigate to treeUrl(location.href, …)). */
  openTree?: (name: string, storage: StorageKind) => void;
  /** After a reset to the base image ended every session (default: reload the page). */
  afterBaseReset?: () => void;
}

const badge = (text: string, kind: "ok" | "warn" | "bad") => h("span", { class: `w9p-badge ${kind}` }, text);
const meter = (used: number, total: number) => {
  const bar = h("div", { class: "w9p-meter", role: "meter", "aria-valuemin": 0, "aria-valuemax": total, "aria-valuenow": used });
  bar.append(h("div", { style: `width:${total > 0 ? Math.min(100, (100 * used) / total).toFixed(1) : 0}%` }));
  return bar;
};

export function createStatusPanel(options: StatusPanelOptions = {}): MountPanel {
  return (element, context) => mount(element, context, options);
}

export const mountStatusPanel: MountPanel = createStatusPanel();

async function mount(element: HTMLElement, context: PanelContext, options: StatusPanelOptions): Promise<Panel> {
  injectPanelStyles(element.ownerDocument);
  const server = context.fileServer;
  const openTree = options.openTree ?? ((name: string, storage: StorageKind) => location.assign(treeUrl(location.href, name, storage)));
  let disposed = false;

  const facts = h("dl", { class: "w9p-facts", "data-role": "facts" });
  const persistBtn = h("button", { "data-role": "persist", title: "Ask the browser never to evict this site's storage" }, "Keep my data");
  const persistNote = h("p", { class: "w9p-note", "data-role": "persist-note" });
  const fsckBtn = h("button", { "data-role": "fsck" }, "Check the tree");
  const fsckResult = h("div", { "data-role": "fsck-result", "aria-live": "polite" });
  const treeSelect = h("select", { "aria-label": "Trees in this browser", "data-role": "tree-select" });
  const openBtn = h("button", { "data-role": "open-tree" }, "Open");
  const newName = h("input", { type: "text", placeholder: "new tree name", "aria-label": "New tree name", size: 14, "data-role": "new-tree-name" });
  const newStorage = h("select", { "aria-label": "Storage of the new tree" }, h("option", { value: "opfs" }, "OPFS"), h("option", { value: "indexeddb" }, "IndexedDB"), h("option", { value: "memory" }, "Memory"));
  const createBtn = h("button", { "data-role": "create-tree" }, "Create & open");
  const fontSize = h("input", { type: "number", min: 6, max: 48, step: 1, "aria-label": "Terminal font size", "data-role": "font-size", style: "width:64px" });
  const layout = h("select", { "aria-label": "Panel layout", "data-role": "layout" }, h("option", { value: "side" }, "Beside the terminal"), h("option", { value: "bottom" }, "Below the terminal"), h("option", { value: "hidden" }, "Hidden"));
  const resetBtn = h("button", { class: "danger", "data-role": "reset" }, "Erase this tree…");
  const resetNote = h("p", { class: "w9p-note" }, "Deletes every file and folder of this tree. The guest sees an empty home.");

  const root = h(
    "section",
    { class: "w9p-panel w9p-status", "aria-label": "Status and care" },
    h("div", { class: "w9p-head" }, h("h2", {}, "Status & care"), h("span", { class: "w9p-spacer" }), h("button", { class: "icon", title: "Update", "data-role": "status-refresh", onclick: () => void update() }, "⟳")),
    h(
      "div",
      { class: "w9p-status-body" },
      h("div", { class: "w9p-section" }, h("h3", {}, "This tree"), facts, h("div", { class: "w9p-row-actions" }, persistBtn), persistNote),
      h("div", { class: "w9p-section" }, h("h3", {}, "Health"), h("div", { class: "w9p-row-actions" }, fsckBtn), fsckResult),
      h(
        "div",
        { class: "w9p-section" },
        h("h3", {}, "Trees"),
        h("div", { class: "w9p-row-actions" }, treeSelect, openBtn),
        h("div", { class: "w9p-row-actions" }, newName, newStorage, createBtn),
        h("p", { class: "w9p-note" }, "Each tree is a separate home folder kept in this browser. One tab owns a tree at a time."),
      ),
      h(
        "div",
        { class: "w9p-section" },
        h("h3", {}, "Preferences"),
        h("dl", { class: "w9p-facts" }, h("dt", {}, "Terminal font size"), h("dd", {}, fontSize), h("dt", {}, "Panels"), h("dd", {}, layout)),
      ),
      h("div", { class: "w9p-section" }, h("h3", {}, "Reset"), resetNote, h("div", { class: "w9p-row-actions" }, resetBtn)),
    ),
  );
  element.replaceChildren(root);

  async function update(): Promise<void> {
    const [usage, estimate, persisted, stats, baseInfo] = await Promise.all([
      server.control.usage().catch(() => undefined),
      navigator.storage?.estimate?.().catch(() => undefined),
      navigator.storage?.persisted?.().catch(() => false) ?? Promise.resolve(false),
      server.control.stats().catch(() => undefined),
      server.control.baseStats().catch(() => undefined),
    ]);
    if (disposed) return;
    const rows: [string, Node | string][] = [
      ["Tree", h("strong", { "data-role": "tree-name" }, server.name)],
      ["Storage", h("span", { "data-role": "storage-kind", "data-kind": server.storage }, STORAGE_LABEL[server.storage])],
    ];
    if (usage) {
      // In a browser store the quota is the origin's (shown below); a memory tree has its own limit.
      const cell = h("span", { "data-role": "tree-usage" }, server.storage === "memory" ? `${formatBytes(usage.used)} of ${formatBytes(usage.quota)}` : `${formatBytes(usage.used)} used`);
      rows.push(["Tree size", cell]);
    }
    if (estimate && estimate.quota !== undefined) {
      const used = estimate.usage ?? 0;
      rows.push(["Browser storage", h("div", { "data-role": "estimate" }, `${formatBytes(used)} of ${formatBytes(estimate.quota)}`, meter(used, estimate.quota))]);
    }
    if (baseInfo) rows.push(["Base image", h("span", { "data-role": "base" }, `${formatBytes(baseInfo.fetchedBytes)} of ${formatBytes(baseInfo.imageBytes)} fetched · your changes are a layer over it`)]);
    rows.push(["Kept by the browser", persisted ? badge("persistent", "ok") : badge(server.storage === "memory" ? "not stored" : "may be evicted under pressure", "warn")]);
    if (stats) rows.push(["Sessions", `${stats.sessions} open · ${stats.requests.requests.toLocaleString()} requests served`]);
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    persistBtn.disabled = persisted || server.storage === "memory";
    persistBtn.textContent = persisted ? "Data is kept" : "Keep my data";
  }

  persistBtn.addEventListener("click", async () => {
    const granted = await server.control.persist().catch(() => false);
    persistNote.textContent = granted
      ? "The browser will keep this site's data until you delete it."
      : "The browser declined for now (it decides by how much you use this site; installing it or bookmarking it helps). Your data stays, but may be evicted if the disk runs full.";
    await update();
  });

  fsckBtn.addEventListener("click", async () => {
    fsckBtn.disabled = true;
    fsckResult.replaceChildren(h("p", { class: "w9p-note" }, "Checking…"));
    const t0 = performance.now();
    try {
      const r = await server.control.fsck();
      const ms = Math.round(performance.now() - t0);
      fsckResult.replaceChildren(
        h("p", { class: "w9p-note" }, r.ok ? badge("No problems found", "ok") : badge(`${r.problems.length} problem${r.problems.length === 1 ? "" : "s"}`, "bad"), ` · checked in ${ms} ms`),
      );
      if (!r.ok) fsckResult.append(h("ul", { class: "w9p-problems" }, ...r.problems.slice(0, 50).map((p) => h("li", {}, p))));
    } catch (e) {
      fsckResult.replaceChildren(h("p", { class: "w9p-note" }, badge("Check failed", "bad"), ` ${e instanceof Error ? e.message : String(e)}`));
    } finally {
      fsckBtn.disabled = false;
    }
  });

  async function loadTrees(): Promise<void> {
    const trees: { name: string; storage: StorageKind }[] = await listTrees().catch(() => []);
    const here = { name: server.name, storage: server.storage };
    if (!trees.some((t) => t.name === here.name && t.storage === here.storage)) trees.unshift(here);
    treeSelect.replaceChildren(
      ...trees.map((t) => {
        const o = h("option", { value: `${t.storage}:${t.name}` }, `${t.name} (${t.storage === "opfs" ? "OPFS" : t.storage === "indexeddb" ? "IndexedDB" : "memory"})`);
        o.selected = t.name === here.name && t.storage === here.storage;
        return o;
      }),
    );
  }
  openBtn.addEventListener("click", () => {
    const [storage, ...rest] = treeSelect.value.split(":");
    const name = rest.join(":");
    if (name === server.name && storage === server.storage) return context.notify("That tree is already open here.", "info");
    openTree(name, storage as StorageKind);
  });
  createBtn.addEventListener("click", () => {
    const name = newName.value.trim();
    const bad = validTreeName(name);
    if (bad) return context.notify(`Tree name: ${bad}`, "error");
    openTree(name, newStorage.value as StorageKind);
  });

  const savePref = async <K extends keyof WorkspacePrefs>(key: K, value: WorkspacePrefs[K]) => {
    try {
      await prefs.set(key, value);
      window.dispatchEvent(new CustomEvent("worker9p-prefs", { detail: { key, value } }));
    } catch (e) {
      context.notify(`Preference not saved: ${e instanceof Error ? e.message : String(e)}`, "error");
    }
  };
  fontSize.addEventListener("change", () => void savePref("terminalFontSize", Number(fontSize.value)));
  layout.addEventListener("change", () => void savePref("panelLayout", layout.value as PanelLayout));

  const base = await server.control.baseStats().catch(() => undefined);
  if (base) {
    resetBtn.textContent = "Reset to the base image…";
    resetNote.textContent =
      "Drops your changes to the system and your home (every change made over the base image) and restarts the guest; the cached base stays, so nothing is downloaded again. The page reloads.";
  }

  resetBtn.addEventListener("click", async () => {
    const typed = await ask(root, {
      title: base ? `Reset "${server.name}" to its base image?` : `Erase the tree "${server.name}"?`,
      message: `${base ? "Every change made over the base image will be dropped" : "Every file and folder in it will be deleted"}, for good. Type the tree's name (${server.name}) to confirm.`,
      input: "",
      mustType: server.name,
      confirm: base ? "Reset" : "Erase everything",
      danger: true,
    });
    if (typed !== server.name) return;
    resetBtn.disabled = true;
    if (base) {
      try {
        await server.control.reset();
        (options.afterBaseReset ?? (() => location.reload()))();
      } catch (e) {
        context.notify(`Reset failed: ${e instanceof Error ? e.message : String(e)}`, "error");
        resetBtn.disabled = false;
      }
      return;
    }
    const client = await context.openClient();
    try {
      for (const name of await listNames(client, "")) await removeTree(client, joinPath("", name));
      context.invalidateGuest?.("");
      context.notify(`The tree "${server.name}" is now empty.`, "info");
    } catch (e) {
      context.notify(`Erasing stopped: ${e instanceof Error ? e.message : String(e)}. What was already deleted stays deleted.`, "error");
    } finally {
      client.close();
      resetBtn.disabled = false;
      await update();
    }
  });

  const p = await prefs.all();
  fontSize.value = String(p.terminalFontSize);
  layout.value = p.panelLayout;
  // The last tree is the shell's to remember (main.ts), with the image it boots: not written here.
  await Promise.all([update(), loadTrees()]);

  // What changes while the guest runs (usage, sessions, the base image fetched) is shown fresh:
  // the panel starts before the guest boots, and a figure frozen at that moment misleads.
  const refresh = setInterval(() => void update().catch(() => {}), REFRESH_MS);
  const panel: Panel & { update(): Promise<void> } = {
    update,
    dispose() {
      disposed = true;
      clearInterval(refresh);
      element.replaceChildren();
    },
  };
  void context.closing.then(() => panel.dispose());
  return panel;
}
