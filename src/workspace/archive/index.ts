export { ArchiveError, type ArchiveFailureKind, entryComponents, symlinkStaysInside } from "./entry-path.js";
export { importEntries, importFailure, STAGING_PREFIX, type ImportEntry, type ImportOptions, type ImportProgress, type ImportResult } from "./import.js";
export { tarEntries, isGzip } from "./tar-source.js";
export { exportTree, measureTree, type ExportMeter, type ExportOptions, type ExportProgress } from "./export.js";
