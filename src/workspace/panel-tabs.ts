/**
 * The panels in one sidebar: a tab bar (Files · Status & care) over the panels,
 * each mounted on first view and kept mounted (its session, its transfers)
 * while another tab shows. For the shell: one call where the sidebar goes.
 *
 *   const panels = await mountPanelTabs(sidebar, context);   // a Panel
 */
import { mountFilesPanel } from "./files/files-panel.js";
import { injectPanelStyles } from "./files/styles.js";
import { h } from "./files/ui.js";
import type { MountPanel, Panel, PanelContext } from "./panel.js";
import { mountStatusPanel } from "./status/status-panel.js";

export interface PanelTab {
  id: string;
  label: string;
  mount: MountPanel;
}

export const DEFAULT_TABS: readonly PanelTab[] = [
  { id: "files", label: "Files", mount: mountFilesPanel },
  { id: "status", label: "Status & care", mount: mountStatusPanel },
];

const TAB_CSS = `
.w9p-tabs { display: flex; flex-direction: column; height: 100%; min-height: 0; background: #0f172a; }
.w9p-tabbar { display: flex; gap: 2px; padding: 6px 8px 0; border-bottom: 1px solid #24324d; background: #0b1222; }
.w9p-tabbar button { font: 13px system-ui, "DejaVu Sans", sans-serif; color: #94a3b8; background: transparent; border: 1px solid transparent; border-bottom: 0; border-radius: 6px 6px 0 0; padding: 6px 12px; cursor: pointer; }
.w9p-tabbar button[aria-selected="true"] { color: #e2e8f0; background: #0f172a; border-color: #24324d; margin-bottom: -1px; }
.w9p-tabpanes { flex: 1; min-height: 0; position: relative; }
.w9p-tabpanes > div { position: absolute; inset: 0; }
`;

export async function mountPanelTabs(element: HTMLElement, context: PanelContext, tabs: readonly PanelTab[] = DEFAULT_TABS, initial = tabs[0]?.id): Promise<Panel & { show(id: string): Promise<void> }> {
  injectPanelStyles(element.ownerDocument);
  if (!element.ownerDocument.getElementById("worker9p-panel-tabs-style")) {
    element.ownerDocument.head.append(h("style", { id: "worker9p-panel-tabs-style" }, TAB_CSS));
  }
  const bar = h("div", { class: "w9p-tabbar", role: "tablist" });
  const panes = h("div", { class: "w9p-tabpanes" });
  element.replaceChildren(h("div", { class: "w9p-tabs" }, bar, panes));
  const mounted = new Map<string, Promise<Panel>>();
  const buttons = new Map<string, HTMLButtonElement>();
  const paneOf = new Map<string, HTMLElement>();

  async function show(id: string): Promise<void> {
    const tab = tabs.find((t) => t.id === id);
    if (!tab) throw new RangeError(`no panel tab "${id}"`);
    for (const [tid, b] of buttons) b.setAttribute("aria-selected", String(tid === id));
    for (const [tid, p] of paneOf) p.hidden = tid !== id;
    if (!mounted.has(id)) mounted.set(id, Promise.resolve(tab.mount(paneOf.get(id)!, context)));
    try {
      await mounted.get(id);
    } catch (e) {
      mounted.delete(id);
      context.notify(`The ${tab.label} panel could not start: ${e instanceof Error ? e.message : String(e)}`, "error");
    }
  }

  for (const t of tabs) {
    const b = h("button", { role: "tab", "data-tab": t.id, "aria-selected": "false", onclick: () => void show(t.id) }, t.label);
    const pane = h("div", { role: "tabpanel", "data-pane": t.id, hidden: true });
    buttons.set(t.id, b);
    paneOf.set(t.id, pane);
    bar.append(b);
    panes.append(pane);
  }
  if (initial) await show(initial);

  return {
    show,
    async dispose() {
      for (const p of mounted.values()) await (await p.catch(() => undefined))?.dispose();
      mounted.clear();
      element.replaceChildren();
    },
  };
}
