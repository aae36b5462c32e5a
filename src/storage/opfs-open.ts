/**
 * Opening an OPFS store's parts (opfs.ts): its IndexedDB checkpoint's
 * format and high-water mark, the two sync access handles (invariant 10)
 * and the journal since the last checkpoint, read back as invariant 12
 * says. What a crash left behind is repaired by the store once it holds
 * them (replay, tail truncation, barrier: invariants 3, 6, 11).
 */
import { deleteDB } from "idb";
import { openFormat, openWorkerDb, type FormatRecord, type WorkerDb } from "./indexeddb-common.js";
import { Journal, type JournalEntry } from "./opfs-journal.js";
import { DATA_FILE, JOURNAL_FILE, acquireHandle, removeStoreDirectory, storeDirectory, type SyncAccessHandle, type SyncFileHandle } from "./opfs-files.js";
import { OPFS_DEFAULT_CHUNK_SIZE, type OpfsOpenInfo, type OpfsStoreOptions } from "./opfs-options.js";

export function opfsStoreDbName(name: string): string {
  return `worker9p-opfs:${name}`;
}

export interface OpenedParts {
  db: WorkerDb;
  format: FormatRecord;
  /** The checkpoint's high-water mark. */
  hwm: number;
  handle: SyncAccessHandle;
  journal: Journal;
  /** Journal records the checkpoint does not hold yet, to replay. */
  records: JournalEntry[];
  info: OpfsOpenInfo;
  /** Close the handles and the database (the open failed after this). */
  release(): void;
}

/** Open the checkpoint database, the data file and the journal of store `name` (creating them). */
export async function openParts(name: string, options: OpfsStoreOptions, onVersionChange: () => void): Promise<OpenedParts> {
  const db = await openWorkerDb(opfsStoreDbName(name), true, onVersionChange);
  const handles: SyncAccessHandle[] = [];
  const release = (): void => {
    for (const h of handles) h.close();
    db.close();
  };
  try {
    const tx = db.transaction("internal", "readwrite");
    const format = await openFormat(tx, name, "opfs", options.chunkSize ?? OPFS_DEFAULT_CHUNK_SIZE);
    let hwm = (await tx.store.get("hwm")) as number | undefined;
    if (hwm === undefined) {
      hwm = 0;
      await tx.store.put(0, "hwm");
    }
    const checkpointSeq = ((await tx.store.get("journalSeq")) as number | undefined) ?? 0;
    await tx.done;
    const dir = await storeDirectory(name, true);
    const budget = options.handleRetryMs ?? 5000;
    const onRetry = options.debugHooks?.onHandleRetry;
    const data = await acquireHandle((await dir.getFileHandle(DATA_FILE, { create: true })) as unknown as SyncFileHandle, budget, onRetry);
    handles.push(data.handle);
    const jh = await acquireHandle((await dir.getFileHandle(JOURNAL_FILE, { create: true })) as unknown as SyncFileHandle, budget, onRetry);
    handles.push(jh.handle);
    // Replay what the checkpoint does not hold yet (a damaged record in the middle throws here).
    const { journal, scan } = Journal.open(jh.handle, checkpointSeq);
    const info: OpfsOpenInfo = {
      reclaimedBytes: 0,
      trimmedSlots: 0,
      handleRetries: data.retries + jh.retries,
      replayedRecords: scan.records.length,
      tornJournalTail: scan.tornTail,
      ms: 0,
    };
    return { db, format, hwm, handle: data.handle, journal, records: scan.records, info, release };
  } catch (e) {
    release();
    throw e;
  }
}

/** Delete a store's metadata and data (it must not be open). */
export async function destroyStore(name: string): Promise<void> {
  await deleteDB(opfsStoreDbName(name));
  await removeStoreDirectory(name);
}
