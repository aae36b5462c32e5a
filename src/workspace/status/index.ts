export { createStatusPanel, mountStatusPanel, treeUrl, validTreeName, type StatusPanelOptions } from "./status-panel.js";
