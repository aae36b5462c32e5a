export { ArchiveError, type ArchiveFailureKind, entryComponents, symlinkStaysInside } from "./entry-path.js";
export { importEntries, importFailure, STAGING_PREFIX, type ImportEntry, type ImportOptions, type ImportProgress, type ImportResult } from "./import.js";
export { tarEntries, isGzip } from "./tar-source.js";
export { exportTree, listChildren, measureTree, type ExportMeter, type ExportOptions, type ExportProgress } from "./export.js";
export { isTransientName, joinPath, kindOf, removeTree, STAGING_PREFIX as STAGING_FOLDER_PREFIX, UPLOAD_PREFIX } from "./tree9p.js";
export { benchArchive, formatArchiveBench, type ArchiveBenchOptions, type ArchiveBenchRow } from "./bench.js";
