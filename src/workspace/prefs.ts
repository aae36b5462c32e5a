/**
 * Page preferences of the workspace (last tree, terminal font size, panel layout),
 * kept in IndexedDB through idb-keyval, typed. Shared by the shell and the panels.
 *
 *   const size = await prefs.get("terminalFontSize");
 *   await prefs.set("panelLayout", "bottom");
 *
 * The database is "worker9p-workspace" — a name `listTrees()` never mistakes for a tree.
 */
import { createStore, get, set, type UseStore } from "idb-keyval";
import type { StorageKind } from "../host/protocol.js";

export type PanelLayout = "side" | "bottom" | "hidden";

export interface WorkspacePrefs {
  /**
   * The tree opened last, reopened when the page has no ?tree= parameter and boots the same image
   * (`image` absent: "busybox", the only image before there were others).
   */
  lastTree: { name: string; storage: StorageKind; image?: string } | null;
  terminalFontSize: number;
  panelLayout: PanelLayout;
}

export const DEFAULT_PREFS: Readonly<WorkspacePrefs> = {
  lastTree: null,
  terminalFontSize: 14,
  panelLayout: "side",
};

/** Keep only values of the right shape: an old or hand-edited value falls back to the default. */
function valid<K extends keyof WorkspacePrefs>(key: K, v: unknown): v is WorkspacePrefs[K] {
  switch (key) {
    case "lastTree":
      return v === null || (typeof v === "object" && typeof (v as { name?: unknown }).name === "string" && ["opfs", "indexeddb", "memory"].includes((v as { storage?: string }).storage ?? ""));
    case "terminalFontSize":
      return typeof v === "number" && Number.isFinite(v) && v >= 6 && v <= 48;
    case "panelLayout":
      return v === "side" || v === "bottom" || v === "hidden";
    default:
      return false;
  }
}

export interface Prefs {
  get<K extends keyof WorkspacePrefs>(key: K): Promise<WorkspacePrefs[K]>;
  set<K extends keyof WorkspacePrefs>(key: K, value: WorkspacePrefs[K]): Promise<void>;
  all(): Promise<WorkspacePrefs>;
}

let store: UseStore | undefined;
const db = () => (store ??= createStore("worker9p-workspace", "prefs"));

export const prefs: Prefs = {
  async get(key) {
    try {
      const v: unknown = await get(key, db());
      return valid(key, v) ? v : DEFAULT_PREFS[key];
    } catch {
      return DEFAULT_PREFS[key]; // no IndexedDB (private mode, blocked): defaults, no failure
    }
  },
  async set(key, value) {
    if (!valid(key, value)) throw new RangeError(`invalid value for preference ${key}: ${JSON.stringify(value)}`);
    await set(key, value, db());
  },
  async all() {
    const [lastTree, terminalFontSize, panelLayout] = await Promise.all([prefs.get("lastTree"), prefs.get("terminalFontSize"), prefs.get("panelLayout")]);
    return { lastTree, terminalFontSize, panelLayout };
  },
};
