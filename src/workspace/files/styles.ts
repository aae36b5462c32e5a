/**
 * The panels' look, injected once per document as a <style>: no CSS pipeline is
 * needed wherever the panels are embedded. Everything is scoped under `.w9p-panel`
 * and driven by custom properties, so a host page can retheme it.
 */
const CSS = `
.w9p-panel {
  --w9p-bg: #0f172a; --w9p-surface: #111c33; --w9p-raised: #18243d; --w9p-line: #24324d;
  --w9p-text: #e2e8f0; --w9p-muted: #94a3b8; --w9p-accent: #60a5fa; --w9p-accent-strong: #3b82f6;
  --w9p-danger: #f87171; --w9p-ok: #4ade80; --w9p-warn: #fbbf24; --w9p-radius: 8px;
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif;
  color: var(--w9p-text); background: var(--w9p-bg); box-sizing: border-box;
  display: flex; flex-direction: column; min-height: 0; height: 100%; overflow: hidden;
}
.w9p-panel *, .w9p-panel *::before, .w9p-panel *::after { box-sizing: inherit; }
.w9p-panel button, .w9p-dialog button {
  font: inherit; color: var(--w9p-text); background: var(--w9p-raised); border: 1px solid var(--w9p-line);
  border-radius: 6px; padding: 4px 10px; cursor: pointer; white-space: nowrap;
}
.w9p-panel button:hover:not(:disabled), .w9p-dialog button:hover:not(:disabled) { border-color: var(--w9p-accent); }
.w9p-panel button:disabled, .w9p-dialog button:disabled { opacity: .45; cursor: default; }
.w9p-panel button.primary, .w9p-dialog button.primary { background: var(--w9p-accent-strong); border-color: var(--w9p-accent-strong); color: #fff; }
.w9p-panel button.danger, .w9p-dialog button.danger { color: var(--w9p-danger); }
.w9p-dialog button.danger.primary { background: #b91c1c; border-color: #b91c1c; color: #fff; }
.w9p-panel button.icon { padding: 2px 7px; background: transparent; border-color: transparent; color: var(--w9p-muted); }
.w9p-panel button.icon:hover { color: var(--w9p-text); border-color: var(--w9p-line); }
.w9p-panel input, .w9p-panel select, .w9p-dialog input {
  font: inherit; color: var(--w9p-text); background: var(--w9p-bg); border: 1px solid var(--w9p-line);
  border-radius: 6px; padding: 4px 8px;
}
.w9p-head { display: flex; align-items: center; gap: 8px; padding: 8px 10px; border-bottom: 1px solid var(--w9p-line); background: var(--w9p-surface); }
.w9p-head h2 { font-size: 13px; font-weight: 600; margin: 0; letter-spacing: .02em; }
.w9p-spacer { flex: 1; }
.w9p-toolbar { display: flex; flex-wrap: wrap; gap: 6px; padding: 6px 10px; border-bottom: 1px solid var(--w9p-line); }
.w9p-crumbs { display: flex; align-items: center; gap: 2px; min-width: 0; overflow: hidden; font-size: 13px; }
.w9p-crumbs button { background: transparent; border: 1px solid transparent; padding: 1px 5px; color: var(--w9p-accent); }
.w9p-crumbs button:last-child { color: var(--w9p-text); font-weight: 600; }
.w9p-crumbs .sep { color: var(--w9p-muted); }
.w9p-files { container-type: inline-size; }
.w9p-files-body { flex: 1; display: flex; min-height: 0; }
.w9p-list { flex: 1; overflow: auto; min-width: 0; position: relative; outline: none; }
.w9p-list.drop-target, .w9p-row.drop-target { box-shadow: inset 0 0 0 2px var(--w9p-accent); background: rgba(96,165,250,.08); }
.w9p-table { width: 100%; border-collapse: collapse; table-layout: fixed; }
.w9p-table th { position: sticky; top: 0; background: var(--w9p-bg); color: var(--w9p-muted); font-weight: 500; text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--w9p-line); font-size: 12px; }
.w9p-table td { padding: 5px 10px; border-bottom: 1px solid rgba(36,50,77,.5); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.w9p-table th.size, .w9p-table td.size { text-align: right; width: 84px; font-variant-numeric: tabular-nums; }
.w9p-table th.mtime, .w9p-table td.mtime { width: 140px; color: var(--w9p-muted); font-variant-numeric: tabular-nums; }
.w9p-table th.actions, .w9p-table td.actions { width: 118px; text-align: right; }
.w9p-row { cursor: default; }
.w9p-row:hover { background: var(--w9p-surface); }
.w9p-row.selected { background: rgba(59,130,246,.18); }
.w9p-row .name { display: flex; align-items: center; gap: 7px; overflow: hidden; }
.w9p-row .name span.label { overflow: hidden; text-overflow: ellipsis; }
.w9p-row .kind { width: 16px; text-align: center; flex: none; color: var(--w9p-muted); }
.w9p-row.dir .kind { color: var(--w9p-warn); }
.w9p-row.dir .label { font-weight: 500; }
.w9p-row .target { color: var(--w9p-muted); }
.w9p-row td.actions button { visibility: hidden; }
.w9p-row:hover td.actions button, .w9p-row.selected td.actions button { visibility: visible; }
.w9p-empty { padding: 28px 16px; text-align: center; color: var(--w9p-muted); }
.w9p-empty strong { display: block; color: var(--w9p-text); font-weight: 500; margin-bottom: 4px; }
.w9p-preview { width: 38%; max-width: 480px; min-width: 220px; border-left: 1px solid var(--w9p-line); display: flex; flex-direction: column; min-height: 0; background: var(--w9p-surface); }
.w9p-preview[hidden] { display: none; }
.w9p-preview .w9p-head { background: transparent; }
.w9p-preview .title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.w9p-preview .meta { color: var(--w9p-muted); font-size: 12px; padding: 6px 10px 0; }
.w9p-preview .content { flex: 1; overflow: auto; padding: 10px; }
.w9p-preview pre { margin: 0; font: 12px/1.5 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; white-space: pre-wrap; word-break: break-all; }
.w9p-preview img { max-width: 100%; height: auto; display: block; margin: 0 auto; background: repeating-conic-gradient(#1e293b 0 25%, #0f172a 0 50%) 0 0/16px 16px; border-radius: 4px; }
.w9p-jobs { border-top: 1px solid var(--w9p-line); background: var(--w9p-surface); max-height: 40%; overflow: auto; }
.w9p-jobs:empty { display: none; }
.w9p-job { display: grid; grid-template-columns: 1fr auto; gap: 2px 10px; padding: 7px 10px; border-bottom: 1px solid var(--w9p-line); align-items: center; }
.w9p-job .what { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.w9p-job .detail { grid-column: 1 / 2; color: var(--w9p-muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.w9p-job progress { grid-column: 1 / 3; width: 100%; height: 6px; appearance: none; border: 0; border-radius: 3px; background: var(--w9p-line); overflow: hidden; }
.w9p-job progress::-webkit-progress-bar { background: var(--w9p-line); border-radius: 3px; }
.w9p-job progress::-webkit-progress-value { background: var(--w9p-accent); border-radius: 3px; }
.w9p-job.done progress::-webkit-progress-value { background: var(--w9p-ok); }
.w9p-job.failed .detail { color: var(--w9p-danger); }
.w9p-job.failed progress::-webkit-progress-value { background: var(--w9p-danger); }
.w9p-status-body { flex: 1; min-height: 0; overflow: auto; padding: 4px 0 12px; }
.w9p-section { padding: 10px 12px; border-bottom: 1px solid var(--w9p-line); }
.w9p-section h3 { margin: 0 0 8px; font-size: 11px; text-transform: uppercase; letter-spacing: .08em; color: var(--w9p-muted); font-weight: 600; }
.w9p-facts { display: grid; grid-template-columns: max-content 1fr; gap: 5px 14px; margin: 0; }
.w9p-facts dt { color: var(--w9p-muted); }
.w9p-facts dd { margin: 0; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.w9p-meter { height: 6px; border-radius: 3px; background: var(--w9p-line); overflow: hidden; margin-top: 4px; max-width: 260px; }
.w9p-meter > div { height: 100%; background: var(--w9p-accent); }
.w9p-badge { display: inline-block; padding: 0 7px; border-radius: 999px; font-size: 12px; border: 1px solid var(--w9p-line); }
.w9p-badge.ok { color: var(--w9p-ok); border-color: rgba(74,222,128,.4); }
.w9p-badge.warn { color: var(--w9p-warn); border-color: rgba(251,191,36,.4); }
.w9p-badge.bad { color: var(--w9p-danger); border-color: rgba(248,113,113,.4); }
.w9p-row-actions { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-top: 8px; }
.w9p-note { color: var(--w9p-muted); font-size: 12px; margin: 6px 0 0; }
.w9p-problems { margin: 6px 0 0; padding-left: 18px; color: var(--w9p-danger); font-size: 12px; }
/* A narrow sidebar: the preview goes under the list, and the time column goes first. */
@container (max-width: 820px) {
  .w9p-files-body { flex-direction: column; }
  .w9p-preview { width: auto; max-width: none; min-width: 0; height: 45%; flex: none; border-left: 0; border-top: 1px solid var(--w9p-line); }
}
@container (max-width: 560px) {
  .w9p-table th.mtime, .w9p-table td.mtime { display: none; }
  .w9p-table th.actions, .w9p-table td.actions { width: 112px; padding-right: 6px; }
}
.w9p-dialog { border: 1px solid var(--w9p-line, #24324d); border-radius: 10px; padding: 0; background: #111c33; color: #e2e8f0; width: min(420px, 92vw);
  font: 13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", sans-serif; box-shadow: 0 20px 50px rgba(0,0,0,.5); }
.w9p-dialog::backdrop { background: rgba(2,6,23,.6); }
.w9p-dialog form { padding: 16px; display: flex; flex-direction: column; gap: 12px; margin: 0; }
.w9p-dialog h3 { margin: 0; font-size: 15px; }
.w9p-dialog p { margin: 0; color: #94a3b8; }
.w9p-dialog input { font: inherit; color: #e2e8f0; background: #0f172a; border: 1px solid #24324d; border-radius: 6px; padding: 6px 8px; width: 100%; }
.w9p-dialog .buttons { display: flex; justify-content: flex-end; gap: 8px; }
.w9p-dialog button { background: #18243d; color: #e2e8f0; border: 1px solid #24324d; }
`;

const STYLE_ID = "worker9p-panels-style";

export function injectPanelStyles(doc: Document = document): void {
  if (doc.getElementById(STYLE_ID)) return;
  const style = doc.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  doc.head.appendChild(style);
}
