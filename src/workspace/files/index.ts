export { createFilesPanel, mountFilesPanel, type FilesPanelOptions } from "./files-panel.js";
