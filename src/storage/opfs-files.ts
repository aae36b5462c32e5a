/**
 * The OPFS store's files: where they live, and their synchronous access
 * handles, which are exclusive and so double as a cross-context lock
 * (invariant 10, opfs.ts).
 */
// The project compiles against the DOM lib, which lacks the worker-only OPFS
// sync access handle; this is the part of it used here.
export interface SyncAccessHandle {
  read(buffer: ArrayBufferView, options?: { at?: number }): number;
  write(buffer: ArrayBufferView, options?: { at?: number }): number;
  truncate(newSize: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
export interface SyncFileHandle {
  createSyncAccessHandle(): Promise<SyncAccessHandle>;
}

const ROOT_DIR = "worker9p";
export const DATA_FILE = "data";
export const JOURNAL_FILE = "journal";

/**
 * OPFS refuses some directory names ("", "..", anything with "/") that are
 * fine tree names (IndexedDB takes any string): encode, with a prefix so the
 * result is never empty or a dot name.
 */
export function opfsDirectoryName(name: string): string {
  return `tree-${encodeURIComponent(name).replace(/\./g, "%2E")}`;
}

export async function storeDirectory(name: string, create: boolean): Promise<FileSystemDirectoryHandle> {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle(ROOT_DIR, { create });
  return top.getDirectoryHandle(opfsDirectoryName(name), { create });
}

/**
 * After a reload the previous page's worker releases its handle
 * asynchronously: retry NoModificationAllowedError with a bounded backoff.
 */
export async function acquireHandle(
  file: SyncFileHandle,
  budgetMs: number,
  onRetry?: (retries: number) => void,
): Promise<{ handle: SyncAccessHandle; retries: number }> {
  const deadline = performance.now() + budgetMs;
  let delay = 5;
  for (let retries = 0; ; retries++) {
    try {
      return { handle: await file.createSyncAccessHandle(), retries };
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name !== "NoModificationAllowedError" || performance.now() + delay > deadline) {
        if (name === "NoModificationAllowedError") {
          throw new Error(`OPFS data file is still held by another context after ${budgetMs} ms (is the store open in another tab or worker?)`);
        }
        throw e;
      }
      onRetry?.(retries);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 250);
    }
  }
}

/** Remove a store's OPFS directory (data file and journal), if there is one. */
export async function removeStoreDirectory(name: string): Promise<void> {
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle(ROOT_DIR, { create: true });
  await top.removeEntry(opfsDirectoryName(name), { recursive: true }).catch((e: unknown) => {
    if ((e as { name?: string }).name !== "NotFoundError") throw e;
  });
}
